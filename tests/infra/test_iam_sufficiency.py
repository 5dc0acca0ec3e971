"""IAM is sufficient: every AWS call a handler made in the functional and end-to-end tests is granted to that
function's role in the synthesized template, and nothing destructive is granted without a tag condition.

The calls come from tests/iam_recorder.py (the `iam_calls` fixture; these tests are ordered last so that a full
`pytest tests` records first, and a partial run records in a subprocess). Resources are not compared (the tests'
table and parameter names differ from the deployed ones); every grant that carries a condition is listed in the
report, because a condition can still deny the call.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.iam_recorder import NEEDS_NO_PERMISSION, handler_of, iam_action, implied_actions
from tests.infra.conftest import Synth, SynthFn

pytestmark = pytest.mark.infra

DESTRUCTIVE_VERBS = ("Delete", "Terminate", "Stop", "Release")
TAG_CONDITION_KEYS = (":resourcetag/",)  # aws:ResourceTag/<key>, ec2:ResourceTag/<key>, ...

Template = Mapping[str, Any]


# --- reading the template --------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_roles(template: Template) -> dict[str, str]:
    """{handler string: role logical id} for every Lambda function."""
    roles: dict[str, str] = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            props = resource["Properties"]
            roles[props["Handler"]] = props["Role"]["Fn::GetAtt"][0]
    return roles


def role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    """Every statement that applies to the role: its inline policies and the policies attached to it."""
    resources = template["Resources"]
    role = resources[role_id]["Properties"]
    statements = [st for p in role.get("Policies", []) for st in _as_list(p["PolicyDocument"]["Statement"])]
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role_id} in resource[
            "Properties"
        ].get("Roles", []):
            statements.extend(_as_list(resource["Properties"]["PolicyDocument"]["Statement"]))
    return statements


def _matches(pattern: str, action: str) -> bool:
    return fnmatchcase(action.lower(), pattern.lower())  # IAM actions match case-insensitively, with * and ?


def _applies(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_matches(p, action) for p in _as_list(statement["NotAction"]))
    return any(_matches(p, action) for p in _as_list(statement.get("Action", [])))


@dataclass(frozen=True)
class Grant:
    allowed: bool
    conditions: tuple[str, ...] = ()  # JSON of each allowing statement's condition, if any


def evaluate(statements: list[dict[str, Any]], action: str) -> Grant:
    """Is `action` allowed by these statements (on some resource)? An unconditional Deny on '*' wins."""
    for st in statements:
        denied = st["Effect"] == "Deny" and _applies(st, action) and "Condition" not in st
        if denied and "*" in _as_list(st.get("Resource", [])):
            return Grant(False)
    allowing = [st for st in statements if st["Effect"] == "Allow" and _applies(st, action)]
    if not allowing:
        return Grant(False)
    if any("Condition" not in st for st in allowing):
        return Grant(True)
    return Grant(True, tuple(json.dumps(st["Condition"], sort_keys=True) for st in allowing))


# --- the checks -------------------------------------------------------------------------------------------------


def missing_grants(template: Template, calls: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """'<handler>: <action>' for each recorded call the handler's role is not granted (or no function runs it)."""
    roles = function_roles(template)
    missing: list[str] = []
    for handler, actions in sorted(calls.items()):
        if handler not in roles:
            missing.append(f"{handler}: makes AWS calls but no function in the stack runs it")
            continue
        statements = role_statements(template, roles[handler])
        for action in sorted(actions):
            if action not in NEEDS_NO_PERMISSION and not evaluate(statements, action).allowed:
                missing.append(f"{handler}: {action}")
    return missing


def conditional_grants(template: Template, calls: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    roles = function_roles(template)
    found: dict[str, tuple[str, ...]] = {}
    for handler, actions in calls.items():
        if handler in roles:
            statements = role_statements(template, roles[handler])
            for action in actions:
                grant = evaluate(statements, action)
                if grant.allowed and grant.conditions:
                    found[f"{handler}: {action}"] = grant.conditions
    return found


def _could_be_destructive(pattern: str) -> bool:
    """Could this action pattern match Delete*/Terminate*/Stop*/Release*? ('ec2:*' and 'ec2:De*' could.)"""
    verb = pattern.split(":", 1)[-1]
    literal = verb.split("*", 1)[0].split("?", 1)[0].lower()
    wild = literal != verb.lower()
    for destructive in (d.lower() for d in DESTRUCTIVE_VERBS):
        if literal.startswith(destructive) or (wild and destructive.startswith(literal)):
            return True
    return False


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "Ref" in value:
            yield str(value["Ref"])
        if "Fn::GetAtt" in value:
            yield str(value["Fn::GetAtt"][0])
        for inner in value.values():
            yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _own_resource(template: Template, resource: Any) -> bool:
    """An ARN built from a resource of this stack (the state table, a queue...), not '*' or someone else's."""
    return any(ref in template["Resources"] for ref in _references(resource))


def _tag_conditioned(statement: Mapping[str, Any], pattern: str) -> bool:
    """A condition on the resource's tags; for removing tags (ec2:DeleteTags...), one on which tag keys."""
    keys = [key.lower() for test in statement.get("Condition", {}).values() for key in test]
    if any(marker in key for key in keys for marker in TAG_CONDITION_KEYS):
        return True
    removes_tags = "*" not in pattern and "tag" in pattern.split(":", 1)[-1].lower()
    return removes_tags and "aws:tagkeys" in keys


def unguarded_destructive(template: Template) -> list[str]:
    """Destructive actions any role is allowed on resources that are not the stack's own, without a tag condition."""
    found: list[str] = []
    for role_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for st in role_statements(template, role_id):
            if st["Effect"] != "Allow":
                continue
            patterns = ["*"] if "NotAction" in st else _as_list(st["Action"])
            resources = _as_list(st.get("Resource", "*"))
            if all(_own_resource(template, r) for r in resources):
                continue
            found.extend(
                f"{role_id}: {p}" for p in patterns if _could_be_destructive(p) and not _tag_conditioned(st, p)
            )
    return found


# --- the tests --------------------------------------------------------------------------------------------------


# Every capability on (approvals is opt-in): each recorded handler must be deployable with its grants.
EVERYTHING = {"approvals": "true", "approvals_auto_remediate_days": "2"}


@pytest.fixture(scope="module")
def everything(synth: SynthFn) -> Synth:
    return synth(**EVERYTHING)


def handlers(iam_calls: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    calls: dict[str, dict[str, Any]] = iam_calls["handlers"]
    return calls


def test_every_deployed_function_was_exercised_by_the_recorded_tests(everything: Synth, iam_calls: Any) -> None:
    """Otherwise the sufficiency check below would pass vacuously for that function."""
    recorded = handlers(iam_calls)
    assert recorded, "no AWS calls were recorded: the functional/e2e tests did not run the handlers"
    for handler in function_roles(everything.json):
        assert recorded.get(handler), f"{handler}: no recorded AWS calls (add a functional test that runs it)"


def test_every_recorded_call_is_granted_to_its_function(everything: Synth, iam_calls: Any) -> None:
    assert missing_grants(everything.json, handlers(iam_calls)) == []


# Condition keys on grants the handlers use, each read and found to hold for the calls they make.
REVIEWED_CONDITION_KEYS = {
    # Slack parameters: decrypted only through SSM and only for the configured parameter(s), which the handlers read.
    "kms:ViaService": "SecureString reads go through SSM",
    "kms:EncryptionContext:PARAMETER_ARN": "the handlers read exactly the configured parameters",
    # The idle sweep and the worker tag only with costguard's own keys.
    "aws:TagKeys": "tags written or removed are costguard:* keys only",
    # The worker acts only on resources the sweep tagged as findings, and tags the backups it creates.
    "aws:ResourceTag/costguard:finding": "remediation targets carry the finding tag (the sweep put it there)",
    "aws:RequestTag/costguard:remediation": "backups are created with the costguard:remediation tag",
    "ec2:CreateAction": "snapshot tags are written in the CreateSnapshot call itself",
}


def test_conditional_grants_are_the_reviewed_ones(everything: Synth, iam_calls: Any) -> None:
    """A condition could still deny the call: each key here was read and holds for what the handler does."""
    found = conditional_grants(everything.json, handlers(iam_calls))
    assert found, "the Slack token's kms:Decrypt is conditional: the check sees conditions"
    for call, conditions in found.items():
        for condition in conditions:
            keys = {key for test in json.loads(condition).values() for key in test}
            unreviewed = keys - set(REVIEWED_CONDITION_KEYS)
            assert not unreviewed, f"{call} is granted only under {sorted(unreviewed)}: review and list them"


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"tracing": "true", "ops_alarms": "full", "budget_monthly_usd": "100", **EVERYTHING},
        {"idle_apply_tags": "false"},
        {**EVERYTHING, "approvals_dry_run": "false"},
    ],
    ids=["default", "everything-on", "idle-dry-run", "approvals-live"],
)
def test_destructive_actions_are_granted_only_with_a_tag_condition(synth: SynthFn, context: dict[str, str]) -> None:
    assert unguarded_destructive(synth(**context).json) == []


# --- the checks can fail ---------------------------------------------------------------------------------------


def _without_action(template: Template, role_id: str, action: str) -> dict[str, Any]:
    """A copy of the template with `action` removed from every statement attached to the role."""
    copied: dict[str, Any] = copy.deepcopy(dict(template))
    for resource in copied["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]:
            kept = []
            for st in _as_list(resource["Properties"]["PolicyDocument"]["Statement"]):
                actions = [a for a in _as_list(st["Action"]) if a != action]
                if actions:
                    kept.append({**st, "Action": actions})
            resource["Properties"]["PolicyDocument"]["Statement"] = kept
    return copied


@pytest.mark.parametrize(
    ("handler", "action"),
    [
        ("costguard.handlers.spend_watch.handler", "ce:GetCostAndUsage"),
        ("costguard.handlers.spend_watch.handler", "ssm:GetParameter"),
        ("costguard.handlers.budget_alerts.handler", "dynamodb:UpdateItem"),
        ("costguard.handlers.idle_sweep.handler", "cloudwatch:GetMetricData"),
        ("costguard.handlers.idle_sweep.handler", "ec2:CreateTags"),
    ],
)
def test_removing_a_grant_the_handler_needs_is_reported(
    everything: Synth, iam_calls: Any, handler: str, action: str
) -> None:
    calls = handlers(iam_calls)
    assert action in calls[handler], f"the recorded tests no longer make {action} from {handler}"
    broken = _without_action(everything.json, function_roles(everything.json)[handler], action)
    before = missing_grants(everything.json, calls)
    assert [m for m in missing_grants(broken, calls) if m not in before] == [f"{handler}: {action}"]


def test_a_handler_without_a_function_is_reported(default: Synth) -> None:
    calls = {"costguard.handlers.nowhere.handler": {"s3:GetObject": {}}}
    assert missing_grants(default.json, calls) == [
        "costguard.handlers.nowhere.handler: makes AWS calls but no function in the stack runs it"
    ]


def _with_statement(template: Template, statement: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = copy.deepcopy(dict(template))
    role_id = next(iter(function_roles(copied).values()))
    copied["Resources"]["ExtraPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {"Roles": [{"Ref": role_id}], "PolicyDocument": {"Statement": [statement]}},
    }
    return copied


@pytest.mark.parametrize(
    ("statement", "reported"),
    [
        ({"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*"}, ["ec2:TerminateInstances"]),
        ({"Effect": "Allow", "Action": ["ec2:StopInstances", "ec2:Describe*"], "Resource": "*"}, ["ec2:StopInstances"]),
        ({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, ["ec2:*"]),
        ({"Effect": "Allow", "Action": "ec2:Re*", "Resource": "*"}, ["ec2:Re*"]),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, ["*"]),
        ({"Effect": "Allow", "Action": "ec2:ReleaseAddress", "Resource": "*", "Condition": {}}, ["ec2:ReleaseAddress"]),
        (
            {
                "Effect": "Allow",
                "Action": "ec2:DeleteVolume",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/costguard": "x"}},  # request tags: not the resource's
            },
            ["ec2:DeleteVolume"],
        ),
        (
            {
                "Effect": "Allow",
                "Action": ["ec2:DeleteVolume", "ec2:ReleaseAddress"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/costguard:status": "approved"}},
            },
            [],
        ),
        (
            {
                "Effect": "Allow",
                "Action": "ec2:StopInstances",
                "Resource": "*",
                "Condition": {"StringLike": {"ec2:ResourceTag/costguard:finding": "*"}},
            },
            [],
        ),
        ({"Effect": "Allow", "Action": ["ec2:Describe*", "ce:GetCostAndUsage"], "Resource": "*"}, []),
        # Removing tags is limited by which tag keys (aws:TagKeys); deleting a resource is not.
        (
            {
                "Effect": "Allow",
                "Action": ["ec2:DeleteTags", "ec2:DeleteVolume"],
                "Resource": "*",
                "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["costguard:finding"]}},
            },
            ["ec2:DeleteVolume"],
        ),
        ({"Effect": "Allow", "Action": "ec2:DeleteTags", "Resource": "*"}, ["ec2:DeleteTags"]),
    ],
)
def test_destructive_grants_without_a_tag_condition_are_reported(
    default: Synth, statement: dict[str, Any], reported: list[str]
) -> None:
    found = unguarded_destructive(_with_statement(default.json, statement))
    assert [f.split(": ", 1)[1] for f in found] == reported


def test_the_stacks_own_table_may_be_written_without_tags(default: Synth) -> None:
    """dynamodb:DeleteItem on the state table (its own resource) is housekeeping, not destruction."""
    table_id = next(k for k, v in default.json["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table")
    own = {"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": {"Fn::GetAtt": [table_id, "Arn"]}}
    assert unguarded_destructive(_with_statement(default.json, own)) == []
    theirs = {**own, "Resource": "arn:aws:dynamodb:*:*:table/*"}
    assert unguarded_destructive(_with_statement(default.json, theirs)) != []


def test_allow_evaluation_honours_wildcards_case_and_unconditional_denies() -> None:
    allow = {"Effect": "Allow", "Action": ["EC2:Describe*"], "Resource": "*"}
    assert evaluate([allow], "ec2:DescribeVolumes").allowed
    assert not evaluate([allow], "ec2:CreateTags").allowed
    deny = {"Effect": "Deny", "Action": "ec2:DescribeVolumes", "Resource": "*"}
    assert not evaluate([allow, deny], "ec2:DescribeVolumes").allowed
    conditioned = {**allow, "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}
    assert evaluate([conditioned], "ec2:DescribeVolumes").conditions


# --- the recorder's mapping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "action"),
    [
        ("ce", "GetCostAndUsage", "ce:GetCostAndUsage"),
        ("dynamodb", "PutItem", "dynamodb:PutItem"),
        ("ssm", "GetParameter", "ssm:GetParameter"),
        ("ec2", "DescribeVolumes", "ec2:DescribeVolumes"),
        ("resourcegroupstaggingapi", "GetResources", "tag:GetResources"),
        ("elbv2", "DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancers"),
        ("elb", "AddTags", "elasticloadbalancing:AddTags"),
        ("cloudwatch", "GetMetricData", "cloudwatch:GetMetricData"),
        ("sqs", "SendMessage", "sqs:SendMessage"),
        ("lambda", "Invoke", "lambda:InvokeFunction"),
    ],
)
def test_botocore_operations_map_to_iam_actions(service: str, operation: str, action: str) -> None:
    import boto3

    client = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]
    model = client.meta.service_model
    assert operation in model.operation_names
    assert iam_action(model.service_name, model.signing_name, operation) == action


def test_decrypted_parameter_reads_imply_kms_decrypt() -> None:
    assert implied_actions("ssm:GetParameter", {"Name": "/x", "WithDecryption": True}) == ["kms:Decrypt"]
    assert implied_actions("ssm:GetParameter", {"Name": "/x"}) == []


def test_calls_are_attributed_to_the_nearest_handler_module() -> None:
    namespace: dict[str, Any] = {"__name__": "costguard.handlers.example", "handler_of": handler_of}
    exec("import sys\ndef run():\n    return handler_of(sys._getframe())", namespace)
    assert namespace["run"]() == "costguard.handlers.example.handler"
    import sys

    assert handler_of(sys._getframe()) is None
