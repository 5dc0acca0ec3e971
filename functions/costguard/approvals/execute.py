"""The remediation worker's service: one queue job at a time, exactly once per (finding, action, episode).

A conditional write claims the (finding, action) before any side effect; a redelivery of the same message
resumes its own claim (with its checkpoint, e.g. the snapshot already taken), any other click finds it taken.
Then the finding is re-read from the state table, the resource re-described and the action's preconditions
re-checked; only then does it act — or, in a dry run, record what it would have done. Every outcome is an
audit row, a thread reply and an in-place update of the digest message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from costguard.approvals.actions import REGISTRY, Action, Check, FindingRef, RunContext, observe
from costguard.approvals.authz import USER_RE
from costguard.approvals.intake import OPEN, claim_key
from costguard.approvals.model import Job
from costguard.approvals.settings import WorkerSettings
from costguard.approvals.spend import ACKNOWLEDGE, SPEND_ACTIONS, is_spend_alert, mute_until, status_text
from costguard.approvals.store import DRY_RUN, EXECUTED, FAILED, REFUSED, ApprovalStore
from costguard.idle.inventory import ClientFactory
from costguard.slack import blocks

SETTLED_RETENTION = timedelta(days=90)


class Messages(Protocol):
    def get(self, channel: str, ts: str) -> tuple[str, list[dict[str, Any]]] | None: ...
    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None: ...
    def reply(self, channel: str, thread_ts: str, text: str) -> str: ...


def _who(users: tuple[str, ...]) -> str:
    """Slack mentions for user ids; anything else (the grace period's automatic approval) as it is."""
    return ", ".join(f"<@{u}>" if USER_RE.match(u) else u for u in users) or "nobody"


def with_status(
    message_blocks: list[dict[str, Any]], finding_id: str, text: str, *, keep_buttons: bool
) -> list[dict[str, Any]] | None:
    """The message's blocks with the finding's status line after (or instead of) its buttons; None when the
    message has no buttons for this finding."""
    status_id = f"{finding_id}.status"
    out: list[dict[str, Any]] = []
    placed = False
    for b in message_blocks:
        if b.get("block_id") == status_id:
            continue
        if b.get("type") == "actions" and b.get("block_id") == finding_id:
            if keep_buttons:
                out.append(b)
            out.append(blocks.status_context(status_id, text))
            placed = True
            continue
        out.append(b)
    return out if placed else None


@dataclass
class Worker:
    settings: WorkerSettings
    store: ApprovalStore
    clients: ClientFactory
    messages: Messages

    def run(self, job: Job, now: datetime) -> dict[str, Any]:
        if is_spend_alert(job.subject):
            return self._spend_alert(job, now)
        action = REGISTRY.get(job.action)
        if action is None:  # the intake checked; a message from an older or newer version
            return {"job": job.job_id, "result": "unknown action"}
        if job.kind == "progress":
            return self._progress(job, action, now)
        return self._execute(job, action, now)

    # -- Acknowledge / Mute on a spend alert ----------------------------------------------------------
    def _spend_alert(self, job: Job, now: datetime) -> dict[str, Any]:
        spend = SPEND_ACTIONS.get(job.action)
        if spend is None:
            return {"job": job.job_id, "result": "unknown action"}
        at = now.isoformat()
        user = job.approvers[0] if job.approvers else ""
        row: dict[str, Any] = {
            "at": at,
            "subject": job.subject,
            "action": spend.id,
            "by": user,
            "approvers": list(job.approvers),
            "job_id": job.job_id,
            "requested_at": job.requested_at,
        }
        alert = self.store.spend_alert(job.subject)
        if alert is None:
            self.store.audit(job.subject, {**row, "decision": "refused", "reason": "alert no longer known"})
            return {"job": job.job_id, "result": REFUSED}
        series = str(alert.get("series", ""))
        row |= {"series": series, "day": alert.get("day")}
        if spend is ACKNOWLEDGE:
            changes = {"acknowledged_by": user, "acknowledged_at": at}
            outcome = f"acknowledged by {user}"
            reply = f":eyes: <@{user}> acknowledged this alert."
        else:
            until = mute_until(now, self.settings.mute_days)
            changes = {"muted_until": until.isoformat(), "muted_by": user}
            self.store.mute(
                str(alert["scope"]),
                series,
                {"until": until.isoformat(), "by": user, "alert": job.subject, "at": at},
                int((until + timedelta(days=1)).timestamp()),
            )
            outcome = f"muted until {until.date().isoformat()} by {user}"
            reply = (
                f":mute: <@{user}> muted *{series}* for {self.settings.mute_days} days: costguard posts no new "
                f"alerts for it until {until.date().isoformat()}. Its baseline keeps learning meanwhile."
            )
        self.store.update_spend_alert(job.subject, changes)
        self.store.audit(job.subject, {**row, "decision": "approved", "result": EXECUTED, "outcome": outcome})
        record = {**alert, **changes}
        found = self.messages.get(job.channel, job.message_ts)
        if found is not None:
            fallback, current = found
            updated = with_status(current, job.subject, status_text(record), keep_buttons=not record.get("muted_until"))
            if updated is not None:
                self.messages.update(job.channel, job.message_ts, fallback, updated)
        self.messages.reply(job.channel, job.message_ts, reply)
        return {"job": job.job_id, "result": EXECUTED, "outcome": outcome}

    # -- a vote that is not yet enough ---------------------------------------------------------------
    def _progress(self, job: Job, action: Action, now: datetime) -> dict[str, Any]:
        text = (
            f":hourglass_flowing_sand: *{action.label}*: {len(job.approvers)} of {job.needed} approvals "
            f"({_who(job.approvers)}); waiting for a different approver"
        )
        self._show(job, text, keep_buttons=True)
        self.messages.reply(
            job.channel,
            job.message_ts,
            f"{_who(job.approvers[-1:])} approved *{action.label}* "
            f"({len(job.approvers)} of {job.needed}); it runs when a second, different approver approves.",
        )
        return {"job": job.job_id, "result": "progress"}

    # -- enough approvals ----------------------------------------------------------------------------
    def _execute(self, job: Job, action: Action, now: datetime) -> dict[str, Any]:
        at = now.isoformat()
        record = self.store.finding(job.account, job.subject)
        row: dict[str, Any] = {
            "at": at,
            "subject": job.subject,
            "action": action.id,
            "by": job.approvers[-1] if job.approvers else "",
            "approvers": list(job.approvers),
            "job_id": job.job_id,
            "requested_at": job.requested_at,
            "dry_run": self.settings.dry_run,
        }
        if record is None:
            self.store.audit(job.subject, {**row, "decision": "refused", "reason": "finding no longer known"})
            return {"job": job.job_id, "result": REFUSED}
        f = FindingRef.from_record(job.subject, record)
        row |= {"resource": f.resource_id, "resource_type": f.resource_type, "region": f.region, "rule": f.rule}
        key = claim_key(action.id, self.settings.dry_run, f.first_seen)
        claim = self.store.claim(f.id, key, job.job_id, at)
        if claim is None:
            # Another click (or a concurrent approver) holds this (finding, action): nothing more to do.
            self.store.audit(f.id, {**row, "decision": "ignored", "reason": "already claimed by another click"})
            return {"job": job.job_id, "result": "duplicate"}

        if f.status != OPEN:
            return self._refuse(job, action, f, key, row, check=Check(False, f"the finding is {f.status}"), now=now)
        check = action.check(f, observe(self.clients, f))
        row["evidence"] = dict(check.evidence)
        if not check.ok:
            return self._refuse(job, action, f, key, row, check=check, now=now)

        ctx = RunContext(
            now=now,
            approvers=job.approvers,
            checkpoint=dict(claim.get("checkpoint") or {}),
            save=lambda name, value: self.store.save_checkpoint(f.id, key, name, value),
            snooze=lambda until: self.store.snooze(
                f.account, f.id, until.isoformat(), int((until + timedelta(days=1)).timestamp())
            ),
            snooze_days=self.settings.snooze_days,
            waiter_delay=self.settings.waiter_delay,
            waiter_attempts=self.settings.waiter_attempts,
        )
        if self.settings.dry_run:
            plan = action.plan(f, ctx)
            result = {"plan": plan}
            self.store.finish_claim(f.id, key, DRY_RUN, result, at)
            self.store.audit(f.id, {**row, "decision": "approved", "result": DRY_RUN, "would": plan})
            self._show(
                job, f":test_tube: Dry run: would {plan} · approved by {_who(job.approvers)}", keep_buttons=False
            )
            self.messages.reply(
                job.channel,
                job.message_ts,
                f":test_tube: Dry run: {_who(job.approvers)} approved *{action.label}* on `{f.label}`. "
                f"costguard would {plan}. Checked first: {check.reason}. Nothing was changed "
                "(deployed with approvals_dry_run=true).",
            )
            return {"job": job.job_id, "result": DRY_RUN, "plan": plan}

        try:
            outcome = action.run(self.clients, f, ctx)
        except Exception as error:
            self.store.finish_claim(f.id, key, FAILED, {"error": type(error).__name__}, at)
            self.store.audit(f.id, {**row, "decision": "approved", "result": FAILED, "error": type(error).__name__})
            raise  # the message is retried; this job resumes its own claim (and checkpoint)
        result = {"outcome": outcome, **ctx.checkpoint}
        self.store.finish_claim(f.id, key, EXECUTED, result, at)
        self.store.audit(
            f.id, {**row, "decision": "approved", "result": EXECUTED, "outcome": outcome, **ctx.checkpoint}
        )
        if action.id != "snooze":
            self.store.update_finding(
                f.account,
                f.id,
                {
                    "status": "kept" if action.id == "keep" else "remediated",
                    "remediation": {"action": action.id, "by": list(job.approvers), "at": at, "outcome": outcome},
                    "expires_at": int((now + SETTLED_RETENTION).timestamp()),
                },
            )
        self._show(
            job,
            f":white_check_mark: {outcome} · approved by {_who(job.approvers)} · {now:%Y-%m-%d %H:%M} UTC",
            keep_buttons=False,
        )
        note = f" {action.note}" if action.note else ""
        self.messages.reply(
            job.channel,
            job.message_ts,
            f":white_check_mark: {_who(job.approvers)} approved *{action.label}* on `{f.label}`: {outcome}. "
            f"Checked first: {check.reason}.{note}",
        )
        return {"job": job.job_id, "result": EXECUTED, "outcome": outcome}

    def _refuse(
        self, job: Job, action: Action, f: FindingRef, key: str, row: Mapping[str, Any], *, check: Check, now: datetime
    ) -> dict[str, Any]:
        at = now.isoformat()
        self.store.finish_claim(f.id, key, REFUSED, {"reason": check.reason}, at)
        self.store.audit(f.id, {**row, "decision": "approved", "result": REFUSED, "reason": check.reason})
        self._show(job, f":no_entry: Not done: {check.reason} · approved by {_who(job.approvers)}", keep_buttons=False)
        self.messages.reply(
            job.channel,
            job.message_ts,
            f":no_entry: {_who(job.approvers)} approved *{action.label}* on `{f.label}`, but costguard refused: "
            f"{check.reason}. Nothing was changed.",
        )
        return {"job": job.job_id, "result": REFUSED, "reason": check.reason}

    def _show(self, job: Job, text: str, *, keep_buttons: bool) -> None:
        found = self.messages.get(job.channel, job.message_ts)
        if found is None:
            return
        fallback, current = found
        updated = with_status(current, job.subject, text, keep_buttons=keep_buttons)
        if updated is not None:
            self.messages.update(job.channel, job.message_ts, fallback, updated)
