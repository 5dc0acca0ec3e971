"""Buttons on spend alerts: Acknowledge and Mute. Neither touches AWS resources (no IAM permissions, never
destructive, always one approver); both are authorised by the same approvers policy as the idle actions.

A posted spend alert gets an opaque id (`spd-` + a hash of scope, series and day) and a record in the state
table with its channel and ts, written when the outbox posts it; the buttons carry only that id.

  pk = SPENDALERT#<alert id>  sk = -          scope, series, day, channel, ts, acknowledged_by, muted_until
  pk = MUTE#<scope>           sk = <series>   until, by, alert (expires then; the spend watch reads these)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import InteractiveElement

from costguard.approvals.model import action_id
from costguard.slack import blocks

SPEND_PREFIX = "spd-"
ALERT_RETENTION = timedelta(days=90)  # alert records expire (table TTL) after this


@dataclass(frozen=True)
class SpendAction:
    id: str
    label: str
    description: str


ACKNOWLEDGE = SpendAction("acknowledge", "Acknowledge", "record who has seen the alert")
MUTE = SpendAction("mute", "Mute", "stop posting new alerts for this series for a while")
SPEND_ACTIONS: dict[str, SpendAction] = {a.id: a for a in (ACKNOWLEDGE, MUTE)}


def alert_id(scope: str, series: str, day: date) -> str:
    """Stable and opaque: the same alert (scope, series, day) always gets the same id."""
    digest = hashlib.sha256(f"{scope}\0{series}\0{day.isoformat()}".encode()).hexdigest()
    return f"{SPEND_PREFIX}{digest[:20]}"


def is_spend_alert(subject: str) -> bool:
    return subject.startswith(SPEND_PREFIX)


def alert_buttons(alert: str) -> Sequence[InteractiveElement]:
    """Acknowledge (primary) and Mute; the values carry only the alert id."""
    return [
        blocks.button(action_id(ACKNOWLEDGE.id, alert), ACKNOWLEDGE.label, alert, style="primary"),
        blocks.button(action_id(MUTE.id, alert), MUTE.label, alert),
    ]


def mute_until(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)


def status_text(record: Mapping[str, Any]) -> str:
    """The alert's one-line status after acknowledgements and mutes, from its stored record."""
    parts = []
    if record.get("acknowledged_by"):
        parts.append(f":eyes: Acknowledged by <@{record['acknowledged_by']}>")
    if record.get("muted_until"):
        parts.append(f":mute: muted until {str(record['muted_until'])[:10]} by <@{record['muted_by']}>")
    return " · ".join(parts)
