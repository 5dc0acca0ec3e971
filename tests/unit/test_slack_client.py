"""make_slack_client wires slack_sdk's retry handlers and a bounded timeout; it makes no network call."""

from __future__ import annotations

import pytest
from costguard.adapters.slack_client import TIMEOUT_SECONDS, make_slack_client
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)


def test_client_retries_rate_limits_server_errors_and_dropped_connections() -> None:
    client = make_slack_client("xoxb-1", base_url="http://127.0.0.1:9/api", max_retries=4)

    assert {type(h) for h in client.retry_handlers} == {
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
        ConnectionErrorRetryHandler,
    }
    assert all(h.max_retry_count == 4 for h in client.retry_handlers)
    assert client.timeout == TIMEOUT_SECONDS <= 15
    assert client.base_url == "http://127.0.0.1:9/api/"


def test_default_base_url_is_slack() -> None:
    assert make_slack_client("xoxb-1").base_url == "https://slack.com/api/"


@pytest.mark.parametrize(("token", "retries"), [("", 3), ("xoxb-1", -1)])
def test_refuses_empty_token_and_negative_retries(token: str, retries: int) -> None:
    with pytest.raises(ValueError, match=r"token|max_retries"):
        make_slack_client(token, max_retries=retries)
