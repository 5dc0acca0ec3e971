"""Approvals' pure core: the action registry's declarations, the signature check, authorisation, payload
parsing, the claim's exactly-once semantics (in-memory twin) and the in-place message update."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from costguard.approvals.actions import ANY, REGISTRY, FindingRef, Observed, actions_for
from costguard.approvals.authz import ApproverPolicy, GroupDirectory, PolicyError
from costguard.approvals.execute import with_status
from costguard.approvals.model import action_id, parse_form
from costguard.approvals.signature import Rejected, sign, verify
from costguard.approvals.store import EXECUTED, FAILED, MemoryApprovalStore
from costguard.idle.rules import REGISTRY as RULES

DESTRUCTIVE_VERBS = ("Delete", "Release", "Terminate")


@pytest.mark.parametrize("action", sorted(REGISTRY))
def test_every_action_declares_permissions_preconditions_and_where_it_applies(action: str) -> None:
    a = REGISTRY[action]
    assert a.label and len(a.label) <= 75
    assert a.preconditions and all(isinstance(p, str) and p for p in a.preconditions)
    assert a.permissions, f"{action} declares no IAM permissions"
    assert a.rules is None or (a.rules and a.rules <= set(RULES)), f"{action} names unknown rules"
    for grant in a.permissions:
        assert grant.actions and all(":" in x for x in grant.actions)
        if grant.resource == ANY:
            # '*' only for read calls that support no resource-level permissions
            assert grant.condition == "none" and all(x.split(":")[1].startswith("Describe") for x in grant.actions)
        else:
            assert grant.condition != "none", f"{action}: {grant} must be conditioned"


def test_destructive_calls_require_the_finding_tag() -> None:
    for a in REGISTRY.values():
        for grant in a.permissions:
            verb = grant.actions[0].split(":")[1]
            if verb.startswith(DESTRUCTIVE_VERBS) or verb.startswith("Stop"):
                assert grant.condition == "finding-tag", (a.id, grant)
        assert a.destructive == any(g.actions[0].split(":")[1].startswith(DESTRUCTIVE_VERBS) for g in a.permissions), (
            a.id
        )


def test_every_rule_offers_snooze_and_keep_and_its_remedy() -> None:
    for rule in RULES:
        ids = [a.id for a in actions_for(rule)]
        assert ids[-2:] == ["snooze", "keep"], rule
    assert [a.id for a in actions_for("ebs-unattached")] == ["snapshot-delete-volume", "snooze", "keep"]
    assert [a.id for a in actions_for("rds-idle")] == ["stop-db", "snapshot-delete-db", "snooze", "keep"]
    assert "7 days" in REGISTRY["stop-db"].note


FINDING = FindingRef(
    id="idl-" + "1" * 20, rule="ebs-unattached", resource_type="ec2:volume", resource_id="vol-1", region="us-east-1",
    account="123456789012",
)  # fmt: skip


@pytest.mark.parametrize(
    ("seen", "ok", "why"),
    [
        (Observed(True, {"costguard:finding": "ebs-unattached"}, {"state": "available", "attached_to": []}), True, ""),
        (Observed(False), False, "no longer exists"),
        (Observed(True, {"costguard:finding": "ebs-unattached"}, {"state": "in-use", "attached_to": ["i-1"]}), False,
         "now attached to i-1"),
        (Observed(True, {"costguard:finding": "ebs-unattached", "costguard:keep": ""}, {"state": "available"}), False,
         "tagged costguard:keep"),
        (Observed(True, {}, {"state": "available", "attached_to": []}), False, "not tagged costguard:finding"),
        (Observed(True, {"costguard:finding": "ebs-gp2-to-gp3"}, {"state": "available"}), False,
         "tagged costguard:finding=ebs-gp2-to-gp3"),
    ],
)  # fmt: skip
def test_the_volume_recheck(seen: Observed, ok: bool, why: str) -> None:
    check = REGISTRY["snapshot-delete-volume"].check(FINDING, seen)
    assert check.ok is ok and why in check.reason


def test_signature_accepts_slacks_and_nothing_else() -> None:
    body, ts = b"payload=%7B%7D", "1700000000"
    good = sign("s3cret", ts, body)
    assert verify("s3cret", body, ts, good, now=1700000000 + 299) == 1700000000
    for secret, b, t, sig, now, status in [
        ("s3cret", body, ts, good, 1700000000 + 301, 401),  # stale
        ("s3cret", body, ts, good, 1700000000 - 301, 401),  # from the future
        ("other", body, ts, good, 1700000000, 401),
        ("s3cret", body + b"x", ts, good, 1700000000, 401),
        ("s3cret", body, ts, good.upper(), 1700000000, 401),
        ("s3cret", body, None, good, 1700000000, 401),
        ("s3cret", body, "17e8", good, 1700000000, 401),
        ("s3cret", body, ts, None, 1700000000, 401),
        ("s3cret", body, ts, "v1=" + good[3:], 1700000000, 401),
        ("", body, ts, good, 1700000000, 500),
    ]:
        with pytest.raises(Rejected) as e:
            verify(secret, b, t, sig, now=now)
        assert e.value.status == status


def form(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


GOOD = {
    "type": "block_actions",
    "user": {"id": "U0A"},
    "team": {"id": "T0A"},
    "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0A"},
    "response_url": "https://hooks.slack.com/x",
    "actions": [{"action_id": action_id("keep", FINDING.id), "value": FINDING.id, "type": "button"}],
}


def test_parse_form_reads_only_ids() -> None:
    click = parse_form(form(GOOD))
    assert (click.user, click.action, click.subject, click.channel) == ("U0A", "keep", FINDING.id, "C0A")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=not-json",
        form({**GOOD, "type": "view_submission"}),
        form({**GOOD, "actions": []}),
        form({**GOOD, "actions": GOOD["actions"] * 2}),
        form({**GOOD, "actions": [{**GOOD["actions"][0], "value": "idl-" + "2" * 20}]}),
        form({**GOOD, "actions": [{**GOOD["actions"][0], "action_id": "keep"}]}),
        form({**GOOD, "user": {"id": "x; DROP"}}),
        form(GOOD) + b"&payload=x",
        b"\xff\xfe",
    ],
)
def test_parse_form_rejects_anything_else_with_400(body: bytes) -> None:
    with pytest.raises(Rejected) as e:
        parse_form(body)
    assert e.value.status == 400


def test_approver_policy_users_groups_and_two_person() -> None:
    policy = ApproverPolicy.parse(
        json.dumps({"*": ["U0ALL"], "release-eip": ["U0NET", "S0NET"]}), "S0OPS", "release-eip", REGISTRY
    )
    groups = {"S0NET": {"U0G1"}, "S0OPS": {"U0G2"}}
    assert policy.allows("keep", "U0ALL", groups.__getitem__)
    assert policy.allows("release-eip", "U0NET", groups.__getitem__)
    assert not policy.allows("keep", "U0NET", groups.__getitem__)
    assert policy.allows("release-eip", "U0G1", groups.__getitem__)
    assert not policy.allows("keep", "U0G1", groups.__getitem__)
    assert policy.allows("keep", "U0G2", groups.__getitem__)  # APPROVER_GROUPS approve everything
    assert (policy.needed("release-eip"), policy.needed("keep")) == (2, 1)
    assert not ApproverPolicy.parse("", "", "", REGISTRY).allows("keep", "U0ALL", groups.__getitem__)  # fail closed
    for bad in ('{"format-disk": ["U0A"]}', '{"*": ["alice"]}', "[1]", "{"):
        with pytest.raises(PolicyError):
            ApproverPolicy.parse(bad, "", "", REGISTRY)
    with pytest.raises(PolicyError):
        ApproverPolicy.parse("", "", "format-disk", REGISTRY)


def test_group_members_are_cached() -> None:
    class Client:
        calls = 0

        def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
            Client.calls += 1
            return {"users": ["U0A"]}

    clock = [0.0]
    directory = GroupDirectory(Client(), ttl=300, clock=lambda: clock[0])
    assert directory("S0A") == {"U0A"} and directory("S0A") == {"U0A"}
    assert Client.calls == 1
    clock[0] = 301
    directory("S0A")
    assert Client.calls == 2


def test_claim_is_exactly_once_and_resumable_by_its_own_job() -> None:
    store = MemoryApprovalStore()
    first = store.claim("idl-x", "keep#2024-05-01", "job-1", "t0")
    assert first is not None and first["checkpoint"] == {}
    assert store.claim("idl-x", "keep#2024-05-01", "job-2", "t1") is None  # another click
    store.save_checkpoint("idl-x", "keep#2024-05-01", "snapshot_id", "snap-1")
    store.finish_claim("idl-x", "keep#2024-05-01", FAILED, {}, "t2")
    resumed = store.claim("idl-x", "keep#2024-05-01", "job-1", "t3")  # the redelivery resumes
    assert resumed is not None and resumed["checkpoint"] == {"snapshot_id": "snap-1"}
    store.finish_claim("idl-x", "keep#2024-05-01", EXECUTED, {}, "t4")
    assert store.claim("idl-x", "keep#2024-05-01", "job-1", "t5") is None  # done is done
    assert store.remember_request("k", 1) and not store.remember_request("k", 1)


def test_with_status_replaces_or_follows_the_findings_buttons() -> None:
    fid = FINDING.id
    message = [{"type": "section", "block_id": "a"}, {"type": "actions", "block_id": fid, "elements": []}]
    progress = with_status(message, fid, "1 of 2", keep_buttons=True)
    assert progress is not None and [b["block_id"] for b in progress] == ["a", fid, f"{fid}.status"]
    done = with_status(progress, fid, "done", keep_buttons=False)
    assert done is not None and [b["block_id"] for b in done] == ["a", f"{fid}.status"]
    assert "done" in json.dumps(done) and "1 of 2" not in json.dumps(done)
    assert with_status(message, "idl-" + "9" * 20, "x", keep_buttons=False) is None
