"""The opt-in grace period (approvals_auto_remediate_days = N, 0 = off).

A finding idle for N-1 days, that nobody snoozed, kept or voted to keep or snooze, is announced once in its
digest thread ("will be remediated tomorrow unless someone presses Keep or Snooze"); from day N, and never
before the day after its announcement, the sweep queues its default action (the first destructive action the
registry offers for its rule) as an automatic approval by `costguard (grace period)`. The worker then does
what it does for a click: the exactly-once claim, the re-checks on the live resource, the dry-run switch and
the audit rows. A finding whose rule offers no destructive action, or whose default action needs two people
(TWO_PERSON_ACTIONS), is never auto-remediated: an automatic approval is not a second person.

`plan` is pure (no store, no Slack, no clock); `run_grace` wires it to the store, the queue and Slack.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from costguard.approvals.actions import Action, actions_for
from costguard.approvals.intake import Queue
from costguard.approvals.model import Job
from costguard.approvals.store import ApprovalStore
from costguard.idle.model import Finding
from costguard.slack.blocks import Message

GRACE_APPROVER = "costguard (grace period)"
OBJECTIONS = ("keep", "snooze")  # a vote for either (even one not yet executed) stops the grace period
MARK_RETENTION = timedelta(days=120)


class Replier(Protocol):
    def reply(self, channel: str, thread_ts: str, text: str) -> str: ...


def default_action(rule: str) -> Action | None:
    """The first destructive action the registry offers for findings of this rule, if any."""
    return next((a for a in actions_for(rule) if a.destructive), None)


@dataclass(frozen=True)
class Candidate:
    id: str
    rule: str
    first_seen: str  # ISO day the episode started


@dataclass(frozen=True)
class GracePlan:
    announce: list[str] = field(default_factory=list)  # finding ids: remediated tomorrow unless someone objects
    remediate: list[tuple[str, str]] = field(default_factory=list)  # (finding id, action id): queue it now


def due(today: date, first_seen: str, days: int) -> bool:
    """Old enough to be announced (N-1 days) or remediated (N days)?"""
    try:
        return (today - date.fromisoformat(first_seen)).days >= days - 1
    except ValueError:
        return False


def plan(
    today: date,
    candidates: Sequence[Candidate],
    *,
    days: int,
    excluded: Collection[str],
    marks: Mapping[str, Mapping[str, Any]],
    two_person: Collection[str] = (),
) -> GracePlan:
    """What today's sweep announces and queues. `excluded`: snoozed, kept or objected-to findings; `marks`:
    what earlier sweeps did per finding (for this episode only: a mark from an earlier episode is ignored)."""
    out = GracePlan()
    if days < 1:
        return out
    for c in sorted(candidates, key=lambda c: c.id):
        action = default_action(c.rule)
        if c.id in excluded or action is None or action.id in two_person or not due(today, c.first_seen, days):
            continue
        mark = marks.get(c.id) or {}
        if mark.get("first_seen") != c.first_seen:
            mark = {}
        announced = str(mark.get("announced") or "")
        if not announced:
            out.announce.append(c.id)
        elif (
            announced < today.isoformat()
            and (today - date.fromisoformat(c.first_seen)).days >= days
            and not mark.get("enqueued")
        ):
            out.remediate.append((c.id, action.id))
    return out


def digest_threads(messages: Sequence[Message], posted: Mapping[int, str]) -> dict[str, str]:
    """finding id -> ts of the digest part that shows it (its buttons' block_id is the finding id)."""
    out: dict[str, str] = {}
    for part, message in enumerate(messages):
        ts = posted.get(part)
        if ts is None:
            continue
        for b in message.blocks:
            if b.get("type") == "actions" and str(b.get("block_id", "")).startswith("idl-"):
                out.setdefault(str(b["block_id"]), ts)
    return out


def _label(f: Finding) -> str:
    r = f.resource
    if r.name and r.id.startswith("arn:"):
        return r.name
    return r.id + (f" ({r.name})" if r.name and r.name != r.id else "")


@dataclass
class GraceReport:
    announced: int = 0
    queued: int = 0


def run_grace(
    now: datetime,
    *,
    days: int,
    findings: Sequence[Finding],
    first_seen: Mapping[str, str],
    threads: Mapping[str, str],
    store: ApprovalStore,
    queue: Queue,
    replier: Replier,
    account: str,
    channel: str,
    two_person: Collection[str] = (),
) -> GraceReport:
    """Announce and queue per `plan`, for findings shown in today's digest (`threads`: finding id -> ts)."""
    report = GraceReport()
    today = now.date()
    at = now.isoformat()
    expires = int((now + MARK_RETENTION).timestamp())
    shown = [Candidate(f.id, f.rule, first_seen.get(f.id, "")) for f in findings if f.id in threads]
    candidates = [
        c
        for c in shown
        if due(today, c.first_seen, days) and (a := default_action(c.rule)) is not None and a.id not in two_person
    ]
    snoozed = store.snoozed(account, at)
    excluded = {c.id for c in candidates if c.id in snoozed or any(store.approvals(c.id, a) for a in OBJECTIONS)}
    marks = store.grace_marks(account) if candidates else {}
    decided = plan(today, candidates, days=days, excluded=excluded, marks=marks, two_person=two_person)
    by_id = {c.id: c for c in candidates}
    labels = {f.id: _label(f) for f in findings}

    per_thread: dict[str, list[str]] = {}
    for fid in decided.announce:
        per_thread.setdefault(threads[fid], []).append(fid)
    for ts, fids in per_thread.items():
        lines = []
        for fid in fids:
            action = default_action(by_id[fid].rule)
            label = action.label if action else "remediate"
            lines.append(f"• `{labels[fid]}` (idle since {by_id[fid].first_seen}): *{label}*")
        replier.reply(
            channel,
            ts,
            f":hourglass_flowing_sand: Grace period ({days} days): these will be remediated tomorrow unless "
            "someone presses *Keep* or *Snooze*:\n" + "\n".join(lines),
        )
        # Marked after the reply: a crash in between repeats the announcement, it never skips it.
        for fid in fids:
            store.mark_grace(
                account, fid, {"first_seen": by_id[fid].first_seen, "announced": today.isoformat()}, expires
            )
            report.announced += 1

    for fid, action_id in decided.remediate:
        c = by_id[fid]
        job_id = f"grace-{fid}-{c.first_seen}"  # one per episode: redeliveries and re-runs share it
        queue.send(
            Job(
                job_id=job_id,
                kind="execute",
                account=account,
                subject=fid,
                action=action_id,
                approvers=(GRACE_APPROVER,),
                channel=channel,
                message_ts=threads[fid],
                requested_at=at,
            )
        )
        store.audit(
            fid,
            {
                "at": at,
                "subject": fid,
                "action": action_id,
                "by": GRACE_APPROVER,
                "job_id": job_id,
                "decision": "approved",
                "reason": f"idle since {c.first_seen}; {days}-day grace period, announced "
                f"{(marks.get(fid) or {}).get('announced')}, nobody objected",
                "queued": True,
            },
        )
        mark = {**(marks.get(fid) or {}), "enqueued": today.isoformat()}
        store.mark_grace(account, fid, mark, expires)
        report.queued += 1
    return report
