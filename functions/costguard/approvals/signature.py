"""Slack request signing (https://api.slack.com/authentication/verifying-requests-from-slack).

The signature is HMAC-SHA256 over ``v0:<timestamp>:<raw body>`` keyed with the app's signing secret, on the
body exactly as received. Pure: the secret, the raw bytes, the two headers and `now` in; the request's
timestamp out, or `Rejected`.
"""

from __future__ import annotations

import hashlib
import hmac
import re

MAX_AGE_SECONDS = 300  # Slack's advice: refuse requests older than five minutes (replays)
_TIMESTAMP_RE = re.compile(r"^\d{1,12}$")
_SIGNATURE_RE = re.compile(r"^v0=[0-9a-f]{64}$")


class Rejected(Exception):
    """A request costguard will not act on; `status` is the HTTP answer (never says which check failed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def verify(secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: float) -> int:
    """The request's timestamp when the signature is Slack's and the request is fresh; else `Rejected(401)`."""
    if not secret:
        raise Rejected(500, "signing secret is empty")
    if timestamp is None or not _TIMESTAMP_RE.match(timestamp):
        raise Rejected(401, "missing or malformed timestamp")
    if signature is None or not _SIGNATURE_RE.match(signature):
        raise Rejected(401, "missing or malformed signature")
    ts = int(timestamp)
    if abs(now - ts) > MAX_AGE_SECONDS:
        raise Rejected(401, "stale timestamp")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise Rejected(401, "bad signature")
    return ts
