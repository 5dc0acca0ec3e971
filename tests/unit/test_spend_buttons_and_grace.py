"""Pure and in-memory parts of the spend-alert buttons (Acknowledge, Mute) and the idle grace period."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from costguard.adapters.cost_explorer import CostDay
from costguard.adapters.state_store import MemorySpendStore
from costguard.approvals.authz import ApproverPolicy
from costguard.approvals.execute import Worker
from costguard.approvals.grace import Candidate, GracePlan, default_action, plan
from costguard.approvals.model import Job
from costguard.approvals.settings import KNOWN_ACTIONS, GraceSettings, WorkerSettings
from costguard.approvals.spend import alert_buttons, alert_id
from costguard.approvals.store import MemoryApprovalStore
from costguard.idle.inventory import ClientFactory
from costguard.settings import SettingsError, SpendWatchSettings
from costguard.spend.service import run_spend_watch, scope_of

TODAY = date(2024, 5, 10)
VOLUME = "idl-" + "a" * 20


# -- grace period: the pure decision ----------------------------------------------------------------------


def grace(
    first_seen: str,
    *,
    marks: dict[str, Any] | None = None,
    excluded: set[str] | None = None,
    rule: str = "ebs-unattached",
    days: int = 3,
) -> GracePlan:
    return plan(TODAY, [Candidate(VOLUME, rule, first_seen)], days=days, excluded=excluded or set(), marks=marks or {})


def test_grace_announces_on_day_n_minus_1_and_remediates_on_day_n() -> None:
    assert grace("2024-05-09").announce == [] and grace("2024-05-09").remediate == []  # 1 day idle of 3
    assert grace("2024-05-08").announce == [VOLUME]  # day N-1
    announced = {VOLUME: {"first_seen": "2024-05-07", "announced": "2024-05-09"}}
    assert grace("2024-05-07", marks=announced).remediate == [(VOLUME, "snapshot-delete-volume")]  # day N
    assert grace("2024-05-07", marks=announced).announce == []


def test_grace_never_remediates_without_an_announcement_the_day_before() -> None:
    # Turned on for a finding already 30 days idle: announced today, remediated tomorrow at the earliest.
    assert grace("2024-04-10").announce == [VOLUME] and grace("2024-04-10").remediate == []
    today = {VOLUME: {"first_seen": "2024-04-10", "announced": TODAY.isoformat()}}
    assert grace("2024-04-10", marks=today) == plan(TODAY, [], days=3, excluded=(), marks={})


def test_grace_skips_objections_repeats_nothing_and_forgets_earlier_episodes() -> None:
    assert grace("2024-05-01", excluded={VOLUME}).announce == []
    done = {VOLUME: {"first_seen": "2024-05-01", "announced": "2024-05-08", "enqueued": "2024-05-09"}}
    assert grace("2024-05-01", marks=done).remediate == []  # queued once per episode
    old = {VOLUME: {"first_seen": "2024-03-01", "announced": "2024-03-03", "enqueued": "2024-03-04"}}
    assert grace("2024-05-08", marks=old).announce == [VOLUME]  # idle again: a new episode starts over
    assert grace("2024-05-01", days=0).announce == []  # off


def test_grace_uses_the_first_destructive_action_and_skips_rules_without_one() -> None:
    assert default_action("rds-idle").id == "snapshot-delete-db"  # type: ignore[union-attr]  # not stop-db
    assert default_action("ec2-idle") is None  # stopping is its only remedy: never automatic
    assert grace("2024-05-01", rule="ec2-idle").announce == []


def test_grace_settings_need_the_queue_only_when_on() -> None:
    assert GraceSettings.from_env({}).days == 0
    assert GraceSettings.from_env({"AUTO_REMEDIATE_DAYS": "5", "APPROVALS_QUEUE_URL": "https://q"}).days == 5
    with pytest.raises(SettingsError, match="APPROVALS_QUEUE_URL"):
        GraceSettings.from_env({"AUTO_REMEDIATE_DAYS": "5"})
    with pytest.raises(SettingsError, match="AUTO_REMEDIATE_DAYS"):
        GraceSettings.from_env({"AUTO_REMEDIATE_DAYS": "-1"})


# -- spend alert buttons -------------------------------------------------------------------------------------


def test_alert_ids_are_opaque_and_stable_and_buttons_carry_only_them() -> None:
    a = alert_id("UnblendedCost#SERVICE", "AWS Glue", date(2018, 10, 10))
    assert a == alert_id("UnblendedCost#SERVICE", "AWS Glue", date(2018, 10, 10))
    assert a != alert_id("UnblendedCost#SERVICE", "AWS Glue", date(2018, 10, 11))
    assert a.startswith("spd-") and "Glue" not in a and len(a) == 24
    buttons = [b.to_dict() for b in alert_buttons(a)]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (f"costguard:{x}:{a}", a) for x in ("acknowledge", "mute")
    ]
    assert {"acknowledge", "mute"} <= KNOWN_ACTIONS
    policy = ApproverPolicy.parse('{"mute": ["U0MUTER"]}', "", "", KNOWN_ACTIONS)
    assert policy.allows("mute", "U0MUTER", lambda group: ())
    assert not policy.allows("acknowledge", "U0MUTER", lambda group: ())


@dataclass
class FakeMessages:
    blocks: list[dict[str, Any]]
    updates: list[list[dict[str, Any]]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def get(self, channel: str, ts: str) -> tuple[str, list[dict[str, Any]]] | None:
        return "alert", self.blocks

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self.blocks = blocks
        self.updates.append(blocks)

    def reply(self, channel: str, thread_ts: str, text: str) -> str:
        self.replies.append(text)
        return "1.000001"


def test_worker_acknowledges_then_mutes_a_spend_alert_in_place() -> None:
    alert = alert_id("scope", "AWS Glue", date(2018, 10, 10))
    store = MemoryApprovalStore()
    store.put_spend_alert(
        alert, {"scope": "scope", "series": "AWS Glue", "day": "2018-10-10", "channel": "C1", "ts": "1.1"}
    )
    buttons = {"type": "actions", "block_id": alert, "elements": [b.to_dict() for b in alert_buttons(alert)]}
    messages = FakeMessages([{"type": "header"}, buttons])
    worker = Worker(WorkerSettings(table="t", channel="C1", mute_days=30), store, ClientFactory(), messages)
    now = datetime(2018, 10, 11, 9, tzinfo=UTC)

    def job(action: str, user: str) -> Job:
        return Job(job_id=f"j-{action}", kind="execute", account="1", subject=alert, action=action,
                   approvers=(user,), channel="C1", message_ts="1.1", requested_at=now.isoformat())  # fmt: skip

    assert worker.run(job("acknowledge", "U0ALICE"), now)["result"] == "executed"
    assert store.spend_alert(alert)["acknowledged_by"] == "U0ALICE"  # type: ignore[index]
    [status] = [b for b in messages.blocks if b.get("block_id") == f"{alert}.status"]
    assert "Acknowledged by <@U0ALICE>" in status["elements"][0]["text"]
    assert any(b.get("block_id") == alert for b in messages.blocks)  # Mute is still offered
    assert messages.replies == [":eyes: <@U0ALICE> acknowledged this alert."]

    assert worker.run(job("mute", "U0BOB"), now)["result"] == "executed"
    [mute] = store.mutes("scope").values()
    assert mute["until"] == (now + timedelta(days=30)).isoformat() and mute["by"] == "U0BOB"
    [status] = [b for b in messages.blocks if b.get("block_id") == f"{alert}.status"]
    assert "Acknowledged by <@U0ALICE>" in status["elements"][0]["text"]
    assert "muted until 2018-11-10 by <@U0BOB>" in status["elements"][0]["text"]
    assert not any(b.get("block_id") == alert for b in messages.blocks)  # buttons gone once muted
    assert "posts no new alerts for it until 2018-11-10" in messages.replies[-1]
    assert [(r["action"], r["by"], r["result"]) for r in store.audit_rows(alert)] == [
        ("acknowledge", "U0ALICE", "executed"),
        ("mute", "U0BOB", "executed"),
    ]


# -- the spend watch honours a mute ----------------------------------------------------------------------------

START = date(2024, 1, 1)
SPIKES = {date(2024, 5, 1), date(2024, 5, 15), date(2024, 6, 10)}


def cost(day: date) -> float:
    return 100.0 if day in SPIKES else 10.0 + 0.3 * math.sin((day - START).days)


@dataclass
class FakeCostExplorer:
    requests: int = 0

    def daily_costs(self, start: date, end: date) -> list[CostDay]:
        self.requests += 1
        days = [start + timedelta(days=i) for i in range((end - start).days)]
        return [CostDay(day=d, estimated=False, costs={"Svc": cost(d)}) for d in days]

    def drill_down(self, series: str, start: date, end: date) -> None:
        return None


@dataclass
class FakeNotifier:
    posts: list[tuple[str, str | None]] = field(default_factory=list)

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None) -> str:
        self.posts.append((text, thread_ts))
        return f"{len(self.posts)}.000000"


def test_a_muted_series_posts_no_new_alert_until_the_mute_expires() -> None:
    settings = SpendWatchSettings(table="t", channel="C1", token_parameter="/p")
    store, notifier, ce = MemorySpendStore(), FakeNotifier(), FakeCostExplorer()
    scope = scope_of(settings)

    def run(day: date) -> dict[str, Any]:
        now = datetime(day.year, day.month, day.day, 13, tzinfo=UTC)
        report = run_spend_watch(now, settings=settings, ce=ce, store=store, notifier=notifier, buttons=alert_buttons)  # type: ignore[arg-type]
        return report.as_dict()

    run(date(2024, 4, 20))  # the first run replays the history silently
    day, reports = date(2024, 4, 21), {}
    while day <= date(2024, 6, 12):
        if day == date(2024, 5, 3):  # someone pressed Mute on the 05-01 alert: 30 days
            store.put_mute(scope, "Svc", {"until": datetime(2024, 6, 2, tzinfo=UTC).isoformat(), "by": "U0BOB"})
        reports[day] = run(day)
        day += timedelta(days=1)
    opened = [d - timedelta(days=1) for d, r in reports.items() if any(e["action"] == "open" for e in r["events"])]
    assert opened == [date(2024, 5, 1), date(2024, 6, 10)]  # 05-15 fell inside the mute, 06-10 after it
    assert reports[date(2024, 5, 16)]["muted"] == 1
    roots = [text for text, thread in notifier.posts if thread is None]
    assert len(roots) == 2
    # State still advanced during the mute: the 05-15 spike opened (and later closed) an episode silently,
    # so the detector did not alert on it late, and it never learnt the spike as normal.
    assert all(r["muted"] == 0 for d, r in reports.items() if d > date(2024, 6, 2))
    # The alert record the buttons point at: channel and ts of the posted message.
    alert = alert_id(scope, "Svc", date(2024, 6, 10))
    assert store.items[(f"SPENDALERT#{alert}", "-")]


def test_grace_never_takes_a_two_person_action() -> None:
    candidate = [Candidate(VOLUME, "eip-unassociated", "2024-05-01")]
    assert plan(TODAY, candidate, days=3, excluded=(), marks={}).announce == [VOLUME]
    assert plan(TODAY, candidate, days=3, excluded=(), marks={}, two_person={"release-eip"}).announce == []
