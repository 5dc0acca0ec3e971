"""A Lambda Function URL on localhost: each HTTP request becomes a real-format Function URL event (payload
format 2.0, as AWS documents it: version, rawPath, rawQueryString, lower-cased headers, requestContext.http,
the body base64-encoded with isBase64Encoded=true) and the handler runs in-process; its statusCode, headers
and body are the HTTP answer. `function_url_event` builds the same event for in-process calls."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from costguard_local.lambda_runtime import FakeLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
URL_ID = "costguardlocal0000000000000000"
ACCOUNT = "123456789012"


def function_url_event(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    query: str = "",
    source_ip: str = "127.0.0.1",
    region: str = "us-east-1",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The event Lambda hands a function when its URL is called (payload format version 2.0)."""
    now = now or datetime.now(UTC)
    lowered: dict[str, str] = {}
    for k, v in (headers or {}).items():  # repeated headers arrive comma-joined
        key = k.lower()
        lowered[key] = f"{lowered[key]},{v}" if key in lowered else v
    domain = f"{URL_ID}.lambda-url.{region}.on.aws"
    lowered.setdefault("host", domain)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": domain,
            "domainPrefix": URL_ID,
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(body),
    }
    if query:
        params: dict[str, str] = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        event["queryStringParameters"] = params
    if body:
        event["body"] = base64.b64encode(body).decode()
    return event


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FunctionUrlServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        self.server.owner._serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""


class FunctionUrlServer:
    """`FunctionUrlServer(handler).start()`; `url` is what Slack (the stand-in) would be configured with."""

    MAX_BODY = 6 * 1024 * 1024  # Function URLs refuse larger requests before the function runs

    def __init__(self, handler: Handler, *, function_name: str = "interactions", port: int = 0) -> None:
        self.handler = handler
        self.function_name = function_name
        self.invocations = 0
        self.durations: list[float] = []
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> FunctionUrlServer:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.owner = self
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

    def __enter__(self) -> FunctionUrlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FunctionUrlServer is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def _serve(self, req: _Handler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        if length > self.MAX_BODY:
            self._reply(req, 413, {"content-type": "application/json"}, b'{"Message":"Request Too Long"}')
            return
        body = req.rfile.read(length)
        url = urlsplit(req.path)
        event = function_url_event(
            req.command,
            url.path or "/",
            headers=dict(req.headers.items()),
            body=body,
            query=url.query,
            source_ip=req.client_address[0],
        )
        started = time.perf_counter()
        try:
            result = self.handler(event, FakeLambdaContext(self.function_name))
        except Exception:
            # What a Function URL answers when the function errors.
            self._reply(req, 502, {"content-type": "application/json"}, b'{"Message":"Internal Server Error"}')
            return
        finally:
            with self._lock:
                self.invocations += 1
                self.durations.append(time.perf_counter() - started)
        status = int(result.get("statusCode", 200))
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        self._reply(req, status, headers, data)

    @staticmethod
    def _reply(req: _Handler, status: int, headers: Mapping[str, str], data: bytes) -> None:
        req.send_response(status)
        for k, v in headers.items():
            if k not in ("content-length", "connection"):
                req.send_header(k, v)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)
