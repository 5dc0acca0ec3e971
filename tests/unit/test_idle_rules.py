"""The idle rules, price table and decision core, pure: no network, `now` given."""

from __future__ import annotations

import dataclasses
import re
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from costguard.idle import pricing
from costguard.idle.core import OPEN, RESOLVED, decide
from costguard.idle.model import (
    EBS_VOLUME,
    EC2_INSTANCE,
    TAG_FINDING,
    TAG_IDLE_SINCE,
    TAG_KEEP,
    TAG_STATUS,
    Finding,
    Resource,
    Series,
    finding_id,
)
from costguard.idle.rules import (
    GET_METRIC_DATA,
    REGISTRY,
    TAG_PERMISSIONS,
    Context,
    Rule,
    RuleConfigError,
    build_rules,
    required_permissions,
    stopped_since,
    window,
)
from costguard.idle.settings import IdleSweepSettings
from costguard.settings import SettingsError
from costguard_local.idle_seed import BURSTY_CPU, IDLE_CPU, Shape, shape

NOW = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
ACTION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$")
EXPECTED_RULES = {
    "ec2-idle",
    "ec2-stopped",
    "ebs-unattached",
    "ebs-gp2-to-gp3",
    "ebs-snapshot-old",
    "eip-unassociated",
    "nat-idle",
    "elb-idle",
    "elb-classic-idle",
    "rds-idle",
}


# --- the registry -------------------------------------------------------------------------------------


def test_the_registry_holds_every_rule() -> None:
    assert set(REGISTRY) == EXPECTED_RULES


@pytest.mark.parametrize("name", sorted(EXPECTED_RULES))
def test_every_rule_declares_type_thresholds_and_permissions(name: str) -> None:
    cls = REGISTRY[name]
    assert cls.name == name and cls.summary and cls.kind in ("idle", "saving")
    assert cls.resource_type in TAG_PERMISSIONS, "its resource type must be taggable"
    assert cls.permissions and all(ACTION.match(p) for p in cls.permissions), cls.permissions
    for f in dataclasses.fields(cls.params_type):  # every threshold has a default
        assert f.default is not dataclasses.MISSING, f.name
    uses_metrics = Rule.metrics is not cls.metrics
    assert (GET_METRIC_DATA in cls.permissions) == uses_metrics
    if uses_metrics:
        assert cls().lookback_days == 14


def test_required_permissions_are_the_union_plus_tagging_when_applying() -> None:
    rules = build_rules(["ebs-unattached", "rds-idle"])
    read = required_permissions(rules, tagging=False)
    assert read == sorted({"ec2:DescribeRegions", "ec2:DescribeVolumes", "rds:DescribeDBInstances", GET_METRIC_DATA})
    tagging = set(required_permissions(rules, tagging=True)) - set(read)
    assert tagging == {"ec2:CreateTags", "ec2:DeleteTags", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"}


def test_thresholds_are_overridden_and_validated() -> None:
    [rule] = build_rules(["ebs-unattached"], {"ebs-unattached": {"unattached_days": "21"}})
    assert rule.params.unattached_days == 21
    with pytest.raises(RuleConfigError, match=r"no threshold days .*has: unattached_days"):
        build_rules(["ebs-unattached"], {"ebs-unattached": {"days": 3}})
    with pytest.raises(RuleConfigError, match=r"unknown rule.*nope"):
        build_rules(["nope"])
    with pytest.raises(RuleConfigError, match="must be >= 0"):
        build_rules(None, {"nat-idle": {"max_mb": -1}})
    with pytest.raises(RuleConfigError, match=r"lookback_days must be 1\.\.62"):
        build_rules(None, {"rds-idle": {"lookback_days": 90}})


# --- EC2 idle on real CloudWatch shapes ---------------------------------------------------------------


def instance(**attrs: object) -> Resource:
    return Resource(EC2_INSTANCE, "i-1", "us-east-1", "111111111111", created=NOW - timedelta(days=40), attrs=attrs)


def ec2_context(cpu: Shape, network_per_day: float = 1e5) -> Context:
    start, _ = window(NOW, 14)
    days = [start + timedelta(days=d) for d in range(14)]
    mean = sum(cpu.hourly) / len(cpu.hourly)
    return Context(
        now=NOW,
        series={
            "cpu_average": Series((start,), (mean,)),
            "cpu_daily_peak": Series(tuple(days), tuple(d["Maximum"] for d in cpu.daily())),
            "network_in": Series((start,), (network_per_day * 14 / 2,)),
            "network_out": Series((start,), (network_per_day * 14 / 2,)),
        },
        volumes={},
    )


def test_ec2_idle_flags_a_flat_instance_and_not_a_bursty_one_with_a_low_average() -> None:
    [rule] = build_rules(["ec2-idle"])
    r = instance(state="running", instance_type="t3.micro", volume_ids=[])
    assert rule.candidate(r, NOW)
    flat = rule.evaluate(r, ec2_context(shape(IDLE_CPU)))
    assert flat is not None and "CPU 0.1% average" in flat.reason

    bursty = shape(BURSTY_CPU, scale=0.15)  # NAB 77c1ca: median ~0, real peaks
    assert statistics.median(bursty.hourly) < 0.1
    assert sum(bursty.hourly) / len(bursty.hourly) < rule.params.cpu_average_pct  # a mean test would flag it
    assert rule.evaluate(r, ec2_context(bursty)) is None
    assert rule.evaluate(r, ec2_context(shape(BURSTY_CPU))) is None
    assert rule.evaluate(r, ec2_context(shape(IDLE_CPU), network_per_day=50e6)) is None  # busy network


def test_ec2_idle_needs_enough_data_and_age() -> None:
    [rule] = build_rules(["ec2-idle"])
    r = instance(state="running", instance_type="t3.micro", volume_ids=[])
    ctx = ec2_context(shape(IDLE_CPU))
    thin = dataclasses.replace(
        ctx, series={**ctx.series, "cpu_daily_peak": Series(ctx.series["cpu_daily_peak"].timestamps[:5], (0.1,) * 5)}
    )
    assert rule.evaluate(r, thin) is None
    young = dataclasses.replace(r, created=NOW - timedelta(days=3))
    assert not rule.candidate(young, NOW)


@pytest.mark.parametrize(
    "reason",
    ["User initiated (2024-03-17 06:00:00 GMT)", "User initiated (2024-03-17 06:00:00 UTC)"],
)
def test_stopped_since_is_read_from_the_state_transition_reason(reason: str) -> None:
    assert stopped_since(reason) == datetime(2024, 3, 17, 6, tzinfo=UTC)


def test_stopped_instance_without_a_stop_time_is_not_judged() -> None:
    [rule] = build_rules(["ec2-stopped"])
    r = instance(state="stopped", state_reason="", volume_ids=[])
    assert rule.evaluate(r, Context(NOW, {}, {})) is None


def test_window_is_whole_days_before_now() -> None:
    assert window(NOW, 14) == (datetime(2024, 4, 17, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC))


# --- prices -------------------------------------------------------------------------------------------


def test_unknown_prices_stay_unknown() -> None:
    assert pricing.ec2_instance_monthly("us-east-1", "t3.micro") == pytest.approx(0.0104 * 730)
    assert pricing.ec2_instance_monthly("us-east-1", "u-24tb1.metal") is None
    assert pricing.ec2_instance_monthly("ap-south-2", "t3.micro") is None
    assert pricing.nat_gateway_monthly("ap-south-2") is None
    assert pricing.add(1.0, None) is None
    assert pricing.add(1.0, 2.0) == 3.0
    assert (
        pricing.rds_instance_monthly(
            "us-east-1", "db.t3.micro", "oracle-ee", multi_az=False, storage_gb=20, storage_type="gp2"
        )
        is None
    )


def test_gp2_to_gp3_saving_matches_the_performance_gp2_sustains() -> None:
    assert pricing.gp3_saving_monthly("us-east-1", 100) == pytest.approx(2.0)  # 10.00 - 8.00
    # 2 TiB gp2 sustains 6144 IOPS and 250 MiB/s: gp3 pays for 3144 IOPS and 125 MiB/s above its baseline
    assert pricing.gp3_saving_monthly("us-east-1", 2048) == pytest.approx(204.8 - (163.84 + 3144 * 0.005 + 125 * 0.04))
    assert pricing.gp3_saving_monthly("ap-south-2", 100) is None


def test_the_price_table_names_its_source_and_date() -> None:
    assert pricing.PRICES_SOURCE.startswith("aws.amazon.com")
    assert datetime.fromisoformat(pricing.PRICES_AS_OF)


# --- the decision core --------------------------------------------------------------------------------


def volume(vid: str = "vol-1", region: str = "us-east-1", account: str = "111111111111", **tags: str) -> Resource:
    return Resource(EBS_VOLUME, vid, region, account, tags=tags, attrs={"size": 100, "volume_type": "gp2"})


def finding(rule: str, r: Resource, kind: str = "idle", cost: float | None = 10.0) -> Finding:
    return Finding(rule, kind, r, "why", cost)  # type: ignore[arg-type]


ORDER = list(REGISTRY)


def test_idle_beats_saving_and_new_findings_are_tagged_today() -> None:
    v = volume()
    d = decide(
        NOW,
        findings=[finding("ebs-gp2-to-gp3", v, "saving", 2.0), finding("ebs-unattached", v)],
        scanned=[v],
        stored={},
        rule_order=ORDER,
        scanned_regions=["us-east-1"],
    )
    assert [f.rule for f in d.findings] == ["ebs-unattached"]
    [change] = d.tag_changes
    assert change.set == {TAG_FINDING: "ebs-unattached", TAG_IDLE_SINCE: "2024-05-01", TAG_STATUS: OPEN}
    assert d.is_new(d.findings[0], NOW)


def test_first_seen_survives_from_state_or_tags() -> None:
    v = volume(**{TAG_FINDING: "ebs-unattached", TAG_IDLE_SINCE: "2024-04-01", TAG_STATUS: OPEN})
    f = finding("ebs-unattached", v)
    d = decide(NOW, findings=[f], scanned=[v], stored={}, rule_order=ORDER, scanned_regions=["us-east-1"])
    assert d.first_seen[f.id] == "2024-04-01" and d.tag_changes == []
    stored = {f.id: {"status": OPEN, "first_seen": "2024-03-01", "region": "us-east-1", "rule": "ebs-unattached"}}
    d = decide(NOW, findings=[f], scanned=[v], stored=stored, rule_order=ORDER, scanned_regions=["us-east-1"])
    assert d.first_seen[f.id] == "2024-03-01"
    assert d.tag_changes[0].set == {TAG_IDLE_SINCE: "2024-03-01"}


def test_keep_and_excluded_accounts_are_never_reported_or_tagged() -> None:
    kept = volume("vol-k", **{TAG_KEEP: "", TAG_FINDING: "ebs-unattached"})
    other = volume("vol-x", account="222222222222")
    d = decide(
        NOW,
        findings=[finding("ebs-unattached", kept), finding("ebs-unattached", other)],
        scanned=[kept, other],
        stored={},
        rule_order=ORDER,
        scanned_regions=["us-east-1"],
        excluded_accounts=["222222222222"],
    )
    assert d.findings == []
    [change] = d.tag_changes  # only the stale tag on the kept volume is removed; nothing is set
    assert change.resource.id == "vol-k" and change.remove == (TAG_FINDING,) and not change.set


def test_findings_resolve_only_where_the_sweep_looked() -> None:
    gone = finding_id("111111111111", "us-east-1", "ebs-unattached", "vol-gone")
    elsewhere = finding_id("111111111111", "eu-west-1", "ebs-unattached", "vol-far")
    disabled_rule = finding_id("111111111111", "us-east-1", "nat-idle", "nat-1")
    stored = {
        gone: {"status": OPEN, "region": "us-east-1", "rule": "ebs-unattached", "first_seen": "2024-04-01"},
        elsewhere: {"status": OPEN, "region": "eu-west-1", "rule": "ebs-unattached", "first_seen": "2024-04-01"},
        disabled_rule: {"status": OPEN, "region": "us-east-1", "rule": "nat-idle", "first_seen": "2024-04-01"},
    }
    d = decide(
        NOW, findings=[], scanned=[], stored=stored, rule_order=["ebs-unattached"], scanned_regions=["us-east-1"]
    )
    assert d.resolved == [gone]
    assert d.states[gone]["status"] == RESOLVED and d.states[gone]["expires_at"] > NOW.timestamp()


def test_finding_ids_are_stable_and_opaque() -> None:
    a = finding_id("111111111111", "us-east-1", "ebs-unattached", "vol-1")
    assert a == finding_id("111111111111", "us-east-1", "ebs-unattached", "vol-1")
    assert a != finding_id("111111111111", "us-east-1", "ebs-gp2-to-gp3", "vol-1")
    assert re.fullmatch(r"idl-[0-9a-f]{20}", a) and "vol-1" not in a


# --- settings -----------------------------------------------------------------------------------------

BASE = {"COSTGUARD_TABLE": "t", "SLACK_CHANNEL": "C1"}


def test_settings_defaults_are_a_dry_run_over_every_rule_and_enabled_region() -> None:
    s = IdleSweepSettings.from_env(BASE)
    assert s.apply_tags is False and s.regions == () and s.rule_names == tuple(REGISTRY)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IDLE_REGIONS": "us-east-1,mars"}, "IDLE_REGIONS"),
        ({"EXCLUDED_ACCOUNTS": "123"}, "EXCLUDED_ACCOUNTS"),
        ({"IDLE_RULES": "ec2-idle,bogus"}, "unknown rule"),
        ({"IDLE_THRESHOLDS": "{bad"}, "IDLE_THRESHOLDS must be JSON"),
        ({"IDLE_THRESHOLDS": '{"nat-idle": {"max_gb": 1}}'}, "no threshold max_gb"),
        ({"APPLY_TAGS": "maybe"}, "APPLY_TAGS"),
        ({"COSTGUARD_TABLE": ""}, "COSTGUARD_TABLE is required"),
    ],
)
def test_bad_settings_name_themselves(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        IdleSweepSettings.from_env({**BASE, **env})
