"""What crosses the edges: Slack's block_actions payload (parsed, nothing trusted beyond ids), button ids,
and the jobs the endpoint puts on the queue for the worker."""

from __future__ import annotations

import json
import re
from typing import Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from costguard.approvals.signature import Rejected

ACTION_PREFIX = "costguard"
FINDING_ID_RE = re.compile(r"^idl-[0-9a-f]{20}$")
SPEND_ALERT_ID_RE = re.compile(r"^spd-[0-9a-f]{20}$")
_ACTION_ID_RE = re.compile(r"^costguard:(?P<action>[a-z][a-z0-9-]{1,40}):(?P<subject>(?:idl|spd)-[0-9a-f]{20})$")
_USER_RE = r"^[UW][A-Z0-9]{2,20}$"
_CHANNEL_RE = r"^[CG][A-Z0-9]{2,20}$"
_TS_RE = r"^\d{9,11}\.\d{6}$"


def action_id(action: str, subject: str) -> str:
    """The button's action_id: unique within a message (Slack requires it) and naming the action."""
    return f"{ACTION_PREFIX}:{action}:{subject}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackUser(_Model):
    id: str = Field(pattern=_USER_RE)


class SlackTeam(_Model):
    id: str = Field(pattern=r"^[TE][A-Z0-9]{2,20}$")


class Container(_Model):
    type: Literal["message"]
    message_ts: str = Field(pattern=_TS_RE)
    channel_id: str = Field(pattern=_CHANNEL_RE)


class SlackAction(_Model):
    action_id: str = Field(max_length=255)
    value: str = Field(max_length=2000)
    type: Literal["button"]


class BlockActions(_Model):
    """The fields costguard reads from Slack's `block_actions` payload; everything else is ignored."""

    type: Literal["block_actions"]
    user: SlackUser
    team: SlackTeam
    container: Container
    response_url: str = Field(max_length=2000)
    actions: list[SlackAction] = Field(min_length=1, max_length=1)


class Click(_Model):
    """One button click: who clicked which action on which opaque id, in which message."""

    user: str
    team: str
    action: str
    subject: str  # the opaque id: a finding id (idl-…) or a spend alert id (spd-…)
    channel: str
    message_ts: str
    response_url: str


def parse_form(body: bytes) -> Click:
    """Slack's form body (`payload=<json>`) → a Click; anything else is `Rejected(400)`."""
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "not a form body") from None
    payloads = [v for k, v in fields if k == "payload"]
    if len(payloads) != 1 or len(fields) != 1:
        raise Rejected(400, "expected one payload field")
    try:
        parsed = BlockActions.model_validate(json.loads(payloads[0]))
    except (json.JSONDecodeError, ValidationError, RecursionError):
        raise Rejected(400, "not a block_actions payload") from None
    [act] = parsed.actions
    match = _ACTION_ID_RE.match(act.action_id)
    if match is None or match["subject"] != act.value:
        raise Rejected(400, "not a costguard button")
    return Click(
        user=parsed.user.id,
        team=parsed.team.id,
        action=match["action"],
        subject=act.value,
        channel=parsed.container.channel_id,
        message_ts=parsed.container.message_ts,
        response_url=parsed.response_url,
    )


JobKind = Literal["execute", "progress"]


class Job(_Model):
    """A queue message: carries ids only; the worker re-reads the finding and re-checks the resource."""

    job_id: str  # the click's request key: redeliveries of one message share it, distinct clicks do not
    kind: JobKind
    account: str
    subject: str
    action: str
    approvers: tuple[str, ...]  # user ids, in approval order
    needed: int = 1
    channel: str
    message_ts: str
    requested_at: str  # ISO time of the click
