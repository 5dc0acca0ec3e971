"""Issue 4's whole story: idle sweep on moto → digest with buttons in Slack → a signed block_actions click
arrives as a Function URL event → the worker snapshots and deletes the volume → message updated in place,
audit row written, thread reply says who did what."""

from __future__ import annotations

import json

import pytest
from costguard.approvals.actions import TAG_APPROVED_BY, TAG_REMEDIATION, TAG_SOURCE

from tests.conftest import CHANNEL
from tests.e2e.conftest import APPROVER, OPS, World, configure

pytestmark = pytest.mark.functional


def test_approve_snapshot_and_delete_of_an_idle_volume_end_to_end(world: World) -> None:
    report = world.sweep()
    assert report["findings"] == 2 and report["posted"] >= 1
    fid = world.fid("ebs-unattached", "loose-volume")
    digest = world.message_for(fid)
    [buttons] = [b for b in digest.blocks if b["type"] == "actions" and b["block_id"] == fid]
    assert [e["value"] for e in buttons["elements"]] == [fid, fid, fid]  # values carry only the opaque id
    assert [e["action_id"] for e in buttons["elements"]] == [
        f"costguard:{a}:{fid}" for a in ("snapshot-delete-volume", "snooze", "keep")
    ]

    status, _ = world.click("snapshot-delete-volume", fid)
    assert status == 200
    assert world.queued() == 1
    drained = world.worker.drain()
    assert (drained.processed, drained.failed) == (1, 0)

    assert world.volume() is None  # gone from moto
    [backup] = world.backups(fid)
    assert backup["State"] == "completed" and backup["VolumeId"] == world.ids["loose-volume"]
    tags = {t["Key"]: t["Value"] for t in backup["Tags"]}
    assert tags[TAG_REMEDIATION] == fid and tags[TAG_SOURCE] == world.ids["loose-volume"]
    assert tags[TAG_APPROVED_BY] == APPROVER

    # The digest is updated in place: the buttons gave way to the outcome and who approved it.
    updated = world.message_for(fid)
    assert updated.ts == digest.ts and updated.updated  # chat.update, not a new message
    assert not [b for b in updated.blocks if b.get("block_id") == fid]
    [status_block] = [b for b in updated.blocks if b.get("block_id") == f"{fid}.status"]
    text = status_block["elements"][0]["text"]
    assert f"Snapshot {backup['SnapshotId']} completed, then deleted volume" in text
    assert f"approved by <@{APPROVER}>" in text
    eip_fid = world.fid("eip-unassociated", "loose-eip")
    assert [b for b in updated.blocks if b.get("block_id") == eip_fid]  # the other finding keeps its buttons

    # A thread reply says who did what.
    [reply] = world.slack.thread(CHANNEL, digest.ts)[1:]
    assert reply.text.startswith(f":white_check_mark: <@{APPROVER}> approved *Snapshot & delete* on `")
    assert f"deleted volume {world.ids['loose-volume']}" in reply.text

    # The audit row: who, what, when, evidence, result.
    rows = world.store.audit_rows(fid)
    queued = [r for r in rows if r["decision"] == "approved" and r.get("queued")]
    [done] = [r for r in rows if r.get("result") == "executed"]
    assert len(queued) == 1 and queued[0]["by"] == APPROVER
    assert done["by"] == APPROVER and done["approvers"] == [APPROVER] and done["at"]
    assert done["evidence"]["state"] == "available" and done["evidence"]["attached_to"] == []
    assert done["snapshot_id"] == backup["SnapshotId"]
    assert world.store.finding("123456789012", fid)["status"] == "remediated"  # type: ignore[index]


def test_a_group_member_approves_and_a_second_click_is_told_it_is_done(world: World) -> None:
    world.sweep()
    fid = world.fid("ebs-unattached", "loose-volume")
    payload = world.payload("snapshot-delete-volume", fid, OPS)  # U0OPS approves through the user group
    assert world.slack.send_interaction(world.url, payload)[0] == 200
    world.worker.drain()
    assert world.volume() is None
    # The same (stale) message clicked again by someone else: the finding is settled: only an ephemeral note.
    again = {**payload, "user": {**payload["user"], "id": APPROVER}}
    assert world.slack.send_interaction(world.url, again)[0] == 200
    assert world.queued() == 0
    assert world.slack.ephemerals[-1].text == "This finding is remediated; nothing to do."


def test_dry_run_records_what_would_have_happened_and_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, DRY_RUN="true")
    world.sweep()
    fid = world.fid("ebs-unattached", "loose-volume")
    assert world.click("snapshot-delete-volume", fid)[0] == 200
    world.worker.drain()
    assert world.volume() is not None and world.backups(fid) == []
    [row] = [r for r in world.store.audit_rows(fid) if r.get("result") == "dry-run"]
    assert row["would"].startswith(f"snapshot volume {world.ids['loose-volume']}")
    reply = world.slack.thread(CHANNEL, world.message_for(fid).ts)[-1]
    assert reply.text.startswith(":test_tube: Dry run:") and "Nothing was changed" in reply.text
    assert json.dumps(world.message_for(fid).blocks).count("Dry run: would snapshot volume") == 1
