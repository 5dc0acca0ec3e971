"""The Slack stand-in, driven by the real slack_sdk WebClient that make_slack_client builds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from costguard.adapters.slack_client import make_slack_client
from costguard_local.standins.slack import SlackStandIn
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

pytestmark = pytest.mark.functional

TOKEN = "xoxb-test-token-1234"
CHANNEL = "C0ALERTS"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(tokens={TOKEN}, channels=[CHANNEL], retry_after=0, signing_secret=SECRET) as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return make_slack_client(TOKEN, base_url=slack.base_url, max_retries=2)


def button(action_id: str, text: str = "Approve", value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }


def test_post_is_recorded_and_answered_like_slack(slack: SlackStandIn, client: WebClient) -> None:
    resp = client.chat_postMessage(channel=CHANNEL, text="EC2 spend spiked", blocks=[SectionBlock(text="*EC2*")])

    assert resp["ok"] and resp["channel"] == CHANNEL and resp["ts"] == "1700000000.000100"
    [msg] = slack.messages
    assert (msg.channel, msg.ts, msg.text, msg.thread_ts) == (CHANNEL, resp["ts"], "EC2 spend spiked", None)
    assert msg.blocks[0]["text"] == {"type": "mrkdwn", "text": "*EC2*"} and msg.blocks[0]["block_id"]
    assert resp["message"]["blocks"] == msg.blocks
    [call] = slack.calls
    assert call.method == "chat.postMessage" and call.error is None
    assert TOKEN not in repr(slack.calls) and "token" not in call.params


def test_form_encoded_body_with_blocks_as_json_string(slack: SlackStandIn, client: WebClient) -> None:
    blocks = json.dumps([{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}])
    client.api_call("chat.postMessage", params={"channel": CHANNEL, "text": "form", "blocks": blocks})

    assert [b["type"] for b in slack.messages[0].blocks] == ["divider", "section"]


@pytest.mark.parametrize(
    ("token", "channel", "error"),
    [("xoxb-wrong", CHANNEL, "invalid_auth"), (TOKEN, "C0UNKNOWN", "channel_not_found")],
)
def test_refuses_bad_token_and_unknown_channel(slack: SlackStandIn, token: str, channel: str, error: str) -> None:
    with pytest.raises(SlackApiError) as exc:
        make_slack_client(token, base_url=slack.base_url).chat_postMessage(channel=channel, text="x")

    assert exc.value.response.status_code == 200 and exc.value.response["error"] == error
    assert slack.messages == [] and slack.calls[0].error == error


def _section(i: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"row {i}"}}


TOO_LONG = "must be less than"
TOO_MANY = "no more than"
# name -> (blocks, what Slack's message must say about them)
MALFORMED: dict[str, tuple[list[dict[str, Any]], str]] = {
    "header too long": ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], TOO_LONG),
    "header with mrkdwn": ([{"type": "header", "text": {"type": "mrkdwn", "text": "*x*"}}], "plain_text"),
    "51 blocks": ([_section(i) for i in range(51)], TOO_MANY),
    "unknown block type": (
        [{"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}],
        "unsupported type",
    ),
    "duplicate action_id": (
        [{"type": "actions", "elements": [button("approve"), button("approve", "Deny")]}],
        "action_id must be unique",
    ),
    "duplicate block_id": ([{**_section(1), "block_id": "b"}, {**_section(2), "block_id": "b"}], "unique"),
    "section text too long": (
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        TOO_LONG,
    ),
    "11 fields": ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], TOO_MANY),
    "field too long": ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], TOO_LONG),
    "section without text": ([{"type": "section"}], "must provide text or fields"),
    "button text too long": ([{"type": "actions", "elements": [button("a", text="x" * 76)]}], TOO_LONG),
    "button value too long": ([{"type": "actions", "elements": [button("a", value="x" * 2001)]}], TOO_LONG),
    "26 actions": ([{"type": "actions", "elements": [button(f"a{i}") for i in range(26)]}], TOO_MANY),
    "11 context elements": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        TOO_MANY,
    ),
    "image without alt_text": ([{"type": "image", "image_url": "https://example.com/a.png"}], "alt_text"),
    "typo in a field name": ([{"type": "section", "txt": {"type": "mrkdwn", "text": "x"}}], "property: txt"),
}


@pytest.mark.parametrize(("blocks", "says"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_block_kit_is_invalid_blocks(
    slack: SlackStandIn, client: WebClient, blocks: list[dict[str, Any]], says: str
) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=CHANNEL, text="fallback", blocks=blocks)

    assert exc.value.response["error"] == "invalid_blocks"
    messages = exc.value.response["response_metadata"]["messages"]
    assert messages[0].startswith("[ERROR] ") and says in messages[0] and "[json-pointer:/blocks" in messages[0]
    assert slack.messages == []


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(("text", "error"), [("", "no_text"), ("x" * 40_001, "msg_too_long")])
def test_refuses_empty_and_overlong_text(slack: SlackStandIn, client: WebClient, text: str, error: str) -> None:
    with pytest.raises(SlackApiError, match=error):
        client.chat_postMessage(channel=CHANNEL, text=text)


def test_block_kit_built_with_slack_sdk_models_is_accepted(slack: SlackStandIn, client: WebClient) -> None:
    blocks = [
        HeaderBlock(text="x" * 150),
        SectionBlock(fields=[MarkdownTextObject(text=f"*{i}*") for i in range(10)]),
        SectionBlock(text="y" * 3000, accessory=ButtonElement(text="Open", action_id="open", url="https://x.io")),
        ContextBlock(elements=[MarkdownTextObject(text="c")] * 10),
        DividerBlock(),
        ImageBlock(image_url="https://example.com/chart.png", alt_text="chart"),
        ActionsBlock(
            elements=[
                ButtonElement(text="Stop it", action_id="stop", value="i-123", style="danger"),
                ButtonElement(text="Keep", action_id="keep", value="i-123"),
            ]
        ),
    ]
    client.chat_postMessage(channel=CHANNEL, text="alert", blocks=blocks + [DividerBlock()] * 43)

    assert len(slack.messages[0].blocks) == 50


def test_threads_updates_and_reads_back(slack: SlackStandIn, client: WebClient) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="spike")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="still growing", thread_ts=root)["ts"]
    loud = client.chat_postMessage(channel=CHANNEL, text="back to normal", thread_ts=reply, reply_broadcast=True)
    client.chat_update(channel=CHANNEL, ts=root, text="spike (resolved)", blocks=[DividerBlock()])

    assert float(root) < float(reply) < float(loud["ts"])
    assert [m.text for m in slack.thread(CHANNEL, root)] == [
        "spike (resolved)",
        "still growing",
        "back to normal",
    ]
    assert loud["message"]["thread_ts"] == root  # a reply to a reply joins the root's thread
    assert slack.messages[0].updated == [{"text": "spike", "blocks": []}]
    replies = client.conversations_replies(channel=CHANNEL, ts=root)["messages"]
    assert [m["ts"] for m in replies] == [root, reply, loud["ts"]] and replies[0]["reply_count"] == 2
    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["back to normal", "spike (resolved)"]
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_update(channel=CHANNEL, ts="1.000000", text="nope")


def test_lookups(slack: SlackStandIn, client: WebClient) -> None:
    slack.usergroups["S0FINOPS"] = ["U1", "U2"]

    assert client.auth_test()["user_id"] == slack.bot_user_id
    assert client.usergroups_users_list(usergroup="S0FINOPS")["users"] == ["U1", "U2"]
    assert client.users_info(user="U1")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError, match="no_such_subteam"):
        client.usergroups_users_list(usergroup="S0NONE")


@pytest.mark.parametrize("failure", ["ratelimited", "http_500", "connection"])
def test_transient_failure_is_retried_and_posted_once(slack: SlackStandIn, client: WebClient, failure: str) -> None:
    slack.fail_next(1, failure)  # type: ignore[arg-type]

    client.chat_postMessage(channel=CHANNEL, text="spike")

    assert [m.text for m in slack.messages] == ["spike"]
    assert [c.error for c in slack.calls_to("chat.postMessage")] == [failure, None]


def test_without_retry_handlers_a_429_is_an_error(slack: SlackStandIn) -> None:
    slack.fail_next(1, "ratelimited")

    with pytest.raises(SlackApiError, match="ratelimited"):
        WebClient(token=TOKEN, base_url=slack.base_url).chat_postMessage(channel=CHANNEL, text="x")


def test_outage_raises_after_retries(slack: SlackStandIn) -> None:
    client = make_slack_client(TOKEN, base_url=slack.base_url, max_retries=1)
    slack.down()

    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=CHANNEL, text="spike")
    assert exc.value.response.status_code == 503 and slack.messages == []
    assert [c.error for c in slack.calls] == ["service_unavailable"] * 2  # first try + 1 retry

    slack.reset()
    slack.fail_next(5, "connection")
    with pytest.raises(OSError):  # RemoteDisconnected or URLError, never silence
        client.chat_postMessage(channel=CHANNEL, text="spike")
    assert [c.error for c in slack.calls] == ["connection"] * 2 and slack.messages == []


class _Receiver(BaseHTTPRequestHandler):
    """The app's interactivity endpoint: keeps the raw request for the test to verify."""

    seen: list[tuple[dict[str, str], str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.seen.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.seen = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slack/interactions", _Receiver.seen
    server.shutdown()
    server.server_close()


def test_interaction_is_signed_like_slack_and_response_url_works(
    slack: SlackStandIn, client: WebClient, receiver: tuple[str, list[tuple[dict[str, str], str]]]
) -> None:
    url, seen = receiver
    blocks = [ActionsBlock(block_id="act", elements=[ButtonElement(text="Stop", action_id="stop", value="i-1")])]
    client.chat_postMessage(channel=CHANNEL, text="idle instance", blocks=blocks)
    payload = slack.build_block_actions_payload(slack.messages[0], "stop", user_id="U0ALICE")

    assert slack.send_interaction(url, payload)[0] == 200
    assert slack.send_interaction(url, payload, secret="not-the-secret")[0] == 200
    (good_headers, good_body), (bad_headers, bad_body) = seen
    assert good_headers["Content-Type"] == "application/x-www-form-urlencoded"
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(good_body, good_headers)
    assert not verifier.is_valid_request(bad_body, bad_headers)
    sent = json.loads(parse_qs(good_body)["payload"][0])
    assert sent["type"] == "block_actions" and sent["user"]["id"] == "U0ALICE"
    assert sent["actions"][0] | {"action_ts": None} == {
        "action_id": "stop", "block_id": "act", "type": "button", "value": "i-1", "action_ts": None,
        "text": {"type": "plain_text", "text": "Stop", "emoji": True},
    }  # fmt: skip
    assert sent["container"] == {
        "type": "message", "message_ts": slack.messages[0].ts, "channel_id": CHANNEL, "is_ephemeral": False,
    }  # fmt: skip
    with pytest.raises(ValueError, match="no element"):
        slack.build_block_actions_payload(slack.messages[0], "delete")

    hook = WebhookClient(sent["response_url"])
    assert hook.send(text="Only you can see this").status_code == 200
    assert hook.send(text="Stopped by <@U0ALICE>", replace_original=True).status_code == 200

    assert [(r.response_type, r.replace_original) for r in slack.responses] == [
        ("ephemeral", False),
        ("ephemeral", True),
    ]
    assert slack.ephemerals[0].user == "U0ALICE" and slack.ephemerals[0].via == "response_url"
    assert slack.messages[0].text == "Stopped by <@U0ALICE>" and slack.messages[0].updated[0]["text"] == "idle instance"
