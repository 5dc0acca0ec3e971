"""The idle sweep end to end on moto's server: tags applied and removed, keep-tag and excluded accounts
honoured, state in the table, and the Lambda handler on an EventBridge scheduled event posting the digest
to the Slack stand-in (which rejects invalid Block Kit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from costguard.handlers import idle_sweep
from costguard.idle.core import OPEN, RESOLVED
from costguard.idle.inventory import ClientFactory
from costguard.idle.model import (
    CLASSIC_ELB,
    LOAD_BALANCER,
    RDS_INSTANCE,
    TAG_FINDING,
    TAG_IDLE_SINCE,
    TAG_KEEP,
    TAG_STATUS,
)
from costguard.idle.rules import REGISTRY, build_rules
from costguard.idle.service import sweep
from costguard.idle.store import DynamoIdleStore, MemoryIdleStore
from costguard_local.idle_seed import ACCOUNT, IdleSeeder, Twins, seed_twins
from costguard_local.lambda_runtime import FakeLambdaContext, scheduled_event
from costguard_local.standins.aws import MotoStandIn, create_state_table
from costguard_local.standins.slack import SlackStandIn

from tests.conftest import CHANNEL, SLACK_TOKEN

pytestmark = pytest.mark.functional
NOW = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
REGION = "us-east-1"
TABLE = "costguard-state"


def type_of(rule: str) -> str:
    return REGISTRY[rule].resource_type


def tags_of(moto: MotoStandIn, rtype: str, rid: str) -> dict[str, str]:
    if rtype == LOAD_BALANCER:
        [d] = moto.client("elbv2", REGION).describe_tags(ResourceArns=[rid])["TagDescriptions"]
        tags = d["Tags"]
    elif rtype == CLASSIC_ELB:
        [d] = moto.client("elb", REGION).describe_tags(LoadBalancerNames=[rid])["TagDescriptions"]
        tags = d["Tags"]
    elif rtype == RDS_INSTANCE:
        tags = moto.client("rds", REGION).list_tags_for_resource(ResourceName=rid)["TagList"]
    else:
        tags = moto.client("ec2", REGION).describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def costguard_tags(moto: MotoStandIn, rtype: str, rid: str) -> dict[str, str]:
    return {k: v for k, v in tags_of(moto, rtype, rid).items() if k.startswith("costguard:") and k != TAG_KEEP}


@pytest.fixture
def twins(moto: MotoStandIn) -> Twins:
    return seed_twins(IdleSeeder(moto.endpoint, NOW), [REGION])


def run(now: datetime, store: Any, **kw: Any) -> Any:
    return sweep(
        now, clients=ClientFactory(), rules=build_rules(), regions=[REGION], account=ACCOUNT, store=store, **kw
    )


def test_tags_applied_kept_across_days_and_removed_when_no_longer_idle(moto: MotoStandIn, twins: Twins) -> None:
    store = MemoryIdleStore()
    _, _, report = run(NOW, store, apply_tags=True)
    assert report.tag_calls > 0
    for rule, _, rid in twins.idle:
        assert costguard_tags(moto, type_of(rule), rid) == {
            TAG_FINDING: rule,
            TAG_IDLE_SINCE: "2024-05-01",
            TAG_STATUS: OPEN,
        }, rule
    for rule, _, rid in twins.busy:
        assert costguard_tags(moto, type_of(rule), rid) == {}, rule
    assert {r["status"] for r in store.findings(ACCOUNT).values()} == {OPEN}

    # The next day the loose volume and EIP are put to use: their tags go, the rest keep their first day.
    ec2 = moto.client("ec2", REGION)
    volume, eip = twins.ids[f"{REGION}/loose-volume"], twins.ids[f"{REGION}/loose-eip"]
    busy_instance = twins.ids[f"{REGION}/busy-instance"]
    ec2.attach_volume(VolumeId=volume, InstanceId=busy_instance, Device="/dev/sdk")
    ec2.associate_address(AllocationId=eip, InstanceId=twins.ids[f"{REGION}/idle-instance"])
    _, _decision, report = run(NOW + timedelta(days=1), store, apply_tags=True)
    assert report.resolved == 2
    assert costguard_tags(moto, "ec2:volume", volume) == {}
    assert costguard_tags(moto, "ec2:elastic-ip", eip) == {}
    for rule, _, rid in twins.idle - {("ebs-unattached", REGION, volume), ("eip-unassociated", REGION, eip)}:
        assert costguard_tags(moto, type_of(rule), rid)[TAG_IDLE_SINCE] == "2024-05-01", rule
    records = {(r["rule"], r["resource_id"]): r for r in store.findings(ACCOUNT).values()}
    assert records[("ebs-unattached", volume)]["status"] == RESOLVED
    assert records[("ebs-unattached", volume)]["resolved"] == "2024-05-02"
    assert records[("eip-unassociated", eip)]["status"] == RESOLVED
    assert records[("nat-idle", twins.ids[f"{REGION}/quiet-nat"])]["last_seen"] == "2024-05-02"

    # A third run changes nothing: tagging converges.
    _, _, again = run(NOW + timedelta(days=1), store, apply_tags=True)
    assert again.tag_changes == 0 and again.tag_calls == 0


def test_a_status_set_by_someone_else_is_kept(moto: MotoStandIn, twins: Twins) -> None:
    nat = twins.ids[f"{REGION}/quiet-nat"]
    run(NOW, None, apply_tags=True)
    moto.client("ec2", REGION).create_tags(Resources=[nat], Tags=[{"Key": TAG_STATUS, "Value": "snoozed"}])
    run(NOW + timedelta(days=1), None, apply_tags=True)
    assert costguard_tags(moto, "ec2:natgateway", nat) == {
        TAG_FINDING: "nat-idle",
        TAG_IDLE_SINCE: "2024-05-01",  # from the tag: this run had no stored state
        TAG_STATUS: "snoozed",
    }


def test_keep_tag_is_never_reported_or_tagged_and_stale_tags_go(moto: MotoStandIn, twins: Twins) -> None:
    s = IdleSeeder(moto.endpoint, NOW)
    kept = s.volume(REGION, age_days=60, tags={TAG_KEEP: "true", "Name": "forensics"})
    db = twins.ids[f"{REGION}/quiet-db"]
    moto.client("rds", REGION).add_tags_to_resource(
        ResourceName=db, Tags=[{"Key": TAG_KEEP, "Value": "yes"}, {"Key": TAG_FINDING, "Value": "rds-idle"}]
    )
    _, decision, _ = run(NOW, None, apply_tags=True)
    reported = {f.resource.id for f in decision.findings}
    assert kept not in reported and db not in reported
    assert costguard_tags(moto, "ec2:volume", kept) == {}
    assert costguard_tags(moto, RDS_INSTANCE, db) == {}  # its stale costguard:finding was removed
    assert tags_of(moto, RDS_INSTANCE, db)[TAG_KEEP] == "yes"
    assert len(reported) == len(twins.idle) - 1


def test_an_excluded_account_is_never_reported_or_tagged(moto: MotoStandIn, twins: Twins) -> None:
    _, decision, report = run(NOW, None, apply_tags=True, excluded_accounts=[ACCOUNT])
    assert decision.findings == [] and report.tag_calls == 0
    for rule, _, rid in twins.idle:
        assert costguard_tags(moto, type_of(rule), rid) == {}


@pytest.fixture
def lambda_env(moto: MotoStandIn, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> MotoStandIn:
    create_state_table(moto.client("dynamodb"), TABLE)
    moto.client("ssm").put_parameter(
        Name="/costguard/slack/bot-token", Value=SLACK_TOKEN, Type="SecureString", Overwrite=True
    )
    monkeypatch.setenv("COSTGUARD_TABLE", TABLE)
    monkeypatch.setenv("SLACK_CHANNEL", CHANNEL)
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    monkeypatch.setenv("IDLE_REGIONS", REGION)
    monkeypatch.setenv("APPLY_TAGS", "true")
    idle_sweep._settings.cache_clear()
    return moto


def test_handler_on_a_scheduled_event_tags_stores_and_posts_the_digest_once(
    lambda_env: MotoStandIn, twins: Twins, slack: SlackStandIn
) -> None:
    event = scheduled_event(NOW, rule="costguard-idle-sweep")
    report = idle_sweep.handler(event, FakeLambdaContext("idle-sweep"))
    assert report["findings"] == len(twins.idle)
    assert report["skipped"] == {}
    assert report["dry_run"] is False and report["tag_calls"] > 0
    assert report["posted"] >= 1

    messages = slack.messages_in(CHANNEL)
    assert len(messages) == report["posted"]
    text = " ".join(str(m.blocks) for m in messages)
    for rule in REGISTRY:
        assert REGISTRY[rule].summary[1:] in text, rule
    assert "$32.85" in text  # the idle NAT gateway's hourly fee for a month
    assert messages[0].text.startswith("costguard: Idle resources 2024-05-01")

    stored = DynamoIdleStore(lambda_env.client("dynamodb"), TABLE).findings(ACCOUNT)
    assert {(r["rule"], r["region"], r["resource_id"]) for r in stored.values()} == twins.idle
    assert all(len(fid) == 24 and fid.startswith("idl-") for fid in stored)

    # Lambda retries the same event: nothing posted twice, tags already right.
    again = idle_sweep.handler(event, FakeLambdaContext("idle-sweep"))
    assert again["posted"] == 0 and again["tag_calls"] == 0
    assert len(slack.messages_in(CHANNEL)) == len(messages)


def test_handler_digest_of_a_long_list_respects_block_kit_limits(lambda_env: MotoStandIn, slack: SlackStandIn) -> None:
    s = IdleSeeder(lambda_env.endpoint, NOW)
    volumes = {s.volume(REGION, age_days=30, size=10 + i) for i in range(120)}
    report = idle_sweep.handler(scheduled_event(NOW, rule="costguard-idle-sweep"), FakeLambdaContext("idle-sweep"))
    assert report["findings"] == 120
    messages = slack.messages_in(CHANNEL)
    assert report["posted"] == len(messages) >= 1  # the stand-in accepted every part
    sections = [b for m in messages for b in m.blocks if b["type"] == "section"]
    assert len(sections) > 4  # 120 lines do not fit one section
    for m in messages:
        assert len(m.blocks) <= 50
    for b in sections:
        assert len(b["text"]["text"]) <= 3000
    listed = " ".join(str(m.blocks) for m in messages)
    assert all(listed.count(v) == 1 for v in volumes)
