"""The interactivity endpoint's service: everything Slack waits for (it gives up after 3 seconds), so only
checks, a few DynamoDB writes and one queue message; the worker does the rest.

Order matters: size → signature (constant time, 5-minute window) → parse → replay guard (a conditional
write keyed on the signature) → finding and action looked up server-side → message validated against the
stored digest → authorisation → approval vote → enqueue. Nothing before the replay guard writes anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from costguard.approvals.actions import REGISTRY, FindingRef
from costguard.approvals.model import Click, Job, JobKind, parse_form
from costguard.approvals.settings import InteractionSettings
from costguard.approvals.signature import MAX_AGE_SECONDS, Rejected, verify
from costguard.approvals.spend import SPEND_ACTIONS, is_spend_alert
from costguard.approvals.store import FINAL, ApprovalStore

REPLAY_TTL_SECONDS = 2 * MAX_AGE_SECONDS  # past this the timestamp check refuses it anyway
VOTE_TTL_DAYS = 14
DIGEST_LOOKBACK_DAYS = 7  # digest markers expire after 7 days (idle/store.py)
OPEN = "open"


@dataclass(frozen=True)
class Request:
    method: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes  # exactly as received (base64-decoded)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str = ""
    outcome: str = ""  # for logs and metrics: rejected | refused | vote | queued | ignored


class Queue(Protocol):
    def send(self, job: Job) -> None: ...


class Responder(Protocol):
    def ephemeral(self, response_url: str, text: str) -> None: ...


def claim_key(action: str, dry_run: bool, first_seen: str) -> str:
    """One execution per (finding, action) per idle episode (a finding idle again later is a new episode)."""
    return f"{action}#{first_seen}" + ("#dry-run" if dry_run else "")


def request_key(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()[:40]


def _days(first_seen: str, last_seen: str) -> list[str]:
    try:
        last = date.fromisoformat(last_seen)
    except ValueError:
        return []
    try:
        first = max(date.fromisoformat(first_seen), last - timedelta(days=DIGEST_LOOKBACK_DAYS))
    except ValueError:
        first = last
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


@dataclass
class Intake:
    settings: InteractionSettings
    secret: Callable[[], str]  # the signing secret, fetched (cached) only when a request needs it
    store: ApprovalStore
    queue: Queue
    members: Callable[[str], Collection[str]]  # user-group id -> user ids
    responder: Responder
    account: str

    def handle(self, req: Request, now: datetime) -> Answer:
        try:
            return self._handle(req, now)
        except Rejected as rejected:
            return Answer(rejected.status, "", f"rejected: {rejected.reason}")

    def _handle(self, req: Request, now: datetime) -> Answer:
        if req.method != "POST":
            raise Rejected(405, "method")
        if len(req.body) > self.settings.max_body_bytes:
            raise Rejected(400, "body too large")
        signature = req.headers.get("x-slack-signature")
        verify(self.secret(), req.body, req.headers.get("x-slack-request-timestamp"), signature, now=now.timestamp())
        click = parse_form(req.body)
        if self.settings.team_id and click.team != self.settings.team_id:
            raise Rejected(401, "another workspace")
        key = request_key(str(signature))
        if not self.store.remember_request(key, int(now.timestamp()) + REPLAY_TTL_SECONDS):
            raise Rejected(401, "replayed")

        if is_spend_alert(click.subject):
            return self._spend_alert(click, key, now)
        action = REGISTRY.get(click.action)
        if action is None:
            raise Rejected(400, "unknown action")
        record = self.store.finding(self.account, click.subject)
        if record is None:
            raise Rejected(400, "unknown finding")
        finding = FindingRef.from_record(click.subject, record)
        if not action.applies(finding.rule):
            raise Rejected(400, "action does not apply to this finding")
        if click.channel != self.settings.channel or click.message_ts not in self.store.digest_messages(
            self.account, _days(finding.first_seen, finding.last_seen)
        ):
            raise Rejected(400, "not a costguard digest message for this finding")

        at = now.isoformat()
        row: dict[str, Any] = {
            "at": at,
            "subject": finding.id,
            "action": action.id,
            "by": click.user,
            "request": key,
            "resource": finding.resource_id,
            "rule": finding.rule,
        }
        policy = self.settings.policy
        if not policy.allows(action.id, click.user, self.members):
            self.store.audit(finding.id, {**row, "decision": "refused", "reason": "not an approver"})
            self._tell(click, f"You are not an approver for *{action.label}*; nothing was done. (Recorded.)")
            return Answer(200, "", "refused")
        if finding.status != OPEN:
            self.store.audit(finding.id, {**row, "decision": "refused", "reason": f"finding is {finding.status}"})
            self._tell(click, f"This finding is {finding.status}; nothing to do.")
            return Answer(200, "", "refused")
        claim = self.store.claim_of(finding.id, claim_key(action.id, self.settings.dry_run, finding.first_seen))
        if claim is not None and claim["status"] in FINAL:
            self._tell(click, f"*{action.label}* was already handled for {finding.label} ({claim['status']}).")
            return Answer(200, "", "ignored")

        needed = policy.needed(action.id)
        fresh = self.store.add_approval(
            finding.id, action.id, click.user, at, int((now + timedelta(days=VOTE_TTL_DAYS)).timestamp())
        )
        votes = [user for user, _ in self.store.approvals(finding.id, action.id)]
        if needed > 1 and not fresh:
            self._tell(click, f"You already approved *{action.label}*; it needs a second, different approver.")
            return Answer(200, "", "ignored")
        kind: JobKind = "execute" if len(votes) >= needed else "progress"
        approvers = tuple(votes[:needed]) if kind == "execute" else tuple(votes)
        if needed == 1:
            approvers = (click.user,)
        self.queue.send(
            Job(
                job_id=key,
                kind=kind,
                account=self.account,
                subject=finding.id,
                action=action.id,
                approvers=approvers,
                needed=needed,
                channel=self.settings.channel,
                message_ts=click.message_ts,
                requested_at=at,
            )
        )
        decision = "approved" if kind == "execute" else "approval"
        self.store.audit(
            finding.id, {**row, "decision": decision, "approvals": f"{len(approvers)} of {needed}", "queued": True}
        )
        return Answer(200, "", "queued" if kind == "execute" else "vote")

    def _spend_alert(self, click: Click, key: str, now: datetime) -> Answer:
        """Acknowledge or Mute on a spend alert: looked up by its opaque id, authorised like any action
        (always one approver: neither touches a resource), then queued for the worker, which has the Slack
        client to update the alert and reply in its thread."""
        spend = SPEND_ACTIONS.get(click.action)
        if spend is None:
            raise Rejected(400, "unknown action")
        alert = self.store.spend_alert(click.subject)
        if alert is None:
            raise Rejected(400, "unknown alert")
        if click.channel != alert.get("channel") or click.message_ts != alert.get("ts"):
            raise Rejected(400, "not the costguard message of this alert")
        at = now.isoformat()
        row: dict[str, Any] = {
            "at": at,
            "subject": click.subject,
            "action": spend.id,
            "by": click.user,
            "request": key,
            "series": alert.get("series"),
            "day": alert.get("day"),
        }
        if not self.settings.policy.allows(spend.id, click.user, self.members):
            self.store.audit(click.subject, {**row, "decision": "refused", "reason": "not an approver"})
            self._tell(click, f"You are not an approver for *{spend.label}*; nothing was done. (Recorded.)")
            return Answer(200, "", "refused")
        if spend.id == "acknowledge" and alert.get("acknowledged_by"):
            self._tell(click, f"<@{alert['acknowledged_by']}> already acknowledged this alert.")
            return Answer(200, "", "ignored")
        if spend.id == "mute" and str(alert.get("muted_until") or "") > at:
            self._tell(click, f"This series is already muted until {str(alert['muted_until'])[:10]}.")
            return Answer(200, "", "ignored")
        self.queue.send(
            Job(
                job_id=key,
                kind="execute",
                account=self.account,
                subject=click.subject,
                action=spend.id,
                approvers=(click.user,),
                channel=click.channel,
                message_ts=click.message_ts,
                requested_at=at,
            )
        )
        self.store.audit(click.subject, {**row, "decision": "approved", "queued": True})
        return Answer(200, "", "queued")

    def _tell(self, click: Click, text: str) -> None:
        if click.response_url.startswith(self.settings.response_url_prefix):
            self.responder.ephemeral(click.response_url, text)
