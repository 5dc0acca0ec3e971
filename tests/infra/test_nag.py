"""cdk-nag 3 (AwsSolutions) runs as a CDK policy-validation plugin during synth.

It is attached in `infra.app.build_app` with `Validations.of(app).add_plugins(AwsSolutionsChecks(app))`:
a finding that is not acknowledged (`Validations.of(construct).acknowledge(...)`) fails synth with
an error listing it, and lands in the cloud assembly's `validation-report.json`. Acknowledgements
are written into the template's `Metadata.cdk_nag` so they can be audited here.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

from infra.app import build_app
from tests.infra.conftest import CHANNEL, Synth, SynthFn

pytestmark = pytest.mark.infra

# (logical id without its hash, acknowledged rule): every acknowledgement in the stack, nothing else.
SPEND_WATCH_ACKNOWLEDGEMENTS = {
    ("SpendWatchHandlerFunction", "AwsSolutions-L1"),
    ("SpendWatchCostExplorerRead", "AwsSolutions-IAM5[Resource::*]"),
    (
        "SpendWatchSlackTokenRead",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]",
    ),
    ("SpendWatchScheduleDeadLetterQueue", "AwsSolutions-SQS3"),
    ("SpendWatchScheduleDeadLetterQueuePolicy", "AwsSolutions-SQS3"),  # a child of the queue
    # The stack always watches itself (ops_alarms=lean by default): the ops topic has no KMS key ($1/month).
    ("MonitoringOpsTopic", "AwsSolutions-SNS2"),
    ("MonitoringOpsTopicPolicy", "AwsSolutions-SNS2"),  # a child of the topic
}
BUDGET_ALERTS_ACKNOWLEDGEMENTS = {
    ("BudgetAlertsHandlerFunction", "AwsSolutions-L1"),
    ("BudgetAlertsCostExplorerRead", "AwsSolutions-IAM5[Resource::*]"),
    (
        "BudgetAlertsSlackTokenRead",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]",
    ),
    ("BudgetAlertsDeadLetterQueue", "AwsSolutions-SQS3"),
    ("BudgetAlertsDeadLetterQueuePolicy", "AwsSolutions-SQS3"),  # a child of the queue
    # Children of the function construct inherit the factory's runtime acknowledgement (L1 checks functions only):
    ("BudgetAlertsHandlerFunctionTopic", "AwsSolutions-L1"),  # the SNS subscription
    ("BudgetAlertsHandlerFunctionAllowInvokeCostguardBudgetAlertsTopicCE32D66A", "AwsSolutions-L1"),
    ("BudgetAlertsHandlerFunctionEventInvokeConfig", "AwsSolutions-L1"),
}
# budget_topic_encryption=false (the default): no customer-managed KMS key ($1/month) on the topic.
UNENCRYPTED_TOPIC_ACKNOWLEDGEMENTS = {
    ("BudgetAlertsTopic", "AwsSolutions-SNS2"),
    ("BudgetAlertsTopicPolicy", "AwsSolutions-SNS2"),  # a child of the topic
}
IDLE_SWEEP_ACKNOWLEDGEMENTS = {
    ("IdleSweepHandlerFunction", "AwsSolutions-L1"),
    ("IdleSweepDescribeAndMetrics", "AwsSolutions-IAM5[Resource::*]"),
    (
        "IdleSweepSlackTokenRead",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]",
    ),
    ("IdleSweepScheduleDeadLetterQueue", "AwsSolutions-SQS3"),
    ("IdleSweepScheduleDeadLetterQueuePolicy", "AwsSolutions-SQS3"),  # a child of the queue
    *(
        ("IdleSweepTagging", f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{arn}]")
        for arn in (
            *(
                f"ec2:*:<AWS::AccountId>:{kind}/*"
                for kind in ("instance", "volume", "snapshot", "elastic-ip", "natgateway")
            ),
            "elasticloadbalancing:*:<AWS::AccountId>:loadbalancer/*",
            "rds:*:<AWS::AccountId>:db:*",
        )
    ),
}
# The stack as cdk.json configures it: spend watch, budget alerts (unencrypted topic) and idle sweep.
EXPECTED_ACKNOWLEDGEMENTS = (
    SPEND_WATCH_ACKNOWLEDGEMENTS
    | BUDGET_ALERTS_ACKNOWLEDGEMENTS
    | UNENCRYPTED_TOPIC_ACKNOWLEDGEMENTS
    | IDLE_SWEEP_ACKNOWLEDGEMENTS
)
SPEND_WATCH_ONLY = {"budget_alerts": "false", "idle_sweep": "false"}


def acknowledgements(s: Synth) -> dict[tuple[str, str], str]:
    """{(logical id without its 8-character hash, rule id): reason} from the template's cdk_nag metadata."""
    found: dict[tuple[str, str], str] = {}
    for logical_id, resource in s.json["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            found[(logical_id[:-8], rule["id"])] = rule["reason"]
    return found


def validation_report(s: Synth) -> dict[str, object]:
    report: dict[str, object] = json.loads((s.outdir / "validation-report.json").read_text())
    return report


@pytest.mark.parametrize(
    "context",
    [{}, {"tracing": "true"}, SPEND_WATCH_ONLY, {"budget_topic_encryption": "true"}],
    ids=["default", "tracing", "spend-watch-only", "encrypted-topic"],
)
def test_synth_passes_cdk_nag_with_no_unacknowledged_findings(synth: SynthFn, context: dict[str, str]) -> None:
    s = synth(**context)  # would raise ValidationFailed on any unacknowledged finding
    assert validation_report(s)["pluginReports"] == []


def test_every_acknowledgement_is_the_expected_one_and_says_why(default: Synth) -> None:
    found = acknowledgements(default)
    assert set(found) == EXPECTED_ACKNOWLEDGEMENTS
    for (logical_id, rule), reason in found.items():
        assert len(reason) >= 60, f"{logical_id} {rule}: give a specific reason"


def test_spend_watch_only_stack_has_exactly_the_spend_watch_acknowledgements(synth: SynthFn) -> None:
    found = acknowledgements(synth(**SPEND_WATCH_ONLY))
    assert set(found) == SPEND_WATCH_ACKNOWLEDGEMENTS


def test_unencrypted_topic_acknowledgement_gives_the_cost_reason(default: Synth) -> None:
    found = acknowledgements(default)
    for key in UNENCRYPTED_TOPIC_ACKNOWLEDGEMENTS:
        reason = found[key]
        assert "$1/month" in reason and "KMS" in reason and "TLS" in reason, key
        assert "budget_topic_encryption=true" in reason, key


def test_encrypted_topic_needs_no_sns2_acknowledgement(synth: SynthFn) -> None:
    found = acknowledgements(synth(budget_topic_encryption="true"))
    assert set(found) == EXPECTED_ACKNOWLEDGEMENTS - UNENCRYPTED_TOPIC_ACKNOWLEDGEMENTS


def test_tracing_acknowledges_the_xray_wildcard_on_the_function_roles_only(synth: SynthFn) -> None:
    found = acknowledgements(synth(tracing="true"))
    assert set(found) - EXPECTED_ACKNOWLEDGEMENTS == {
        (f"{capability}{child}", "AwsSolutions-IAM5[Resource::*]")
        for capability in ("SpendWatch", "BudgetAlerts", "IdleSweep")
        # the role (no statements) and where CDK puts X-Ray
        for child in ("HandlerRole", "HandlerRoleDefaultPolicy")
    }
    assert set(found) >= EXPECTED_ACKNOWLEDGEMENTS


def test_tracing_on_the_spend_watch_only_stack_acknowledges_its_role_only(synth: SynthFn) -> None:
    found = acknowledgements(synth(tracing="true", **SPEND_WATCH_ONLY))
    assert set(found) - SPEND_WATCH_ACKNOWLEDGEMENTS == {
        ("SpendWatchHandlerRole", "AwsSolutions-IAM5[Resource::*]"),  # the role (no statements) and
        ("SpendWatchHandlerRoleDefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),  # where CDK puts X-Ray
    }


def test_a_new_wildcard_grant_on_the_spend_watch_role_fails_synth(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The '*' acknowledgement covers the Cost Explorer policy only, not grants added to the role later."""
    app, stack = build_app(
        {"slack_channel_id": CHANNEL, "bundling": "stub"}, outdir=str(tmp_path_factory.mktemp("cdk.out"))
    )
    stack.spend_watch.handler.role.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"])
    )
    with pytest.raises(RuntimeError, match=r"AwsSolutions-IAM5\[Resource::\*\]") as error:
        app.synth()
    assert "SpendWatch/Handler/Role/DefaultPolicy/Resource" in str(error.value)


def test_an_unacknowledged_finding_fails_synth_and_is_reported(tmp_path_factory: pytest.TempPathFactory) -> None:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app({"slack_channel_id": CHANNEL, "bundling": "stub"}, outdir=str(outdir))
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match="ValidationFailed") as error:
        app.synth()
    for rule in ("AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"):
        assert rule in str(error.value)
    [report] = json.loads((outdir / "validation-report.json").read_text())["pluginReports"]
    assert report["pluginName"] == "AwsSolutions"
    assert report["conclusion"] == "failure"
    assert {v["ruleName"] for v in report["violations"]} == {
        "AwsSolutions-SQS2",
        "AwsSolutions-SQS3",
        "AwsSolutions-SQS4",
    }
