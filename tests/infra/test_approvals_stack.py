"""Approvals infra (opt-in, context approvals=true): the Function URL (auth NONE, reasoned), the encrypted
queue with its dead-letter queue and alarm, the worker's event source mapping with partial batch failures,
and least privilege: destructive calls only on resources tagged costguard:finding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.settings import Settings, SettingsError
from tests.infra.conftest import Synth, SynthFn
from tests.infra.test_nag import acknowledgements, validation_report
from tests.infra.test_stack import actions, only, resources, role_statements

pytestmark = pytest.mark.infra

INTERACTIONS = "costguard.handlers.interactions.handler"
WORKER = "costguard.handlers.remediation_worker.handler"
ON = {"approvals": "true", "approvers": '{"*": ["U0APPROVER"], "release-eip": ["S0NETOPS"]}'}
FINDING_TAG = {"Null": {"aws:ResourceTag/costguard:finding": "false"}}
DESTRUCTIVE = {
    "ec2:StopInstances",
    "ec2:DeleteVolume",
    "ec2:DeleteSnapshot",
    "ec2:ReleaseAddress",
    "ec2:DeleteNatGateway",
    "elasticloadbalancing:DeleteLoadBalancer",
    "rds:StopDBInstance",
    "rds:DeleteDBInstance",
}


@pytest.fixture(scope="module")
def on(synth: SynthFn) -> Synth:
    return synth(**ON)


def function(s: Synth, handler: str) -> tuple[str, dict[str, Any]]:
    return only(
        {k: v for k, v in s.resources("AWS::Lambda::Function").items() if v["Properties"]["Handler"] == handler}
    )


def role_of(fn: dict[str, Any]) -> str:
    return str(fn["Properties"]["Role"]["Fn::GetAtt"][0])


def test_approvals_are_opt_in(default: Synth) -> None:
    handlers = {f["Properties"]["Handler"] for f in default.resources("AWS::Lambda::Function").values()}
    assert not handlers & {INTERACTIONS, WORKER}
    assert default.resources("AWS::Lambda::Url") == {}
    assert "SlackInteractivityUrl" not in default.json["Outputs"]


def test_function_url_is_auth_none_with_a_reason_and_is_the_output(on: Synth) -> None:
    fn_id, fn = function(on, INTERACTIONS)
    url_id, url = only(on.resources("AWS::Lambda::Url"))
    assert url["Properties"] == {"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [fn_id, "Arn"]}}
    reason = url["Metadata"]["costguard"]["AuthType"]
    assert "SigV4" in reason and "signature" in reason and "replay" in reason
    assert on.json["Outputs"]["SlackInteractivityUrl"]["Value"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [url_id, "FunctionUrl"]}, "slack/actions"]]
    }
    props = fn["Properties"]
    assert props["Timeout"] == 10 and props["Architectures"] == ["arm64"]
    env = props["Environment"]["Variables"]
    assert env["SLACK_SIGNING_SECRET_PARAMETER"] == "/costguard/slack/signing-secret"
    assert json.loads(env["APPROVERS"]) == {"*": ["U0APPROVER"], "release-eip": ["S0NETOPS"]}
    assert env["DRY_RUN"] == "true"  # the house rule: dry run unless the deployment says otherwise
    # The public function only validates and enqueues: it may not touch a resource.
    granted = {a for s in role_statements(on, role_of(fn)) for a in actions(s)}
    assert not {a for a in granted if a.split(":")[0] in ("ec2", "rds", "elasticloadbalancing")}
    assert {"sqs:SendMessage", "ssm:GetParameter", "dynamodb:PutItem"} <= granted
    assert "sqs:ReceiveMessage" not in granted


def test_queue_is_encrypted_with_a_dead_letter_queue_and_an_alarm(on: Synth) -> None:
    queues = {k: v for k, v in on.resources("AWS::SQS::Queue").items() if k.startswith("Approvals")}
    [(queue_id, queue)] = [(k, v) for k, v in queues.items() if "RedrivePolicy" in v["Properties"]]
    [(dlq_id, dlq)] = [(k, v) for k, v in queues.items() if k != queue_id]
    assert queue["Properties"]["SqsManagedSseEnabled"] is True and dlq["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    _, worker = function(on, WORKER)
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * worker["Properties"]["Timeout"]
    [alarm] = [a for k, a in on.resources("AWS::CloudWatch::Alarm").items() if k.startswith("ApprovalsDeadLetter")]
    assert alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Properties"]["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    assert alarm["Properties"]["Threshold"] == 1
    assert on.json["Outputs"]["ApprovalsDeadLetterQueueUrl"]["Value"] == {"Ref": dlq_id}


def test_worker_mapping_reports_batch_item_failures(on: Synth) -> None:
    worker_id, _ = function(on, WORKER)
    _, mapping = only(on.resources("AWS::Lambda::EventSourceMapping"))
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": worker_id}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["EventSourceArn"]["Fn::GetAtt"][0].startswith("ApprovalsQueue")
    assert props["BatchSize"] == 5


def test_worker_may_destroy_only_what_costguard_tagged(on: Synth) -> None:
    _, worker = function(on, WORKER)
    statements = role_statements(on, role_of(worker))
    seen: set[str] = set()
    for s in statements:
        acts = actions(s)
        if resources(s) == ["*"]:
            assert all(a.split(":")[1].startswith("Describe") for a in acts), acts  # '*' only for reads
            continue
        for a in acts:
            if a in DESTRUCTIVE:
                seen.add(a)
                assert s["Condition"] == FINDING_TAG, (a, s)
    assert seen == DESTRUCTIVE
    by_action: dict[str, list[dict[str, Any]]] = {}
    for s in statements:
        for a in actions(s):
            by_action.setdefault(a, []).append(s)
    # CreateSnapshot: on the volume only if tagged costguard:finding; the new snapshot only with costguard's tag.
    snapshot_conditions = {json.dumps(s["Condition"], sort_keys=True) for s in by_action["ec2:CreateSnapshot"]}
    assert snapshot_conditions == {
        json.dumps(FINDING_TAG, sort_keys=True),
        json.dumps({"Null": {"aws:RequestTag/costguard:remediation": "false"}}, sort_keys=True),
    }
    # CreateTags: at snapshot creation, or only costguard's keep/status keys on flagged resources.
    for s in by_action["ec2:CreateTags"]:
        c = s["Condition"]
        assert c == {"StringEquals": {"ec2:CreateAction": "CreateSnapshot"}} or (
            c["Null"] == FINDING_TAG["Null"]
            and c["ForAllValues:StringEquals"]["aws:TagKeys"] in (["costguard:keep"], ["costguard:status"])
        ), c
    assert not any(a.startswith("ec2:Terminate") or a == "ec2:DeleteTags" for a in by_action)


def test_dry_run_off_and_buttons_on_the_digest(synth: SynthFn) -> None:
    s = synth(**ON, approvals_dry_run="false", two_person_actions="release-eip,delete-nat-gateway")
    _, worker = function(s, WORKER)
    assert worker["Properties"]["Environment"]["Variables"]["DRY_RUN"] == "false"
    _, fn = function(s, INTERACTIONS)
    assert fn["Properties"]["Environment"]["Variables"]["TWO_PERSON_ACTIONS"] == "release-eip,delete-nat-gateway"
    _, sweep = function(s, "costguard.handlers.idle_sweep.handler")
    assert sweep["Properties"]["Environment"]["Variables"]["APPROVAL_BUTTONS"] == "true"


def test_cdk_nag_passes_and_every_approvals_acknowledgement_is_expected(on: Synth) -> None:
    assert validation_report(on)["pluginReports"] == []
    found = {k: v for k, v in acknowledgements(on).items() if k[0].startswith("Approvals")}
    kms = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]"
    remediation = {
        ("ApprovalsWorkerRemediation", f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{arn}]")
        for arn in (
            *(f"ec2:*:<AWS::AccountId>:{k}/*" for k in ("instance", "volume", "elastic-ip", "natgateway")),
            "ec2:*::snapshot/*",
            "elasticloadbalancing:*:<AWS::AccountId>:loadbalancer/*",
            "rds:*:<AWS::AccountId>:db:*",
            "rds:*:<AWS::AccountId>:snapshot:*",
        )
    }
    assert set(found) == {
        ("ApprovalsInteractionsFunction", "AwsSolutions-L1"),
        ("ApprovalsWorkerFunction", "AwsSolutions-L1"),
        # children of the function construct inherit the factory's runtime acknowledgement
        ("ApprovalsInteractionsFunctionFunctionUrl", "AwsSolutions-L1"),
        ("ApprovalsInteractionsFunctioninvokefunctionurl", "AwsSolutions-L1"),  # the public invoke permissions
        ("ApprovalsInteractionsFunctioninvokefunction", "AwsSolutions-L1"),
        ("ApprovalsWorkerFunctionSqsEventSourceCostguardApprovalsQueueE0A21088", "AwsSolutions-L1"),
        ("ApprovalsDeadLetterQueue", "AwsSolutions-SQS3"),
        ("ApprovalsDeadLetterQueuePolicy", "AwsSolutions-SQS3"),
        ("ApprovalsInteractionsParameters", kms),
        ("ApprovalsWorkerParameters", kms),
        ("ApprovalsWorkerDescribe", "AwsSolutions-IAM5[Resource::*]"),
        *remediation,
    }
    for key, reason in found.items():
        assert len(reason) >= 60, key


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"approvers": '{"format-disk": ["U0A"]}'}, "unknown action"),
        ({"approvers": '{"*": ["alice"]}'}, "Slack user ids"),
        ({"approvers": "{"}, "approvers"),
        ({"two_person_actions": "format-disk"}, "unknown action"),
        ({"approver_groups": "U0NOTAGROUP"}, "approver_groups"),
        ({"approvals_auto_remediate_days": "3"}, "approvals_auto_remediate_days"),
        ({"slack_team_id": "nope"}, "slack_team_id"),
    ],
)
def test_bad_approvals_context_fails_with_the_key_named(context: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_context(context)


SWEEP = "costguard.handlers.idle_sweep.handler"
SPEND = "costguard.handlers.spend_watch.handler"


def test_spend_alerts_get_buttons_and_the_worker_its_mute_days(on: Synth) -> None:
    _, spend = function(on, SPEND)
    assert spend["Properties"]["Environment"]["Variables"]["APPROVAL_BUTTONS"] == "true"
    _, worker = function(on, WORKER)
    assert worker["Properties"]["Environment"]["Variables"]["MUTE_DAYS"] == "30"


def test_the_grace_period_lets_the_sweep_send_to_the_approvals_queue_only_when_on(on: Synth, synth: SynthFn) -> None:
    def sends(s: Synth) -> list[dict[str, Any]]:
        _, sweep = function(s, SWEEP)
        return [st for st in role_statements(s, role_of(sweep)) if any(a.startswith("sqs:") for a in actions(st))]

    _, sweep = function(on, SWEEP)
    assert "AUTO_REMEDIATE_DAYS" not in sweep["Properties"]["Environment"]["Variables"]
    assert sends(on) == []
    graced = synth(**ON, approvals_auto_remediate_days="3", two_person_actions="release-eip")
    _, sweep = function(graced, SWEEP)
    env = sweep["Properties"]["Environment"]["Variables"]
    assert env["AUTO_REMEDIATE_DAYS"] == "3" and env["TWO_PERSON_ACTIONS"] == "release-eip"
    queue_id, _ = only({k: v for k, v in graced.resources("AWS::SQS::Queue").items() if k.startswith("ApprovalsQueue")})
    [statement] = sends(graced)
    assert actions(statement) == ["sqs:SendMessage"]
    assert resources(statement) == [{"Fn::GetAtt": [queue_id, "Arn"]}]
    assert env["APPROVALS_QUEUE_URL"] == {"Ref": queue_id}


@pytest.mark.parametrize(("days", "ok"), [("0", True), ("1", True), ("90", True), ("91", False), ("-1", False)])
def test_auto_remediate_days_accepts_0_or_1_to_90_with_approvals(days: str, ok: bool) -> None:
    if ok:
        assert Settings.from_context({"approvals": "true", "approvals_auto_remediate_days": days})
    else:
        with pytest.raises(SettingsError, match="approvals_auto_remediate_days"):
            Settings.from_context({"approvals": "true", "approvals_auto_remediate_days": days})
    with pytest.raises(SettingsError, match="unless approvals is true"):
        Settings.from_context({"approvals_auto_remediate_days": "3"})
    with pytest.raises(SettingsError, match="approvals_mute_days"):
        Settings.from_context({"approvals_mute_days": "0"})
