"""X-Ray tracing through Powertools Tracer, only when it is switched on.

Building a Tracer imports aws_xray_sdk (~0.17 s of cold start) even when POWERTOOLS_TRACER_DISABLED is true,
so the decision is made at the first invocation and a disabled tracer costs nothing."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACER_DISABLED", "false").strip().lower() not in ("true", "1")


def traced(handler: Handler) -> Handler:
    chosen: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        if not chosen:
            if tracing_enabled():
                from aws_lambda_powertools import Tracer

                chosen.append(Tracer().capture_lambda_handler(handler, capture_response=False))
            else:
                chosen.append(handler)
        return chosen[0](event, context)

    return run  # type: ignore[return-value]
