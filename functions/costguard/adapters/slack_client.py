"""The one place a Slack WebClient is built: slack_sdk's own retries, a bounded timeout, nothing at import."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

# Slack answers in well under a second; 10 s bounds a hung call so retries still fit the Lambda timeout.
TIMEOUT_SECONDS = 10


def secure_parameter(name: str) -> str:
    """A SecureString (the bot token, the signing secret) via Powertools Parameters: decrypted, cached for
    5 minutes across warm invocations, never logged."""
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(name, decrypt=True, max_age=300))


def make_slack_client(token: str, *, base_url: str | None = None, max_retries: int = 3) -> WebClient:
    """A WebClient that retries 429 (after Retry-After), 500/503 and dropped connections `max_retries` times.

    When Slack still fails, the call raises (SlackApiError, or OSError for the network): callers let it
    propagate so the invocation fails and Lambda's retries and alarms see it.
    """
    if not token:
        raise ValueError("Slack bot token is empty")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    handlers = [
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries),
        ConnectionErrorRetryHandler(max_retry_count=max_retries),
    ]
    if base_url is None:
        return WebClient(token=token, timeout=TIMEOUT_SECONDS, retry_handlers=handlers)
    return WebClient(token=token, base_url=base_url, timeout=TIMEOUT_SECONDS, retry_handlers=handlers)
