"""Side effects of the approvals capability: the queue, Slack's response_url, and digest messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costguard.approvals.model import Job

RESPONSE_URL_TIMEOUT = 2  # seconds: the endpoint must answer Slack within 3


@dataclass
class SqsQueue:
    client: Any  # boto3 SQS client
    url: str

    def send(self, job: Job) -> None:
        self.client.send_message(QueueUrl=self.url, MessageBody=job.model_dump_json())


class WebhookResponder:
    """Ephemeral answers through the click's response_url (slack_sdk's WebhookClient, one quick retry)."""

    def ephemeral(self, response_url: str, text: str) -> None:
        from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
        from slack_sdk.webhook import WebhookClient

        client = WebhookClient(
            response_url,
            timeout=RESPONSE_URL_TIMEOUT,
            retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
        )
        response = client.send(text=text, response_type="ephemeral", replace_original=False)
        if response.status_code >= 300:
            raise RuntimeError(f"Slack refused the response_url post ({response.status_code})")


@dataclass
class SlackMessages:
    client: Any  # slack_sdk.WebClient built by make_slack_client

    def get(self, channel: str, ts: str) -> tuple[str, list[dict[str, Any]]] | None:
        response = self.client.conversations_history(channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1)
        for m in response.get("messages") or []:
            if m.get("ts") == ts:
                return str(m.get("text") or ""), list(m.get("blocks") or [])
        return None

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def reply(self, channel: str, thread_ts: str, text: str) -> str:
        response = self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, unfurl_links=False, unfurl_media=False
        )
        return str(response["ts"])
