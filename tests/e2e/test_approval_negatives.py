"""What must cause nothing: forged, stale, replayed, unknown, unauthorised, half-approved, concurrent,
changed and kept. Each asserts the resource is unchanged and nothing was queued or updated that should not be."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from costguard.approvals.execute import Worker
from costguard.approvals.model import Job
from costguard.approvals.settings import WorkerSettings
from costguard.idle.inventory import ClientFactory
from costguard_local.idle_seed import ACCOUNT

from tests.conftest import CHANNEL
from tests.e2e.conftest import APPROVER, REGION, SECOND, STRANGER, TABLE, World

pytestmark = pytest.mark.functional
VOLUME = "snapshot-delete-volume"


@pytest.fixture
def swept(world: World) -> World:
    world.sweep()
    return world


def nothing_happened(w: World, fid: str, *, updates: int = 0) -> None:
    v = w.volume()
    assert v is not None and v["State"] == "available" and not v["Attachments"]
    assert w.backups(fid) == []
    assert w.queued() == 0
    assert w.updates() == updates
    assert [m for m in w.slack.messages_in(CHANNEL) if m.thread_ts] == []  # no thread replies


def test_forged_signature_is_401_and_causes_nothing(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    status, _ = swept.click(VOLUME, fid, secret="not-the-signing-secret")
    assert status == 401
    nothing_happened(swept, fid)
    assert swept.store.audit_rows(fid) == []


def test_a_body_altered_after_signing_is_401(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    headers, body = swept.slack.signed_request(swept.payload(VOLUME, fid))
    assert swept.post(headers, body.replace("U0APPROVER", "U0SECOND")) == 401
    nothing_happened(swept, fid)


def test_stale_timestamp_is_401_and_causes_nothing(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    status, _ = swept.click(VOLUME, fid, timestamp=int(time.time()) - 301)
    assert status == 401
    status, _ = swept.click(VOLUME, fid, timestamp=int(time.time()) + 400)  # from the future, too
    assert status == 401
    nothing_happened(swept, fid)


def test_replayed_request_is_401_and_queues_nothing_more(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    headers, body = swept.slack.signed_request(swept.payload(VOLUME, fid))
    assert swept.post(headers, body) == 200
    assert swept.queued() == 1
    audit = swept.store.audit_rows(fid)
    assert swept.post(headers, body) == 401  # the identical signed request, within the 5 minutes
    assert swept.queued() == 1
    assert swept.store.audit_rows(fid) == audit


def test_unknown_action_and_unknown_finding_are_400_and_cause_nothing(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    payload = swept.payload(VOLUME, fid)
    unknown_action = {**payload, "actions": [{**payload["actions"][0], "action_id": f"costguard:format-disk:{fid}"}]}
    ghost = "idl-" + "0" * 20
    unknown_finding = {
        **payload,
        "actions": [{**payload["actions"][0], "action_id": f"costguard:{VOLUME}:{ghost}", "value": ghost}],
    }
    mismatched = {**payload, "actions": [{**payload["actions"][0], "value": ghost}]}  # id and value disagree
    wrong_rule = {**payload, "actions": [{**payload["actions"][0], "action_id": f"costguard:release-eip:{fid}"}]}
    for forged in (unknown_action, unknown_finding, mismatched, wrong_rule):
        assert swept.slack.send_interaction(swept.url, forged)[0] == 400
    nothing_happened(swept, fid)
    assert swept.store.audit_rows(fid) == [] and swept.store.audit_rows(ghost) == []


def test_a_message_that_is_not_the_digest_is_400(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    payload = swept.payload(VOLUME, fid)
    elsewhere = {**payload, "container": {**payload["container"], "message_ts": "1700000999.000100"}}
    assert swept.slack.send_interaction(swept.url, elsewhere)[0] == 400
    nothing_happened(swept, fid)


def test_non_approver_gets_an_ephemeral_refusal_and_an_audit_row(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    status, _ = swept.click(VOLUME, fid, user=STRANGER)
    assert status == 200
    [note] = swept.slack.ephemerals
    assert note.via == "response_url" and note.user == STRANGER and "not an approver" in note.text
    [row] = swept.store.audit_rows(fid)
    assert row["decision"] == "refused" and row["by"] == STRANGER and row["reason"] == "not an approver"
    nothing_happened(swept, fid)


def test_one_approver_on_a_two_person_action_is_not_enough(swept: World) -> None:
    fid = swept.fid("eip-unassociated", "loose-eip")
    eip = swept.ids["loose-eip"]
    assert swept.click("release-eip", fid, user=APPROVER)[0] == 200
    swept.worker.drain()
    assert swept.ec2.describe_addresses(AllocationIds=[eip])["Addresses"]  # still allocated
    message = swept.message_for(fid)
    assert "1 of 2 approvals" in str(message.blocks)
    assert [b for b in message.blocks if b.get("block_id") == fid]  # the buttons stay for the second approver

    # The same approver again: refused, nothing queued.
    assert swept.click("release-eip", fid, user=APPROVER)[0] == 200
    assert "second, different approver" in swept.slack.ephemerals[-1].text
    assert swept.queued() == 0
    assert swept.ec2.describe_addresses(AllocationIds=[eip])["Addresses"]

    # A different approver: now it runs, and the record names both.
    assert swept.click("release-eip", fid, user=SECOND)[0] == 200
    swept.worker.drain()
    assert swept.ec2.describe_addresses(Filters=[{"Name": "allocation-id", "Values": [eip]}])["Addresses"] == []
    [done] = [r for r in swept.store.audit_rows(fid) if r.get("result") == "executed"]
    assert done["approvers"] == [APPROVER, SECOND]
    assert f"approved by <@{APPROVER}>, <@{SECOND}>" in str(swept.message_for(fid).blocks)


def test_five_concurrent_clicks_execute_once(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    payloads = [swept.payload(VOLUME, fid) for _ in range(5)]  # five distinct clicks (action_ts differs)
    with ThreadPoolExecutor(5) as pool:
        statuses = list(pool.map(lambda p: swept.slack.send_interaction(swept.url, p)[0], payloads))
    assert statuses == [200] * 5
    assert swept.queued() == 5
    swept.worker.drain()
    assert swept.volume() is None
    assert len(swept.backups(fid)) == 1
    rows = swept.store.audit_rows(fid)
    assert sum(r.get("result") == "executed" for r in rows) == 1
    assert sum(r["decision"] == "ignored" for r in rows) == 4
    replies = [m for m in swept.slack.messages_in(CHANNEL) if m.thread_ts]
    assert len(replies) == 1


def test_five_concurrent_workers_on_five_jobs_claim_once(swept: World) -> None:
    """The claim under real concurrency: five workers at once, one executes, the others find it taken."""
    fid = swept.fid("ebs-unattached", "loose-volume")
    digest = swept.message_for(fid)
    settings = WorkerSettings(table=TABLE, channel=CHANNEL, dry_run=False, waiter_delay=1, waiter_attempts=5)

    class NoSlack:
        def get(self, channel: str, ts: str) -> None:
            return None

        def update(self, *a: object) -> None:
            raise AssertionError("no update expected")

        def reply(self, channel: str, thread_ts: str, text: str) -> str:
            replies.append(text)
            return "1.0"

    replies: list[str] = []
    worker = Worker(settings, swept.store, ClientFactory(), NoSlack())
    jobs = [
        Job(
            job_id=f"job-{n}",
            kind="execute",
            account=ACCOUNT,
            subject=fid,
            action=VOLUME,
            approvers=(APPROVER,),
            channel=CHANNEL,
            message_ts=digest.ts,
            requested_at=datetime.now(UTC).isoformat(),
        )
        for n in range(5)
    ]
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda j: worker.run(j, datetime.now(UTC))["result"], jobs))
    assert sorted(results) == ["duplicate"] * 4 + ["executed"]
    assert swept.volume() is None and len(swept.backups(fid)) == 1 and len(replies) == 1


def test_a_volume_attached_meanwhile_is_refused_with_an_explanation(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    assert swept.click(VOLUME, fid)[0] == 200
    # Between the click and the worker, someone attaches the volume.
    ec2 = swept.ec2
    subnet = ec2.create_subnet(
        VpcId=ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"],
        CidrBlock="10.9.0.0/24",
        AvailabilityZone=f"{REGION}a",
    )["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0][
        "InstanceId"
    ]
    ec2.attach_volume(VolumeId=swept.ids["loose-volume"], InstanceId=instance, Device="/dev/sdf")
    swept.worker.drain()
    v = swept.volume()
    assert v is not None and v["Attachments"][0]["InstanceId"] == instance
    assert swept.backups(fid) == []
    [reply] = [m for m in swept.slack.messages_in(CHANNEL) if m.thread_ts]
    assert "costguard refused" in reply.text and f"now attached to {instance}" in reply.text
    assert "Nothing was changed" in reply.text
    [row] = [r for r in swept.store.audit_rows(fid) if r.get("result") == "refused"]
    assert row["evidence"]["attached_to"] == [instance]
    assert "Not done" in str(swept.message_for(fid).blocks)


def test_a_keep_tagged_volume_is_refused(swept: World) -> None:
    fid = swept.fid("ebs-unattached", "loose-volume")
    swept.ec2.create_tags(Resources=[swept.ids["loose-volume"]], Tags=[{"Key": "costguard:keep", "Value": "ops"}])
    assert swept.click(VOLUME, fid)[0] == 200
    swept.worker.drain()
    assert swept.volume() is not None and swept.backups(fid) == []
    [reply] = [m for m in swept.slack.messages_in(CHANNEL) if m.thread_ts]
    assert "is now tagged costguard:keep" in reply.text and "Nothing was changed" in reply.text
