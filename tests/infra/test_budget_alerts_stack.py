"""What `budget_alerts=true` (the default) deploys: the budget, the topic (policy, TLS, KMS), the subscriptions,
the anomaly rule, the function's grants, its dead-letter queue and alarm; cdk-nag and cfn-lint clean in every
variant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from tests.infra.conftest import CHANNEL, Synth, SynthFn
from tests.infra.test_nag import (
    BUDGET_ALERTS_ACKNOWLEDGEMENTS,
    IDLE_SWEEP_ACKNOWLEDGEMENTS,
    SPEND_WATCH_ACKNOWLEDGEMENTS,
    UNENCRYPTED_TOPIC_ACKNOWLEDGEMENTS,
    acknowledgements,
    validation_report,
)

pytestmark = pytest.mark.infra

# The topic is unencrypted by default (a KMS key costs $1/month); these tests check the encrypted variant.
ON = {"budget_alerts": "true", "budget_monthly_usd": "4000", "budget_topic_encryption": "true"}
HANDLER = "costguard.handlers.budget_alerts.handler"
PARTITION, REGION, ACCOUNT = {"Ref": "AWS::Partition"}, {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}
SOURCE_ARNS = {
    "budgets.amazonaws.com": {"Fn::Join": ["", ["arn:", PARTITION, ":budgets::", ACCOUNT, ":*"]]},
    "costalerts.amazonaws.com": {"Fn::Join": ["", ["arn:", PARTITION, ":ce::", ACCOUNT, ":anomalysubscription/*"]]},
    "cloudwatch.amazonaws.com": {
        "Fn::Join": ["", ["arn:", PARTITION, ":cloudwatch:", REGION, ":", ACCOUNT, ":alarm:*"]]
    },
}
BUDGET_ACKNOWLEDGEMENTS = BUDGET_ALERTS_ACKNOWLEDGEMENTS


@pytest.fixture(scope="module")
def on(synth: SynthFn) -> Synth:
    return synth(**ON)


def only(s: Synth, type_: str) -> tuple[str, dict[str, Any]]:
    found = {k: v for k, v in s.resources(type_).items() if k.startswith("BudgetAlerts")}
    assert len(found) == 1, list(found)
    return next(iter(found.items()))


def function(s: Synth) -> tuple[str, dict[str, Any]]:
    [(fn_id, fn)] = [
        (k, v) for k, v in s.resources("AWS::Lambda::Function").items() if v["Properties"]["Handler"] == HANDLER
    ]
    return fn_id, fn


def getatt(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def statements_of(s: Synth, role_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in s.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def actions(statement: dict[str, Any]) -> list[str]:
    a = statement["Action"]
    return [a] if isinstance(a, str) else list(a)


def resources(statement: dict[str, Any]) -> list[Any]:
    r = statement["Resource"]
    return r if isinstance(r, list) else [r]


# --- the capability is a switch --------------------------------------------------------------------------


def test_on_by_default_and_off_by_context(synth: SynthFn, default: Synth, on: Synth) -> None:
    off = synth(budget_alerts="false")
    assert [k for k in off.resources("AWS::SNS::Topic") if not k.startswith("MonitoringOpsTopic")] == []
    assert not off.resources("AWS::Budgets::Budget")
    assert HANDLER not in json.dumps(off.json)
    assert not [k for k in off.json["Resources"] if k.startswith("BudgetAlerts")]
    assert not [k for k in off.json["Outputs"] if k.startswith("BudgetAlerts")]
    for s in (default, on):
        handlers = [f["Properties"]["Handler"] for f in s.resources("AWS::Lambda::Function").values()]
        assert handlers.count(HANDLER) == 1
        assert len(handlers) == len(off.resources("AWS::Lambda::Function")) + 1
        only(s, "AWS::SNS::Topic")
    assert not default.resources("AWS::Budgets::Budget")  # no amount in cdk.json: the topic for existing budgets


def test_no_budget_without_an_amount_but_the_topic_for_existing_ones(synth: SynthFn) -> None:
    s = synth(budget_alerts="true")
    assert not s.resources("AWS::Budgets::Budget")
    topic_id, _ = only(s, "AWS::SNS::Topic")
    assert s.json["Outputs"]["BudgetAlertsTopicArn"]["Value"] == {"Ref": topic_id}


# --- the budget ----------------------------------------------------------------------------------------------


def test_monthly_cost_budget_notifies_the_topic_at_the_actual_and_forecast_thresholds(on: Synth) -> None:
    topic_id, _ = only(on, "AWS::SNS::Topic")
    _, budget = only(on, "AWS::Budgets::Budget")
    props = budget["Properties"]
    data = props["Budget"]
    assert (data["BudgetType"], data["TimeUnit"], data["BudgetLimit"]) == (
        "COST",
        "MONTHLY",
        {"Amount": 4000, "Unit": "USD"},
    )
    assert "BudgetName" not in data  # CloudFormation names it unless budget_name is set
    assert "CostFilters" not in data
    # The spend watch's cost scope (Credit, Refund and Tax excluded; unblended).
    assert data["CostTypes"] == {
        "IncludeCredit": False,
        "IncludeRefund": False,
        "IncludeTax": False,
        "IncludeSupport": True,
        "UseAmortized": False,
    }
    notifications = [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"], n["Notification"]["ThresholdType"])
        for n in props["NotificationsWithSubscribers"]
    ]
    assert notifications == [
        ("ACTUAL", 80, "PERCENTAGE"),
        ("ACTUAL", 100, "PERCENTAGE"),
        ("FORECASTED", 100, "PERCENTAGE"),
    ]
    for n in props["NotificationsWithSubscribers"]:
        assert n["Notification"]["ComparisonOperator"] == "GREATER_THAN"
        assert n["Subscribers"] == [{"Address": {"Ref": topic_id}, "SubscriptionType": "SNS"}]
    policy_id, _ = only(on, "AWS::SNS::TopicPolicy")
    key_id, _ = only(on, "AWS::KMS::Key")
    assert {policy_id, key_id} <= set(budget["DependsOn"])  # Budgets checks it may publish when it is created


def test_budget_follows_context(synth: SynthFn) -> None:
    s = synth(
        **ON,
        budget_name="team-payments",
        budget_actual_thresholds="50, 90",
        budget_forecast_threshold="",
        budget_cost_filters='{"Service": ["AWS Glue", "Amazon Athena"], "Region": ["us-east-1"]}',
        cost_metric="AmortizedCost",
        exclude_record_types="Credit",
    )
    _, budget = only(s, "AWS::Budgets::Budget")
    data = budget["Properties"]["Budget"]
    assert data["BudgetName"] == "team-payments"
    assert data["CostFilters"] == {"Region": ["us-east-1"], "Service": ["AWS Glue", "Amazon Athena"]}
    assert data["CostTypes"]["UseAmortized"] is True
    assert data["CostTypes"]["IncludeTax"] is True and data["CostTypes"]["IncludeCredit"] is False
    assert [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"])
        for n in budget["Properties"]["NotificationsWithSubscribers"]
    ] == [("ACTUAL", 50), ("ACTUAL", 90)]


# --- the topic -----------------------------------------------------------------------------------------------


def test_topic_policy_lets_budgets_anomalies_and_alarms_publish_for_this_account_only_over_tls(on: Synth) -> None:
    topic_id, _ = only(on, "AWS::SNS::Topic")
    _, policy = only(on, "AWS::SNS::TopicPolicy")
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    [deny] = [st for st in statements if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert (deny["Principal"], deny["Action"], deny["Resource"]) == ("*", "sns:Publish", {"Ref": topic_id})
    allows = {st["Principal"]["Service"]: st for st in statements if st["Effect"] == "Allow"}
    assert set(allows) == set(SOURCE_ARNS)
    for service, st in allows.items():
        assert (st["Action"], st["Resource"]) == ("sns:Publish", {"Ref": topic_id})
        assert st["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": SOURCE_ARNS[service]},
        }


def test_encrypted_topic_key_lets_the_publishers_use_it(on: Synth) -> None:
    key_id, key = only(on, "AWS::KMS::Key")
    _, topic = only(on, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"] == getatt(key_id)
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    services = {st["Principal"].get("Service"): st for st in statements}
    for service, arn in SOURCE_ARNS.items():
        st = services[service]
        assert (st["Effect"], st["Resource"], sorted(actions(st))) == (
            "Allow",
            "*",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
        )
        assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": arn}}


def test_unencrypted_topic_has_no_key_and_a_reasoned_acknowledgement(synth: SynthFn) -> None:
    s = synth(**{**ON, "budget_topic_encryption": "false"})
    assert not s.resources("AWS::KMS::Key")
    _, topic = only(s, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" not in topic["Properties"]
    assert ("BudgetAlertsTopic", "AwsSolutions-SNS2") in acknowledgements(s)


def test_topic_is_unencrypted_by_default_to_stay_under_a_dollar_a_month_but_still_tls_only(default: Synth) -> None:
    assert not default.resources("AWS::KMS::Key")  # a customer-managed key alone costs $1/month
    topic_id, topic = only(default, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" not in topic["Properties"]
    _, policy = only(default, "AWS::SNS::TopicPolicy")
    [deny] = [st for st in policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert (deny["Principal"], deny["Action"], deny["Resource"]) == ("*", "sns:Publish", {"Ref": topic_id})
    reason = acknowledgements(default)[("BudgetAlertsTopic", "AwsSolutions-SNS2")]
    assert "$1/month" in reason and "KMS" in reason


# --- what invokes the function -------------------------------------------------------------------------------


def test_function_is_subscribed_to_the_topic(on: Synth) -> None:
    fn_id, _ = function(on)
    topic_id, _ = only(on, "AWS::SNS::Topic")
    _, subscription = only(on, "AWS::SNS::Subscription")
    assert subscription["Properties"] == {
        "Endpoint": getatt(fn_id),
        "Protocol": "lambda",
        "TopicArn": {"Ref": topic_id},
    }
    on.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": getatt(fn_id),
            "Principal": "sns.amazonaws.com",
            "SourceArn": {"Ref": topic_id},
        },
    )


def test_anomaly_rule_matches_anomaly_detected_and_dead_letters_to_the_queue(on: Synth) -> None:
    fn_id, _ = function(on)
    queue_id, _ = only(on, "AWS::SQS::Queue")
    rule_id, rule = only(on, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"] == {"source": ["aws.ce"], "detail-type": ["Anomaly Detected"]}
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == getatt(fn_id)
    assert target["DeadLetterConfig"] == {"Arn": getatt(queue_id)}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 6 * 3600}
    on.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"FunctionName": getatt(fn_id), "Principal": "events.amazonaws.com", "SourceArn": getatt(rule_id)},
    )


# --- the function, its DLQ and alarm --------------------------------------------------------------------------


def test_function_environment_shares_the_spend_watch_scope(on: Synth) -> None:
    _, fn = function(on)
    table_id, _ = next(iter(on.resources("AWS::DynamoDB::Table").items()))
    env = fn["Properties"]["Environment"]["Variables"]
    assert {
        k: env[k] for k in ("COSTGUARD_TABLE", "SLACK_CHANNEL", "COST_METRIC", "GROUP_BY", "EXCLUDE_RECORD_TYPES")
    } == {
        "COSTGUARD_TABLE": {"Ref": table_id},
        "SLACK_CHANNEL": CHANNEL,
        "COST_METRIC": "UnblendedCost",
        "GROUP_BY": "",
        "EXCLUDE_RECORD_TYPES": "Credit,Refund,Tax",
    }
    assert (fn["Properties"]["Runtime"], fn["Properties"]["Architectures"], fn["Properties"]["Timeout"]) == (
        "python3.12",
        ["arm64"],
        120,
    )


def test_async_failures_retry_then_land_in_an_encrypted_queue_with_an_alarm_on_its_depth(on: Synth) -> None:
    fn_id, fn = function(on)
    queue_id, queue = only(on, "AWS::SQS::Queue")
    assert fn["Properties"]["DeadLetterConfig"] == {"TargetArn": getatt(queue_id)}
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    _, invoke_config = only(on, "AWS::Lambda::EventInvokeConfig")
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": fn_id}
    assert (
        invoke_config["Properties"]["MaximumRetryAttempts"],
        invoke_config["Properties"]["MaximumEventAgeInSeconds"],
    ) == (
        2,
        6 * 3600,
    )
    _, queue_policy = only(on, "AWS::SQS::QueuePolicy")
    [deny] = [st for st in queue_policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    _, alarm = only(on, "AWS::CloudWatch::Alarm")
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    assert (props["Threshold"], props["ComparisonOperator"], props["TreatMissingData"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        "notBreaching",
    )
    assert on.json["Outputs"]["BudgetAlertsDeadLetterQueueUrl"]["Value"] == {"Ref": queue_id}


def test_role_has_exactly_the_actions_it_needs_on_scoped_resources(on: Synth) -> None:
    _, fn = function(on)
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = statements_of(on, role_id)
    granted = {a for st in statements for a in actions(st)}
    assert all(st["Effect"] == "Allow" for st in statements)
    assert not [a for a in granted if "*" in a]
    assert {a for a in granted if not a.startswith("dynamodb:")} == {
        "ce:GetCostAndUsage",
        "ssm:GetParameter",
        "kms:Decrypt",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }
    assert {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    } <= granted
    wildcard = [st for st in statements if "*" in resources(st)]
    assert [actions(st) for st in wildcard] == [["ce:GetCostAndUsage"]]  # Cost Explorer has no resource ARNs
    queue_id, _ = only(on, "AWS::SQS::Queue")
    [send] = [st for st in statements if "sqs:SendMessage" in actions(st)]
    assert resources(send) == [getatt(queue_id)]
    [decrypt] = [st for st in statements if "kms:Decrypt" in actions(st)]
    assert set(decrypt["Condition"]["StringEquals"]) == {"kms:ViaService", "kms:EncryptionContext:PARAMETER_ARN"}


# --- cdk-nag and cfn-lint ------------------------------------------------------------------------------------

VARIANTS = [
    ON,
    {**ON, "budget_topic_encryption": "false"},
    {**ON, "tracing": "true", "group_by": "LINKED_ACCOUNT", "budget_cost_filters": '{"Service": ["AWS Glue"]}'},
    {"budget_alerts": "true", "budget_topic_encryption": "true"},
    {"budget_alerts": "true", "idle_sweep": "false"},
]
IDS = ["budget", "unencrypted", "options", "topic-only", "topic-only-unencrypted-without-idle-sweep"]


@pytest.mark.parametrize("context", VARIANTS, ids=IDS)
def test_cdk_nag_finds_nothing_unacknowledged(synth: SynthFn, context: dict[str, str]) -> None:
    s = synth(**context)  # synth raises on any unacknowledged finding
    assert validation_report(s)["pluginReports"] == []


def test_every_acknowledgement_is_expected_and_says_why(synth: SynthFn, on: Synth) -> None:
    found = acknowledgements(on)
    assert set(found) == SPEND_WATCH_ACKNOWLEDGEMENTS | BUDGET_ACKNOWLEDGEMENTS | IDLE_SWEEP_ACKNOWLEDGEMENTS
    budget_only = acknowledgements(synth(**ON, idle_sweep="false"))
    assert set(budget_only) == SPEND_WATCH_ACKNOWLEDGEMENTS | BUDGET_ACKNOWLEDGEMENTS
    unencrypted = acknowledgements(synth(**{**ON, "budget_topic_encryption": "false"}))
    assert set(unencrypted) == set(found) | UNENCRYPTED_TOPIC_ACKNOWLEDGEMENTS
    for (logical_id, rule), reason in found.items():
        assert len(reason) >= 60, f"{logical_id} {rule}: give a specific reason"


@pytest.mark.parametrize("context", VARIANTS, ids=IDS)
def test_cfn_lint_finds_nothing(synth: SynthFn, context: dict[str, str]) -> None:
    s = synth(**context)
    matches = lint_file(s.outdir / "Costguard.template.json", config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []
