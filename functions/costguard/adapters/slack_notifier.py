"""Posts to Slack through an injected WebClient; any failure raises (SlackApiError or a connection error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Notifier(Protocol):
    def post(self, channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None) -> str: ...


@dataclass
class SlackNotifier:
    client: Any  # slack_sdk.WebClient built by make_slack_client

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None) -> str:
        response = self.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])
