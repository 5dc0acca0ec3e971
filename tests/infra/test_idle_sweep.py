"""The idle sweep in the stack (context idle_sweep=true, the default): function, schedule, least-privilege grants
derived from the rule registry, and cdk-nag clean with a reason for each acknowledgement."""

from __future__ import annotations

from typing import Any

import pytest
from costguard.idle.rules import REGISTRY, build_rules, required_permissions

from infra.settings import Settings, SettingsError
from tests.infra.conftest import CHANNEL, Synth, SynthFn
from tests.infra.test_nag import (
    EXPECTED_ACKNOWLEDGEMENTS,
    IDLE_SWEEP_ACKNOWLEDGEMENTS,
    acknowledgements,
    validation_report,
)

pytestmark = pytest.mark.infra
HANDLER = "costguard.handlers.idle_sweep.handler"


def idle_function(s: Synth) -> tuple[str, dict[str, Any]]:
    [(fid, fn)] = [
        (k, v) for k, v in s.resources("AWS::Lambda::Function").items() if v["Properties"]["Handler"] == HANDLER
    ]
    return fid, fn


def idle_statements(s: Synth) -> list[dict[str, Any]]:
    _, fn = idle_function(s)
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    out: list[dict[str, Any]] = []
    for policy in s.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def actions(statement: dict[str, Any]) -> set[str]:
    a = statement["Action"]
    return {a} if isinstance(a, str) else set(a)


@pytest.fixture(scope="module")
def idle(synth: SynthFn) -> Synth:
    return synth(idle_sweep="true", idle_regions="us-east-1,eu-west-1")


def test_on_by_default_and_off_by_context(synth: SynthFn, default: Synth) -> None:
    handlers = [f["Properties"]["Handler"] for f in default.resources("AWS::Lambda::Function").values()]
    assert handlers.count(HANDLER) == 1
    assert default.json["Outputs"]["IdleSweepFunctionName"]["Value"] == {"Ref": idle_function(default)[0]}
    off = synth(idle_sweep="false")
    handlers = [f["Properties"]["Handler"] for f in off.resources("AWS::Lambda::Function").values()]
    assert HANDLER not in handlers
    assert not [k for k in off.json["Resources"] if k.startswith("IdleSweep")]
    assert not [k for k in off.json["Outputs"] if k.startswith("IdleSweep")]


def test_function_environment_and_schedule(idle: Synth) -> None:
    fid, fn = idle_function(idle)
    props = fn["Properties"]
    assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]
    assert props["Timeout"] == 600 and props["MemorySize"] == 512
    env = props["Environment"]["Variables"]
    assert env["IDLE_REGIONS"] == "us-east-1,eu-west-1"
    assert env["APPLY_TAGS"] == "true" and env["SLACK_CHANNEL"] == CHANNEL
    assert env["IDLE_RULES"] == "" and env["IDLE_THRESHOLDS"] == "{}"
    rules = [
        r
        for r in idle.resources("AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0] == fid
    ]
    [rule] = rules
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert "DeadLetterConfig" in rule["Properties"]["Targets"][0]


def test_read_permissions_are_exactly_what_the_rules_declare(idle: Synth) -> None:
    star = [st for st in idle_statements(idle) if st["Resource"] == "*"]
    [read] = star  # the only '*' statement: Describe* and GetMetricData
    assert actions(read) == set(required_permissions(build_rules(), tagging=False))
    declared = {p for cls in REGISTRY.values() for p in cls.permissions}
    assert actions(read) == declared | {"ec2:DescribeRegions"}


def test_tagging_is_limited_to_costguard_keys_and_the_rules_resource_types(idle: Synth) -> None:
    tagging = [st for st in idle_statements(idle) if actions(st) & {"ec2:CreateTags", "rds:AddTagsToResource"}]
    assert tagging
    for st in tagging:
        assert st["Condition"] == {
            "ForAllValues:StringEquals": {
                "aws:TagKeys": ["costguard:finding", "costguard:idle-since", "costguard:status"]
            }
        }
        assert st["Resource"] != "*"
    everything = set().union(*(actions(st) for st in idle_statements(idle)))
    assert {"ec2:TerminateInstances", "ec2:DeleteVolume", "rds:DeleteDBInstance"}.isdisjoint(everything)


def test_dry_run_gets_no_tagging_permission_and_fewer_rules_fewer_actions(synth: SynthFn) -> None:
    s = synth(idle_sweep="true", idle_apply_tags="false", idle_rules="ebs-unattached,eip-unassociated")
    everything = set().union(*(actions(st) for st in idle_statements(s)))
    assert not everything & {"ec2:CreateTags", "ec2:DeleteTags", "elasticloadbalancing:AddTags"}
    assert "cloudwatch:GetMetricData" not in everything and "rds:DescribeDBInstances" not in everything
    assert {"ec2:DescribeVolumes", "ec2:DescribeAddresses"} <= everything
    _, fn = idle_function(s)
    assert fn["Properties"]["Environment"]["Variables"]["APPLY_TAGS"] == "false"


def test_cdk_nag_passes_with_a_reason_for_every_idle_acknowledgement(idle: Synth) -> None:
    assert validation_report(idle)["pluginReports"] == []
    found = acknowledgements(idle)
    mine = {k: v for k, v in found.items() if k[0].startswith("IdleSweep")}
    assert set(found) - set(mine) == EXPECTED_ACKNOWLEDGEMENTS - IDLE_SWEEP_ACKNOWLEDGEMENTS  # the rest is untouched
    assert set(mine) == IDLE_SWEEP_ACKNOWLEDGEMENTS
    assert {k for k in mine if k[0] != "IdleSweepTagging"} == {
        ("IdleSweepHandlerFunction", "AwsSolutions-L1"),
        ("IdleSweepDescribeAndMetrics", "AwsSolutions-IAM5[Resource::*]"),
        (
            "IdleSweepSlackTokenRead",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]",
        ),
        ("IdleSweepScheduleDeadLetterQueue", "AwsSolutions-SQS3"),
        ("IdleSweepScheduleDeadLetterQueuePolicy", "AwsSolutions-SQS3"),
    }
    assert ("IdleSweepDescribeAndMetrics", "AwsSolutions-IAM5[Resource::*]") in mine
    tag_acks = {rule for (lid, rule) in mine if lid == "IdleSweepTagging"}
    assert tag_acks == {
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:" + kind + "/*]"
        for kind in ("instance", "volume", "snapshot", "elastic-ip", "natgateway")
    } | {
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:<AWS::AccountId>:loadbalancer/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:*:<AWS::AccountId>:db:*]",
    }
    for (lid, rule), reason in mine.items():
        assert len(reason) >= 60, f"{lid} {rule}"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"idle_rules": "ec2-idle,nope"}, "unknown rule"),
        ({"idle_thresholds": '{"nat-idle": {"max_gb": 2}}'}, "no threshold max_gb"),
        ({"idle_thresholds": "[1]"}, "idle_thresholds"),
        ({"idle_regions": "us-east-1,moon"}, "idle_regions"),
        ({"idle_excluded_accounts": "12"}, "idle_excluded_accounts"),
        ({"idle_sweep_schedule": "daily"}, "idle_sweep_schedule"),
    ],
)
def test_bad_idle_context_names_the_key(context: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_context(context)


def test_cfn_lint_finds_nothing_with_the_idle_sweep(idle: Synth) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(idle.outdir / "Costguard.template.json", config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []
