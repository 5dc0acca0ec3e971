"""boto3 clients with standard retries (throttling backs off, then raises); nothing built at import."""

from __future__ import annotations

from typing import Any

DEFAULT_MAX_ATTEMPTS = 6


def aws_client(service: str, *, region: str | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts}, connect_timeout=5, read_timeout=30
    )
    # boto3 honours AWS_ENDPOINT_URL, which is how tests and the demo reach moto's server.
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]
