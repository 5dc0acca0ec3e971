"""The pure decision: what to report, which tags to set or remove, what to remember. `now` is an input.

- `costguard:keep` resources and excluded accounts are never reported or tagged (stale costguard tags
  on them are removed).
- One finding per resource: an idle finding beats a saving (deleting saves more than converting).
- `costguard:idle-since` is the day costguard first saw the finding (the stored state, else an existing
  tag, else today) and survives daily runs; `costguard:status` set by someone else (approvals) is kept.
- A finding that is no longer found, in a region and rule that ran, is resolved and its tags removed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from costguard.idle.model import (
    FINDING_TAGS,
    TAG_FINDING,
    TAG_IDLE_SINCE,
    TAG_PREFIX,
    TAG_STATUS,
    Finding,
    Resource,
)

OPEN = "open"
RESOLVED = "resolved"
RESOLVED_RETENTION = timedelta(days=90)  # resolved records expire (table TTL) after this


@dataclass(frozen=True)
class TagChange:
    resource: Resource
    set: Mapping[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


@dataclass
class Decision:
    findings: list[Finding]  # what to report, sorted by rule then cost
    first_seen: dict[str, str]  # finding id -> ISO day
    tag_changes: list[TagChange]
    states: dict[str, dict[str, Any]]  # finding id -> record to store (open and newly resolved)
    resolved: list[str]

    def is_new(self, f: Finding, now: datetime) -> bool:
        return self.first_seen.get(f.id) == now.date().isoformat()


def _stale_tags(r: Resource) -> tuple[str, ...]:
    return tuple(k for k in FINDING_TAGS if k in r.tags)


def decide(
    now: datetime,
    *,
    findings: Iterable[Finding],
    scanned: Iterable[Resource],
    stored: Mapping[str, Mapping[str, Any]],
    rule_order: Collection[str],
    scanned_regions: Collection[str],
    excluded_accounts: Collection[str] = (),
) -> Decision:
    today = now.date().isoformat()
    order = {name: i for i, name in enumerate(rule_order)}

    best: dict[tuple[str, str, str], Finding] = {}
    for f in findings:
        r = f.resource
        if r.kept or r.account in excluded_accounts:
            continue
        key = (r.region, r.type, r.id)
        rank = (f.kind != "idle", order.get(f.rule, len(order)))
        held = best.get(key)
        if held is None or rank < (held.kind != "idle", order.get(held.rule, len(order))):
            best[key] = f

    first_seen: dict[str, str] = {}
    states: dict[str, dict[str, Any]] = {}
    changes: list[TagChange] = []
    for key, f in best.items():
        r = f.resource
        previous = stored.get(f.id, {})
        same_tagged = r.tags.get(TAG_FINDING) == f.rule
        if previous.get("status") == OPEN and previous.get("first_seen"):
            since = str(previous["first_seen"])
        elif same_tagged and r.tags.get(TAG_IDLE_SINCE):
            since = r.tags[TAG_IDLE_SINCE]
        else:
            since = today
        first_seen[f.id] = since
        status = r.tags.get(TAG_STATUS, "") if same_tagged else ""
        status = status or OPEN
        wanted = {TAG_FINDING: f.rule, TAG_IDLE_SINCE: since, TAG_STATUS: status}
        missing = {k: v for k, v in wanted.items() if r.tags.get(k) != v}
        if missing:
            changes.append(TagChange(r, set=missing))
        states[f.id] = {
            **f.as_record(),
            "kind": f.kind,
            "name": r.name,
            "first_seen": since,
            "last_seen": today,
            "status": OPEN,
        }
        del key

    found = {(f.resource.region, f.resource.type, f.resource.id) for f in best.values()}
    for r in scanned:
        if (r.region, r.type, r.id) not in found and r.tags.get(TAG_FINDING):
            stale = _stale_tags(r)
            if stale:
                changes.append(TagChange(r, remove=stale))

    resolved: list[str] = []
    for finding_id, record in stored.items():
        if (
            record.get("status") == OPEN
            and finding_id not in states
            and record.get("region") in scanned_regions
            and record.get("rule") in order
        ):
            resolved.append(finding_id)
            states[finding_id] = {
                **record,
                "status": RESOLVED,
                "resolved": today,
                "expires_at": int((now + RESOLVED_RETENTION).timestamp()),
            }

    report = sorted(
        best.values(),
        key=lambda f: (order.get(f.rule, len(order)), -(f.monthly_cost or 0.0), f.resource.region, f.resource.id),
    )
    return Decision(report, first_seen, changes, states, sorted(resolved))


def has_costguard_tags(r: Resource) -> bool:
    return any(k.startswith(TAG_PREFIX) for k in r.tags)
