"""An HTTP proxy in front of moto's server that counts AWS API calls and can inject throttling.

Counting at the wire (not in-process) lets benchmarks compare tools that use different SDKs."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Error bodies each protocol family uses for throttling, so botocore classifies and retries them.
JSON_THROTTLE = {"__type": "LimitExceededException", "message": "Rate exceeded"}
QUERY_THROTTLE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    "<Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>"
)


@dataclass
class ThrottleRule:
    operation: str  # e.g. "GetCostAndUsage", "DescribeVolumes"
    remaining: int  # how many more calls to refuse; -1 = always


def operation_of(headers: Any, body: bytes, path: str) -> str:
    """The API operation name for JSON (X-Amz-Target), query (Action=) and REST-ish calls."""
    target = headers.get("X-Amz-Target")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if "Action" in query:
        return query["Action"][0]
    if body and headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        if "Action" in form:
            return form["Action"][0]
    return f"{headers.get('X-HTTP-Method', '')}{path.split('?', maxsplit=1)[0]}"


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.calls: Counter[str] = Counter()
        self.rules: list[ThrottleRule] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                op = operation_of(self.headers, body, self.path)
                if proxy._throttled(op):
                    self._throttle(op)
                    return
                conn = http.client.HTTPConnection(*proxy._upstream, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{proxy._upstream[0]}:{proxy._upstream[1]}"
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                conn.close()

            def _throttle(self, op: str) -> None:
                if self.headers.get("X-Amz-Target"):
                    payload = json.dumps(JSON_THROTTLE).encode()
                    ctype = "application/x-amz-json-1.1"
                else:
                    payload = QUERY_THROTTLE.encode()
                    ctype = "text/xml"
                self.send_response(400)
                self.send_header("Content-Type", ctype)
                self.send_header("x-amzn-ErrorType", "LimitExceededException")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _throttled(self, op: str) -> bool:
        with self._lock:
            self.calls[op] += 1
            for rule in self.rules:
                if rule.operation == op and rule.remaining != 0:
                    rule.remaining -= 1 if rule.remaining > 0 else 0
                    return True
            return False

    def throttle(self, operation: str, times: int = -1) -> None:
        with self._lock:
            self.rules.append(ThrottleRule(operation, times))

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CountingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
