"""A local Slack that speaks the real Web API, so tests and the demo use the real slack_sdk WebClient.

It refuses what Slack refuses (bad token, unknown channel, malformed Block Kit, empty or over-long text),
records what was posted, injects rate limits, 5xx, dropped connections and outages on demand, and sends
signed `block_actions` requests the way Slack does when someone clicks a button.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

JSON = dict[str, Any]
Failure = Literal["ratelimited", "http_500", "connection"]

MAX_BLOCKS = 50
MAX_TEXT = 40_000
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
PLAIN = frozenset({"plain_text"})
BLOCK_KEYS: dict[str, frozenset[str]] = {
    "section": frozenset({"type", "block_id", "text", "fields", "accessory", "expand"}),
    "header": frozenset({"type", "block_id", "text"}),
    "context": frozenset({"type", "block_id", "elements"}),
    "divider": frozenset({"type", "block_id"}),
    "actions": frozenset({"type", "block_id", "elements"}),
    "image": frozenset({"type", "block_id", "image_url", "slack_file", "alt_text", "title"}),
    "rich_text": frozenset({"type", "block_id", "elements"}),
}
# Only the button is checked in depth (it is what costguard sends); the others Slack accepts in actions.
INTERACTIVE = frozenset(
    {"button", "overflow", "datepicker", "timepicker", "datetimepicker", "checkboxes", "radio_buttons"}
    | {f"{k}_select" for k in ("static", "external", "users", "conversations", "channels")}
    | {f"multi_{k}_select" for k in ("static", "external", "users", "conversations", "channels")}
)
RICH_TEXT_PARTS = frozenset({"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"})


class _BlockCheck:
    """Collects Slack-style `invalid_blocks` messages: "[ERROR] <what> [json-pointer:<where>]"."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.block_ids: set[str] = set()
        self.action_ids: set[str] = set()

    def err(self, ptr: str, msg: str) -> None:
        self.errors.append(f"[ERROR] {msg} [json-pointer:{ptr}]")

    def run(self, blocks: list[JSON]) -> list[str]:
        if len(blocks) > MAX_BLOCKS:
            self.err("/blocks", f"no more than {MAX_BLOCKS} items allowed")
        for i, block in enumerate(blocks):
            before = len(self.errors)
            self.block(block, f"/blocks/{i}")
            if len(self.errors) == before:  # slack_sdk's own model validation as a second opinion
                try:
                    parsed = Block.parse(block)
                    if parsed is not None:
                        parsed.to_dict()
                except (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError) as e:
                    self.err(f"/blocks/{i}", str(e))
        return self.errors

    def string(self, value: Any, ptr: str, max_len: int, *, required: bool = False) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str) or not value:
            self.err(ptr, "must be more than 0 characters")
        elif len(value) > max_len:
            self.err(ptr, f"must be less than {max_len + 1} characters")

    def text(self, obj: Any, ptr: str, max_len: int, types: frozenset[str] = TEXT_TYPES) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in types:
            self.err(ptr, f"must be a text object of type {' or '.join(sorted(types))}")
        else:
            self.string(obj.get("text"), f"{ptr}/text", max_len, required=True)

    def unique_id(self, seen: set[str], value: Any, ptr: str, name: str) -> None:
        if value is None:
            return
        self.string(value, ptr, 255, required=True)
        if isinstance(value, str) and value in seen:
            self.err(ptr, f"{name} must be unique: {value!r} is used twice")
        seen.add(str(value))

    def items(self, value: Any, ptr: str, limit: int) -> list[Any]:
        if not isinstance(value, list) or not value:
            self.err(ptr, "must provide at least 1 item")
            return []
        if len(value) > limit:
            self.err(ptr, f"no more than {limit} items allowed")
            return []
        return value

    def image(self, obj: JSON, ptr: str) -> None:
        self.string(obj.get("alt_text"), f"{ptr}/alt_text", 2000, required=True)
        if "slack_file" not in obj:
            self.string(obj.get("image_url"), f"{ptr}/image_url", 3000, required=True)

    def element(self, el: Any, ptr: str, allowed: frozenset[str]) -> None:
        kind = el.get("type") if isinstance(el, dict) else None
        if not isinstance(el, dict) or kind not in allowed:
            self.err(f"{ptr}/type", f"unsupported type: {kind}")
        elif kind in TEXT_TYPES:
            self.text(el, ptr, 3000)
        elif kind == "image":
            self.image(el, ptr)
        else:
            self.unique_id(self.action_ids, el.get("action_id"), f"{ptr}/action_id", "action_id")
            if kind == "button":
                self.text(el.get("text"), f"{ptr}/text", 75, PLAIN)
                self.string(el.get("value"), f"{ptr}/value", 2000)
                self.string(el.get("url"), f"{ptr}/url", 3000)
                if el.get("style") not in (None, "primary", "danger"):
                    self.err(f"{ptr}/style", "must be one of primary, danger")

    def block(self, b: JSON, ptr: str) -> None:
        kind = b.get("type")
        if kind not in BLOCK_KEYS:
            self.err(f"{ptr}/type", f"unsupported type: {kind}")
            return
        for extra in sorted(set(b) - BLOCK_KEYS[kind]):
            self.err(f"{ptr}/{extra}", f"invalid additional property: {extra}")
        self.unique_id(self.block_ids, b.get("block_id"), f"{ptr}/block_id", "block_id")
        if kind == "section":
            if "text" not in b and "fields" not in b:
                self.err(ptr, "must provide text or fields")
            if "text" in b:
                self.text(b["text"], f"{ptr}/text", 3000)
            if "fields" in b:
                for i, f in enumerate(self.items(b["fields"], f"{ptr}/fields", 10)):
                    self.text(f, f"{ptr}/fields/{i}", 2000)
            if "accessory" in b:
                self.element(b["accessory"], f"{ptr}/accessory", INTERACTIVE | {"image"})
        elif kind == "header":
            self.text(b.get("text"), f"{ptr}/text", 150, PLAIN)
        elif kind in ("context", "actions"):
            limit, allowed = (10, TEXT_TYPES | {"image"}) if kind == "context" else (25, INTERACTIVE)
            for i, el in enumerate(self.items(b.get("elements"), f"{ptr}/elements", limit)):
                self.element(el, f"{ptr}/elements/{i}", allowed)
        elif kind == "image":
            self.image(b, ptr)
            if "title" in b:
                self.text(b["title"], f"{ptr}/title", 2000, PLAIN)
        elif kind == "rich_text":
            for i, el in enumerate(self.items(b.get("elements"), f"{ptr}/elements", 100)):
                self.element(el, f"{ptr}/elements/{i}", RICH_TEXT_PARTS)


def check_blocks(blocks: list[JSON]) -> list[str]:
    """Slack's `invalid_blocks` messages for these blocks; empty when Slack would accept them."""
    return _BlockCheck().run(blocks)


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[JSON]
    user: str
    thread_ts: str | None = None  # the root's ts for replies; None for top-level messages
    reply_broadcast: bool = False
    metadata: JSON | None = None
    updated: list[JSON] = field(default_factory=list)  # earlier versions, oldest first: {text, blocks}
    deleted: bool = False


@dataclass(frozen=True)
class EphemeralMessage:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[JSON]
    via: str  # "chat.postEphemeral" or "response_url"


@dataclass(frozen=True)
class ResponseUrlPost:
    channel: str
    message_ts: str
    response_type: str
    replace_original: bool
    delete_original: bool
    text: str
    blocks: list[JSON]


@dataclass(frozen=True)
class SlackCall:
    method: str
    params: JSON  # never holds the token
    error: str | None  # the Slack error or injected failure; None when it succeeded


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: JSON = {"ok": False, "error": error, **extra}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: SlackStandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.server.stand_in._serve(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines would only add noise to test output."""


class SlackStandIn:
    """Slack Web API on 127.0.0.1 for `WebClient(token=..., base_url=stand_in.base_url)`."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] = ("xoxb-costguard-test",),
        channels: Iterable[str] = ("C0COSTGUARD",),
        usergroups: dict[str, list[str]] | None = None,
        users: dict[str, str] | None = None,
        signing_secret: str = "costguard-test-signing-secret",  # noqa: S107 - a test fixture, not a secret
        retry_after: int = 1,
        team_id: str = "T0COSTGRD",
        bot_user_id: str = "U0COSTBOT",
        port: int = 0,
    ) -> None:
        self.tokens = {tokens} if isinstance(tokens, str) else set(tokens)
        self.channels = {channels} if isinstance(channels, str) else set(channels)  # add more at any time
        self.usergroups = dict(usergroups or {})
        self.users = dict(users or {})  # id -> name; unknown ids still resolve to a placeholder user
        self.signing_secret = signing_secret
        self.retry_after = retry_after
        self.team_id, self.bot_user_id = team_id, bot_user_id
        self.bot_id, self.app_id = "B0COSTBOT", "A0COSTGRD"
        self.messages: list[SlackMessage] = []
        self.ephemerals: list[EphemeralMessage] = []
        self.responses: list[ResponseUrlPost] = []
        self.calls: list[SlackCall] = []
        self._failures: list[tuple[Failure, int]] = []
        self._down = False
        self._ts = itertools.count(1700000000_000100, 100)  # microseconds; Slack ts is "<sec>.<6 digits>"
        self._response_urls: dict[str, tuple[str, str, str]] = {}  # id -> (channel, message_ts, user)
        self._lock = threading.RLock()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.stand_in = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandIn is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def base_url(self) -> str:
        return self.url + "api/"

    # -- test controls ---------------------------------------------------------------------------------
    def fail_next(self, n: int = 1, error: Failure = "ratelimited", *, retry_after: int | None = None) -> None:
        """The next n Web API calls fail: 429 with Retry-After, 500, or a connection dropped unanswered."""
        with self._lock:
            self._failures += [(error, self.retry_after if retry_after is None else retry_after)] * n

    def down(self) -> None:
        """A Slack outage: every request (Web API and response_url) gets 503 until up()."""
        self._down = True

    def up(self) -> None:
        self._down = False

    def reset(self) -> None:
        with self._lock:
            for recorded in (self.messages, self.ephemerals, self.responses, self.calls, self._failures):
                recorded.clear()
            self._response_urls.clear()
            self._down = False

    def messages_in(self, channel: str) -> list[SlackMessage]:
        return [m for m in self.messages if m.channel == channel and not m.deleted]

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        """The root message with `ts` followed by its replies, oldest first."""
        return [m for m in self.messages_in(channel) if ts in (m.ts, m.thread_ts)]

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    # -- interactivity ---------------------------------------------------------------------------------
    def build_block_actions_payload(
        self, message: SlackMessage, action_id: str, value: str | None = None, user_id: str = "U0APPROVER"
    ) -> JSON:
        """What Slack sends when `user_id` clicks the element `action_id` of `message` (it must be there)."""
        found = [
            (b, el)
            for b in message.blocks
            for el in (b.get("elements", []) if b["type"] == "actions" else [b.get("accessory") or {}])
            if el.get("action_id") == action_id
        ]
        if not found:
            raise ValueError(f"message {message.ts} has no element with action_id {action_id!r}")
        block, element = found[0]
        with self._lock:
            digest = hashlib.sha256(f"{message.ts}:{action_id}:{len(self._response_urls)}".encode()).hexdigest()
            rid = f"{self.team_id}/{message.ts}/{digest[:24]}"
            self._response_urls[rid] = (message.channel, message.ts, user_id)
        name = self.users.get(user_id, user_id.lower())
        action = {
            "action_id": action_id,
            "block_id": block["block_id"],
            "type": element["type"],
            "value": element.get("value") if value is None else value,
            "action_ts": f"{time.time():.6f}",
        }
        if "text" in element:
            action["text"] = element["text"]
        container = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": name, "name": name, "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",  # deprecated by Slack; the signature is what counts
            "container": container,
            "trigger_id": f"{int(time.time())}.{message.ts.replace('.', '')}.{digest[24:40]}",
            "team": {"id": self.team_id, "domain": "costguard-test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": message.channel.lower()},
            "message": self._api_message(message),
            "state": {"values": {}},
            "response_url": f"{self.url}response/{rid}",
            "actions": [action],
        }

    def signed_request(
        self, payload: JSON, *, timestamp: int | None = None, secret: str | None = None
    ) -> tuple[dict[str, str], str]:
        """Headers and form body of Slack's interactivity request, signed like Slack signs it."""
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
        ts = str(int(time.time()) if timestamp is None else timestamp)
        key = (self.signing_secret if secret is None else secret).encode()
        signature = "v0=" + hmac.new(key, f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        return headers, body

    def send_interaction(
        self,
        url: str,
        payload: JSON,
        *,
        user_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        """POST a signed block_actions request to the app's interactivity URL; returns (status, body)."""
        if user_id is not None:
            payload = {**payload, "user": {**payload["user"], "id": user_id}}
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {url}")
        headers, body = self.signed_request(payload, timestamp=timestamp, secret=secret)
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - scheme checked above
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    # -- HTTP ------------------------------------------------------------------------------------------
    def _serve(self, req: _Handler) -> None:
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0)).decode()
        url = urlsplit(req.path)
        if url.path.startswith("/response/"):
            if self._down:
                return self._reply(req, 503, {"ok": False, "error": "service_unavailable"})
            return self._response_url(req, url.path.removeprefix("/response/"), raw)
        if not url.path.startswith("/api/"):
            return self._reply(req, 404, {"ok": False, "error": "unknown_method"})
        method = url.path.removeprefix("/api/")
        params: JSON = dict(parse_qsl(url.query))
        if "json" not in (req.headers.get("Content-Type") or ""):
            params |= dict(parse_qsl(raw))
        else:
            try:
                params |= json.loads(raw or "{}")
            except (json.JSONDecodeError, TypeError, ValueError):
                return self._reply(req, 200, {"ok": False, "error": "invalid_json"})
        auth = req.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")
        safe = {k: v for k, v in params.items() if k != "token"}
        headers: dict[str, str] = {}
        body: JSON
        with self._lock:
            failure = None if self._down or not self._failures else self._failures.pop(0)
            if self._down:
                status, body = 503, {"ok": False, "error": "service_unavailable"}
            elif failure is None:
                try:
                    if token not in self.tokens:
                        raise _ApiError("invalid_auth")
                    status, body = 200, {"ok": True, **self._dispatch(method, params)}
                except _ApiError as e:
                    status, body = 200, e.body
            elif failure[0] == "ratelimited":
                status, body = 429, {"ok": False, "error": "ratelimited"}
                headers["Retry-After"] = str(failure[1])
            else:
                status, body = 500, {"ok": False, "error": "internal_error"}
            self.calls.append(SlackCall(method, safe, failure[0] if failure else body.get("error")))
        if failure is not None and failure[0] == "connection":
            req.close_connection = True  # hang up without a response: the client sees RemoteDisconnected
        else:
            self._reply(req, status, body, headers)

    def _reply(self, req: _Handler, status: int, body: JSON, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    # -- Web API methods -------------------------------------------------------------------------------
    def _dispatch(self, method: str, p: JSON) -> JSON:
        if method == "auth.test":
            ids = {"team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id}
            return {
                "url": "https://costguard-test.slack.com/",
                "team": "costguard-test",
                "user": "costguard",
                **ids,
            }
        if method == "chat.postMessage":
            return self._post(self._channel(p), p)
        if method == "chat.update":
            m = self._find(self._channel(p), p.get("ts"), "message_not_found")
            text, blocks = self._content(p, keep=m)
            m.updated.append({"text": m.text, "blocks": m.blocks})
            m.text, m.blocks = text, self._with_block_ids(blocks, m.ts)
            return {"channel": m.channel, "ts": m.ts, "text": m.text, "message": self._api_message(m)}
        if method == "chat.postEphemeral":
            channel, user = self._channel(p), p.get("user")
            if not user:
                raise _ApiError("user_not_in_channel")
            text, blocks = self._content(p)
            e = EphemeralMessage(channel, user, self._next_ts(), text, blocks, "chat.postEphemeral")
            self.ephemerals.append(e)
            return {"message_ts": e.ts}
        if method == "conversations.replies":
            channel = self._channel(p)
            root = self._find(channel, p.get("ts"), "thread_not_found")
            return {
                "messages": [self._api_message(m) for m in self.thread(channel, root.thread_ts or root.ts)],
                "has_more": False,
            }
        if method == "conversations.history":
            channel, limit = self._channel(p), int(p.get("limit") or 100)
            oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
            shown = [m for m in self.messages_in(channel) if not m.thread_ts or m.reply_broadcast]
            shown = [m for m in reversed(shown) if oldest <= float(m.ts) <= latest]
            return {"messages": [self._api_message(m) for m in shown[:limit]], "has_more": len(shown) > limit}
        if method == "users.info":
            uid = str(p.get("user") or "")
            if not uid.startswith(("U", "W")):
                raise _ApiError("user_not_found")
            name = self.users.get(uid, uid.lower())
            profile = {"display_name": name, "real_name": name}
            return {
                "user": {
                    "id": uid,
                    "team_id": self.team_id,
                    "name": name,
                    "is_bot": False,
                    "profile": profile,
                }
            }
        if method == "usergroups.users.list":
            group = p.get("usergroup")
            if group not in self.usergroups:
                raise _ApiError("no_such_subteam")
            return {"users": list(self.usergroups[group])}
        raise _ApiError("unknown_method")

    def _post(self, channel: str, p: JSON) -> JSON:
        text, blocks = self._content(p)
        thread_ts = p.get("thread_ts") or None
        if thread_ts is not None:  # a reply to a reply is filed under the root (Slack wants the root's ts)
            root = self._find(channel, thread_ts, "thread_not_found")
            thread_ts = root.thread_ts or root.ts
        ts = self._next_ts()
        metadata = json.loads(p["metadata"]) if isinstance(p.get("metadata"), str) else p.get("metadata")
        broadcast = thread_ts is not None and _truthy(p.get("reply_broadcast"))
        blocks = self._with_block_ids(blocks, ts)
        m = SlackMessage(channel, ts, text, blocks, self.bot_user_id, thread_ts, broadcast, metadata)
        self.messages.append(m)
        return {"channel": channel, "ts": ts, "message": self._api_message(m)}

    def _channel(self, p: JSON) -> str:
        channel = p.get("channel")
        if channel not in self.channels:
            raise _ApiError("channel_not_found")
        return str(channel)

    def _find(self, channel: str, ts: Any, error: str) -> SlackMessage:
        for m in self.messages_in(channel):
            if m.ts == ts:
                return m
        raise _ApiError(error)

    def _content(self, p: JSON, keep: SlackMessage | None = None) -> tuple[str, list[JSON]]:
        """Validated (text, blocks); an update (`keep`) without blocks keeps the message's blocks."""
        text = str(p.get("text") or "")
        raw = p.get("blocks")
        try:
            blocks = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            raise _ApiError("invalid_blocks_format") from None
        if blocks is None:
            blocks = keep.blocks if keep is not None else []
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise _ApiError("invalid_blocks_format")
        if not text and not blocks:
            raise _ApiError("no_text")
        if len(text) > MAX_TEXT:
            raise _ApiError("msg_too_long")
        errors = check_blocks(blocks)
        if errors:
            raise _ApiError("invalid_blocks", errors=errors, response_metadata={"messages": errors})
        return text, blocks

    def _with_block_ids(self, blocks: list[JSON], ts: str) -> list[JSON]:
        """Slack stores a block_id on every block; it is what block_actions payloads refer to."""
        return [
            b if "block_id" in b else {**b, "block_id": hashlib.sha256(f"{ts}/{i}".encode()).hexdigest()[:5]}
            for i, b in enumerate(json.loads(json.dumps(blocks)))
        ]

    def _next_ts(self) -> str:
        micros = next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _api_message(self, m: SlackMessage) -> JSON:
        out: JSON = {"type": "message", "user": m.user, "bot_id": self.bot_id, "app_id": self.app_id}
        out |= {"team": self.team_id, "text": m.text, "blocks": m.blocks, "ts": m.ts}
        replies = [r for r in self.messages_in(m.channel) if r.thread_ts == m.ts]
        if m.thread_ts or replies:
            out["thread_ts"] = m.thread_ts or m.ts
        if replies:
            out |= {"reply_count": len(replies), "latest_reply": replies[-1].ts}
        if m.updated:
            out["edited"] = {"user": m.user, "ts": m.ts}
        if m.metadata:
            out["metadata"] = m.metadata
        return out

    # -- response_url ----------------------------------------------------------------------------------
    def _response_url(self, req: _Handler, rid: str, raw: str) -> None:
        with self._lock:
            if rid not in self._response_urls:
                return self._reply(req, 404, {"ok": False, "error": "invalid_token"})
            channel, ts, user = self._response_urls[rid]
            try:
                p = json.loads(raw or "{}")
                replace, delete = _truthy(p.get("replace_original")), _truthy(p.get("delete_original"))
                original = self._find(channel, ts, "message_not_found")
                text, blocks = ("", []) if delete else self._content(p)
            except (_ApiError, json.JSONDecodeError, AttributeError) as e:
                body = e.body if isinstance(e, _ApiError) else {"ok": False, "error": "invalid_payload"}
                return self._reply(req, 400, body)
            kind = str(p.get("response_type") or "ephemeral")
            self.responses.append(ResponseUrlPost(channel, ts, kind, replace, delete, text, blocks))
            if delete:
                original.deleted = True
            elif replace:
                original.updated.append({"text": original.text, "blocks": original.blocks})
                original.text, original.blocks = text, self._with_block_ids(blocks, ts)
            elif kind == "in_channel":
                self._post(channel, p)
            else:
                self.ephemerals.append(EphemeralMessage(channel, user, self._next_ts(), text, blocks, "response_url"))
        self._reply(req, 200, {"ok": True})
