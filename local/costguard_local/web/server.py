"""A Slack-like channel page on localhost for the demo: renders what the Slack stand-in holds from its Block Kit
(sections, fields, context, buttons, threads, ephemerals) and turns button clicks into properly signed
`block_actions` requests to the interactions endpoint, exactly as Slack would send them."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from costguard_local.standins.slack import SlackStandIn

PAGE = Path(__file__).with_name("channel.html")
MAX_BODY = 64 * 1024


class ChannelPage:
    def __init__(
        self,
        slack: SlackStandIn,
        channel: str,
        *,
        interactions_url: str | None,
        users: dict[str, str],
        port: int = 0,
    ) -> None:
        self.slack, self.channel, self.interactions_url = slack, channel, interactions_url
        self.users = users  # Slack user id -> who they are (the page lets you click as each of them)
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                self._send(status, json.dumps(data).encode(), "application/json")

            def do_GET(self) -> None:
                if self.path in ("/", "/index.html"):
                    self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
                elif self.path == "/api/state":
                    self._json(200, page.state())
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != "/api/click" or length > MAX_BODY:
                    self._json(404 if self.path != "/api/click" else 413, {"error": "bad request"})
                    return
                try:
                    click = json.loads(self.rfile.read(length))
                    status, body = page.click(str(click["ts"]), str(click["action_id"]), str(click["user"]))
                except (KeyError, ValueError) as exc:
                    self._json(400, {"error": str(exc)})
                    return
                self._json(200, {"status": status, "body": body})

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> ChannelPage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def state(self) -> dict[str, Any]:
        messages = [
            {
                "ts": m.ts,
                "thread_ts": m.thread_ts,
                "text": m.text,
                "blocks": m.blocks,
                "edited": bool(m.updated),
            }
            for m in self.slack.messages_in(self.channel)
            if not m.deleted
        ]
        ephemerals = [asdict(e) for e in self.slack.ephemerals if e.channel == self.channel]
        return {
            "channel": self.channel,
            "users": [{"id": k, "name": v} for k, v in self.users.items()],
            "messages": messages,
            "ephemerals": ephemerals,
            "interactive": self.interactions_url is not None,
        }

    def click(self, ts: str, action_id: str, user: str) -> tuple[int, str]:
        """What Slack does when `user` presses a button: a signed block_actions POST to the app."""
        if user not in self.users:
            raise ValueError(f"unknown user {user!r}")
        if self.interactions_url is None:
            raise ValueError("no interactions endpoint is running")
        message = next((m for m in self.slack.messages_in(self.channel) if m.ts == ts), None)
        if message is None:
            raise ValueError(f"no message {ts}")
        payload = self.slack.build_block_actions_payload(message, action_id, user_id=user)
        return self.slack.send_interaction(self.interactions_url, payload, user_id=user)
