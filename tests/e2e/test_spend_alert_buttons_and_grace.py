"""Acknowledge and Mute on a spend alert, and the idle grace period, on the real protocols: the spend watch
and idle sweep handlers on moto, the Slack stand-in's signed clicks through the Function URL, the worker fed
by the SQS stand-in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from costguard.adapters.state_store import DynamoSpendStore
from costguard.approvals.actions import TAG_APPROVED_BY, TAG_KEEP
from costguard.approvals.grace import GRACE_APPROVER
from costguard.approvals.model import action_id
from costguard.approvals.spend import alert_id
from costguard.handlers import idle_sweep, spend_watch
from costguard_local.lambda_runtime import FakeLambdaContext, scheduled_event
from costguard_local.seed import ce_response, load_workshop, seed_ce, usage_split
from costguard_local.standins.slack import SlackMessage

from tests.conftest import CHANNEL
from tests.e2e.conftest import APPROVER, NOW, STRANGER, TABLE, World, configure

pytestmark = pytest.mark.functional
GLUE = "AWS Glue"
SCOPE = "UnblendedCost#SERVICE"
ALERT = alert_id(SCOPE, GLUE, date(2018, 10, 10))


def run_spend(day: date) -> dict[str, Any]:
    now = datetime(day.year, day.month, day.day, 13, 0, tzinfo=UTC)
    result: dict[str, Any] = spend_watch.handler(scheduled_event(now), FakeLambdaContext("spend-watch"))
    return result


@pytest.fixture
def alerted(world: World) -> SlackMessage:
    """The Glue step of the workshop data, alerted on 2018-10-11 with Acknowledge and Mute buttons."""
    rows = load_workshop()
    seed_ce(world.moto.endpoint, [ce_response(rows, date(2018, 6, 12), date(2018, 10, 10))])
    run_spend(date(2018, 10, 10))  # the first run replays the history silently
    shares = [("USE1-DPU-Hour", 0.9, None), ("USE1-Crawler-DPU-Hour", 0.1, None)]
    seed_ce(
        world.moto.endpoint,
        [
            ce_response(rows, date(2018, 10, 8), date(2018, 10, 11)),
            usage_split(rows, GLUE, date(2018, 9, 26), date(2018, 10, 11), shares),
        ],
    )
    report = run_spend(date(2018, 10, 11))
    assert [(e["series"], e["action"]) for e in report["events"]] == [(GLUE, "open")]
    [message] = [m for m in world.slack.messages_in(CHANNEL) if GLUE in m.text and not m.thread_ts]
    return message


def press(world: World, message: SlackMessage, action: str, user: str = APPROVER) -> int:
    payload = world.slack.build_block_actions_payload(message, action_id(action, ALERT), user_id=user)
    status, _ = world.slack.send_interaction(world.url, payload)
    return status


def current(world: World, ts: str) -> SlackMessage:
    [m] = [m for m in world.slack.messages_in(CHANNEL) if m.ts == ts]
    return m


def test_acknowledge_updates_the_alert_in_place_replies_and_audits(world: World, alerted: SlackMessage) -> None:
    [buttons] = [b for b in alerted.blocks if b["type"] == "actions"]
    assert buttons["block_id"] == ALERT and [e["value"] for e in buttons["elements"]] == [ALERT, ALERT]

    assert press(world, alerted, "acknowledge") == 200
    assert world.worker.drain().processed == 1
    updated = current(world, alerted.ts)
    assert updated.updated  # chat.update, not a new message
    [status] = [b for b in updated.blocks if b.get("block_id") == f"{ALERT}.status"]
    assert f"Acknowledged by <@{APPROVER}>" in status["elements"][0]["text"]
    [reply] = world.slack.thread(CHANNEL, alerted.ts)[1:]
    assert reply.text == f":eyes: <@{APPROVER}> acknowledged this alert."
    rows = world.store.audit_rows(ALERT)
    assert [(r["decision"], r["by"]) for r in rows if r.get("queued")] == [("approved", APPROVER)]
    [done] = [r for r in rows if r.get("result") == "executed"]
    assert done["action"] == "acknowledge" and done["series"] == GLUE and done["by"] == APPROVER
    assert world.store.spend_alert(ALERT)["acknowledged_by"] == APPROVER  # type: ignore[index]

    assert press(world, alerted, "acknowledge", user="U0SECOND") == 200  # a second acknowledgement: a note only
    assert world.queued() == 0
    assert world.slack.ephemerals[-1].text == f"<@{APPROVER}> already acknowledged this alert."


def test_a_non_approver_cannot_acknowledge(world: World, alerted: SlackMessage) -> None:
    assert press(world, alerted, "acknowledge", user=STRANGER) == 200
    assert world.queued() == 0 and world.updates() == 0
    assert world.slack.thread(CHANNEL, alerted.ts)[1:] == []
    assert "not an approver for *Acknowledge*" in world.slack.ephemerals[-1].text
    [row] = world.store.audit_rows(ALERT)
    assert (row["decision"], row["by"], row["reason"]) == ("refused", STRANGER, "not an approver")
    assert "acknowledged_by" not in world.store.spend_alert(ALERT)  # type: ignore[operator]


def test_an_alert_id_on_another_message_is_refused(world: World, alerted: SlackMessage) -> None:
    payload = world.slack.build_block_actions_payload(alerted, action_id("acknowledge", ALERT), user_id=APPROVER)
    payload["container"] = {**payload["container"], "message_ts": "1500000000.000001"}
    assert world.slack.send_interaction(world.url, payload)[0] == 400
    assert world.queued() == 0 and world.store.audit_rows(ALERT) == []


def test_mute_records_a_mute_the_spend_watch_reads_and_says_so_in_the_thread(
    world: World, alerted: SlackMessage
) -> None:
    assert press(world, alerted, "mute") == 200
    world.worker.drain()
    clicked = datetime.now(UTC)
    mutes = DynamoSpendStore(world.moto.client("dynamodb"), TABLE).mutes(SCOPE, clicked.isoformat())
    until = datetime.fromisoformat(mutes[GLUE])
    assert timedelta(days=29) < until - clicked <= timedelta(days=30)  # MUTE_DAYS defaults to 30
    later = (clicked + timedelta(days=31)).isoformat()
    assert DynamoSpendStore(world.moto.client("dynamodb"), TABLE).mutes(SCOPE, later) == {}  # expired
    [reply] = world.slack.thread(CHANNEL, alerted.ts)[1:]
    assert reply.text.startswith(f":mute: <@{APPROVER}> muted *{GLUE}* for 30 days")
    updated = current(world, alerted.ts)
    assert not [b for b in updated.blocks if b.get("block_id") == ALERT]  # the buttons gave way to the status
    [row] = [r for r in world.store.audit_rows(ALERT) if r.get("result") == "executed"]
    assert row["action"] == "mute" and row["by"] == APPROVER


# -- the grace period -----------------------------------------------------------------------------------------

GRACE_DAYS = 2


def sweep_on(day: int) -> dict[str, Any]:
    report: dict[str, Any] = idle_sweep.handler(
        scheduled_event(NOW + timedelta(days=day), rule="costguard-idle-sweep"), FakeLambdaContext("idle-sweep")
    )
    return report


def digest_of(world: World, fid: str, day: int) -> SlackMessage:
    ts = (NOW + timedelta(days=day)).date().isoformat()
    found = [m for m in world.slack.messages_in(CHANNEL) if not m.thread_ts and fid in str(m.blocks) and ts in m.text]
    [m] = found
    return m


def announcements(world: World) -> list[SlackMessage]:
    return [m for m in world.slack.messages_in(CHANNEL) if m.thread_ts and "Grace period" in m.text]


@pytest.fixture
def graced(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    configure(monkeypatch, AUTO_REMEDIATE_DAYS=str(GRACE_DAYS))
    return world


def test_grace_period_announces_on_day_n_minus_1_and_remediates_on_day_n(graced: World) -> None:
    w = graced
    fid = w.fid("ebs-unattached", "loose-volume")
    sweep_on(0)
    assert announcements(w) == [] and w.queued() == 0

    sweep_on(1)
    sweep_on(1)  # a retried run announces nothing twice
    [note] = announcements(w)
    assert note.thread_ts == digest_of(w, fid, 1).ts
    assert "will be remediated tomorrow unless someone presses *Keep* or *Snooze*" in note.text
    assert w.ids["loose-volume"] in note.text and "*Snapshot & delete*" in note.text
    assert w.ids["loose-eip"] not in note.text  # release-eip needs two people: never automatic
    assert w.queued() == 0 and w.volume() is not None

    sweep_on(2)
    assert w.queued() == 1  # the volume's default (first destructive) action
    drained = w.worker.drain()
    assert (drained.processed, drained.failed) == (1, 0)
    assert w.volume() is None
    [backup] = w.backups(fid)
    assert {t["Key"]: t["Value"] for t in backup["Tags"]}[TAG_APPROVED_BY] == "costguard grace period"
    rows = w.store.audit_rows(fid)
    [queued] = [r for r in rows if r.get("queued")]
    assert queued["by"] == GRACE_APPROVER and "grace period" in queued["reason"]
    [done] = [r for r in rows if r.get("result") == "executed"]
    assert done["by"] == GRACE_APPROVER and done["action"] == "snapshot-delete-volume"
    assert done["snapshot_id"] == backup["SnapshotId"]
    reply = w.slack.thread(CHANNEL, digest_of(w, fid, 2).ts)[-1]
    assert reply.text.startswith(f":white_check_mark: {GRACE_APPROVER} approved *Snapshot & delete*")

    sweep_on(3)  # queued once per episode
    assert w.queued() == 0


def test_a_keep_press_before_day_n_prevents_the_remediation(graced: World) -> None:
    w = graced
    fid = w.fid("ebs-unattached", "loose-volume")
    sweep_on(0)
    sweep_on(1)
    assert len(announcements(w)) == 1
    payload = w.slack.build_block_actions_payload(digest_of(w, fid, 1), action_id("keep", fid), user_id=APPROVER)
    assert w.slack.send_interaction(w.url, payload)[0] == 200
    w.worker.drain()
    volume = w.volume()
    assert volume is not None and TAG_KEEP in {t["Key"] for t in volume["Tags"]}

    sweep_on(2)
    assert w.queued() == 0
    assert w.volume() is not None and w.backups(fid) == []
    assert not [r for r in w.store.audit_rows(fid) if r["by"] == GRACE_APPROVER]
