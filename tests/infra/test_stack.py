"""What the Costguard stack deploys: state table, spend-watch function, its grants, schedule and DLQ.

The default stack also holds the budget alerts and the idle sweep (their own tests cover them): the spend-watch
resources are picked by handler and logical id, never as "the only one of its type"."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import CHANNEL, Synth, SynthFn

pytestmark = pytest.mark.infra

DYNAMODB_READ_WRITE = {
    # exactly what Table.grant_read_write_data grants (CDK 2.275)
    "dynamodb:BatchGetItem",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
}
ALLOWED_ACTIONS = {
    "ce:GetCostAndUsage",
    "ssm:GetParameter",
    "kms:Decrypt",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    *DYNAMODB_READ_WRITE,
}


SPEND_WATCH_HANDLER = "costguard.handlers.spend_watch.handler"
HANDLERS = {
    SPEND_WATCH_HANDLER,
    "costguard.handlers.budget_alerts.handler",
    "costguard.handlers.idle_sweep.handler",
}


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def spend_watch(s: Synth, type_: str) -> tuple[str, dict[str, Any]]:
    """The one resource of this type that the SpendWatch construct owns."""
    return only({k: v for k, v in s.resources(type_).items() if k.startswith("SpendWatch")})


def function(s: Synth) -> tuple[str, dict[str, Any]]:
    fn_id, fn = only(
        {
            k: v
            for k, v in s.resources("AWS::Lambda::Function").items()
            if v["Properties"]["Handler"] == SPEND_WATCH_HANDLER
        }
    )
    assert fn_id.startswith("SpendWatch")
    return fn_id, fn


def test_default_stack_has_the_three_capabilities_each_with_one_function(default: Synth) -> None:
    handlers = [f["Properties"]["Handler"] for f in default.resources("AWS::Lambda::Function").values()]
    assert sorted(handlers) == sorted(HANDLERS)


def role_statements(s: Synth, role_id: str) -> list[dict[str, Any]]:
    """Every statement of every IAM policy attached to the role."""
    statements: list[dict[str, Any]] = []
    for policy in s.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def arn(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", list(parts)]}


PARTITION, REGION, ACCOUNT = {"Ref": "AWS::Partition"}, {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}


def parameter_arn(name: str) -> dict[str, Any]:
    return arn("arn:", PARTITION, ":ssm:", REGION, ":", ACCOUNT, f":parameter/{name.lstrip('/')}")


# --- state -------------------------------------------------------------------------------------------


def test_state_table_is_on_demand_pk_sk_with_ttl_pitr_and_retained(default: Synth) -> None:
    table_id, table = only(default.resources("AWS::DynamoDB::Table"))
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert "TableName" not in props  # no hard-coded names
    _, fn = function(default)
    assert fn["Properties"]["Environment"]["Variables"]["COSTGUARD_TABLE"] == {"Ref": table_id}


# --- function ------------------------------------------------------------------------------------------


def test_spend_watch_function_is_python312_arm64_with_the_contract_handler(default: Synth) -> None:
    _, fn = function(default)
    props = fn["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == SPEND_WATCH_HANDLER
    assert props["MemorySize"] == 256
    assert props["Timeout"] == 300
    assert "ReservedConcurrentExecutions" not in props
    assert "TracingConfig" not in props
    assert "FunctionName" not in props


def test_spend_watch_environment_with_defaults(default: Synth) -> None:
    table_id, _ = only(default.resources("AWS::DynamoDB::Table"))
    _, fn = function(default)
    assert fn["Properties"]["Environment"]["Variables"] == {
        "COSTGUARD_TABLE": {"Ref": table_id},
        "SLACK_CHANNEL": CHANNEL,
        "SLACK_TOKEN_PARAMETER": "/costguard/slack/bot-token",
        "COST_METRIC": "UnblendedCost",
        "GROUP_BY": "",
        "MIN_IMPACT_USD": "",
        "MIN_IMPACT_PCT": "",
        "EXCLUDE_RECORD_TYPES": "Credit,Refund,Tax",
        "HISTORY_DAYS": "120",
        "POWERTOOLS_SERVICE_NAME": "costguard",
        "POWERTOOLS_METRICS_NAMESPACE": "Costguard",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACER_DISABLED": "true",
    }


def test_spend_watch_environment_follows_context(synth: SynthFn) -> None:
    s = synth(
        cost_metric="NetUnblendedCost",
        group_by="TAG:team",
        min_impact_usd="25",
        min_impact_pct="12.5",
        exclude_record_types="Credit,Refund,Tax,Support",
        history_days="180",
        slack_token_parameter="/team/slack/bot-token",
    )
    _, fn = function(s)
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["COST_METRIC"] == "NetUnblendedCost"
    assert env["GROUP_BY"] == "TAG:team"
    assert env["MIN_IMPACT_USD"] == "25"
    assert env["MIN_IMPACT_PCT"] == "12.5"
    assert env["EXCLUDE_RECORD_TYPES"] == "Credit,Refund,Tax,Support"
    assert env["HISTORY_DAYS"] == "180"
    assert env["SLACK_TOKEN_PARAMETER"] == "/team/slack/bot-token"
    get_parameter = [st for st in role_statements(s, role_id(s)) if "ssm:GetParameter" in actions(st)]
    assert [resources(st) for st in get_parameter] == [[parameter_arn("/team/slack/bot-token")]]


def test_tracing_context_turns_on_xray_and_the_powertools_tracer(synth: SynthFn) -> None:
    s = synth(tracing="true")
    _, fn = function(s)
    assert fn["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_TRACER_DISABLED"] == "false"
    xray = {a for st in role_statements(s, role_id(s)) for a in actions(st) if a.startswith("xray:")}
    assert xray == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_function_logs_to_its_own_log_group_with_the_configured_retention(synth: SynthFn, default: Synth) -> None:
    group_id, group = spend_watch(default, "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 30
    _, fn = function(default)
    assert fn["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": group_id}}

    longer = synth(log_retention_days="90")
    _, group = spend_watch(longer, "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 90
    assert {g["Properties"]["RetentionInDays"] for g in longer.resources("AWS::Logs::LogGroup").values()} == {90}


def test_every_function_logs_to_a_log_group_of_its_own(default: Synth) -> None:
    groups = default.resources("AWS::Logs::LogGroup")
    targets = [
        f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for f in default.resources("AWS::Lambda::Function").values()
    ]
    assert sorted(targets) == sorted(groups)  # one each, none shared, none left over


def test_every_log_group_has_a_retention(default: Synth) -> None:
    groups = default.resources("AWS::Logs::LogGroup")
    assert groups
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())


# --- IAM -----------------------------------------------------------------------------------------------


def role_id(s: Synth) -> str:
    _, fn = function(s)
    role_ref = fn["Properties"]["Role"]["Fn::GetAtt"]
    assert role_ref[1] == "Arn"
    return str(role_ref[0])


def test_spend_watch_role_is_assumable_by_lambda_only_and_has_no_managed_policies(default: Synth) -> None:
    role = default.resources("AWS::IAM::Role")[role_id(default)]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]
    assert "RoleName" not in role["Properties"]


def test_spend_watch_role_has_exactly_the_allowed_actions(default: Synth) -> None:
    statements = role_statements(default, role_id(default))
    granted = [a for st in statements for a in actions(st)]
    assert all(st["Effect"] == "Allow" for st in statements)
    assert set(granted) == ALLOWED_ACTIONS
    assert not [a for a in granted if "*" in a]
    assert "cloudwatch:PutMetricData" not in granted  # Powertools metrics are EMF, through the logs


def test_spend_watch_role_resources_are_scoped(default: Synth) -> None:
    statements = role_statements(default, role_id(default))
    table_id, _ = only(default.resources("AWS::DynamoDB::Table"))
    group_id, _ = spend_watch(default, "AWS::Logs::LogGroup")
    token = parameter_arn("/costguard/slack/bot-token")

    by_action: dict[str, list[dict[str, Any]]] = {}
    for st in statements:
        for a in actions(st):
            by_action.setdefault(a, []).append(st)

    # Cost Explorer has no resource-level permissions: the only '*' resource in the role.
    assert [resources(st) for st in by_action["ce:GetCostAndUsage"]] == [["*"]]
    assert [st for st in statements if "*" in resources(st)] == by_action["ce:GetCostAndUsage"]
    assert all("Condition" not in st for st in by_action["ce:GetCostAndUsage"])

    for a in DYNAMODB_READ_WRITE:
        assert [resources(st) for st in by_action[a]] == [[{"Fn::GetAtt": [table_id, "Arn"]}]], a

    assert [resources(st) for st in by_action["ssm:GetParameter"]] == [[token]]

    for a in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert [resources(st) for st in by_action[a]] == [[{"Fn::GetAtt": [group_id, "Arn"]}]], a

    [decrypt] = by_action["kms:Decrypt"]
    assert actions(decrypt) == ["kms:Decrypt"]
    assert resources(decrypt) == [arn("arn:", PARTITION, ":kms:", REGION, ":", ACCOUNT, ":key/*")]
    assert decrypt["Condition"] == {
        "StringEquals": {
            "kms:ViaService": arn("ssm.", REGION, ".amazonaws.com"),
            "kms:EncryptionContext:PARAMETER_ARN": token,
        }
    }


def test_stack_does_not_create_the_token_parameter_or_any_secret(default: Synth) -> None:
    assert not default.resources("AWS::SSM::Parameter")
    assert not default.resources("AWS::SecretsManager::Secret")


# --- schedule and DLQ ----------------------------------------------------------------------------------


def schedule_rule(s: Synth) -> tuple[str, dict[str, Any]]:
    """The spend watch's schedule: its construct's only rule, and the only rule targeting its function."""
    rule_id, rule = spend_watch(s, "AWS::Events::Rule")
    fn_id, _ = function(s)
    targeting = [
        k
        for k, v in s.resources("AWS::Events::Rule").items()
        if any(t["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]} for t in v["Properties"]["Targets"])
    ]
    assert targeting == [rule_id]
    return rule_id, rule


def schedule(s: Synth) -> dict[str, Any]:
    return schedule_rule(s)[1]


def test_rule_runs_daily_at_13_utc_by_default_and_targets_the_function(default: Synth) -> None:
    fn_id, _ = function(default)
    rule = schedule(default)["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 13 * * ? *)"
    assert rule["State"] == "ENABLED"
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    default.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [fn_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [schedule_rule(default)[0], "Arn"]},
        },
    )


def test_rule_schedule_follows_context(synth: SynthFn) -> None:
    s = synth(spend_watch_schedule="cron(30 6 ? * MON-FRI *)")
    assert schedule(s)["Properties"]["ScheduleExpression"] == "cron(30 6 ? * MON-FRI *)"


def test_rule_target_retries_then_dead_letters_to_an_encrypted_ssl_only_queue(default: Synth) -> None:
    queue_id, queue = spend_watch(default, "AWS::SQS::Queue")
    [target] = schedule(default)["Properties"]["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 6 * 3600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}

    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    _, policy = spend_watch(default, "AWS::SQS::QueuePolicy")
    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    rule_arn = {"Fn::GetAtt": [schedule_rule(default)[0], "Arn"]}
    deny, allow = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny == {
        "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": queue_arn,
    }
    assert allow == {
        "Action": "sqs:SendMessage",
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Resource": queue_arn,
        "Sid": allow["Sid"],
    }


# --- stack-wide ----------------------------------------------------------------------------------------

TAGGABLE = (
    "AWS::DynamoDB::Table",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
    "AWS::Events::Rule",
    "AWS::SNS::Topic",  # budget alerts
    "AWS::CloudWatch::Alarm",
    "AWS::KMS::Key",  # budget_topic_encryption=true
    "AWS::Budgets::Budget",  # budget_monthly_usd set; its tags are ResourceTags
)
TAGS_PROPERTY = {"AWS::Budgets::Budget": "ResourceTags"}


@pytest.mark.parametrize(
    "context",
    [{}, {"budget_monthly_usd": "100", "budget_topic_encryption": "true"}],
    ids=["default", "budget-and-key"],
)
def test_every_taggable_resource_is_tagged_app_costguard(
    synth: SynthFn, default: Synth, context: dict[str, str]
) -> None:
    s = synth(**context) if context else default
    resources_ = s.json["Resources"]
    for type_ in {r["Type"] for r in resources_.values()}:
        if type_ in TAGGABLE:
            for logical_id, r in s.resources(type_).items():
                tags = r["Properties"].get(TAGS_PROPERTY.get(type_, "Tags"), [])
                assert {"Key": "app", "Value": "costguard"} in tags, logical_id
    assert {r["Type"] for r in resources_.values()} <= {
        *TAGGABLE,
        "AWS::IAM::Policy",
        "AWS::SQS::QueuePolicy",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::SNS::TopicPolicy",
        "AWS::SNS::Subscription",
    }, "a new resource type: add it to TAGGABLE if CloudFormation can tag it"
    if context:
        assert {"AWS::KMS::Key", "AWS::Budgets::Budget"} <= {r["Type"] for r in resources_.values()}


def test_stack_is_environment_agnostic(default: Synth) -> None:
    assert default.stack.environment == "aws://unknown-account/unknown-region"


def test_placeholder_channel_warns_until_a_real_one_is_set(synth: SynthFn, default: Synth) -> None:
    placeholder = synth(slack_channel_id=None)  # None falls back to the placeholder
    Annotations.from_stack(placeholder.stack).has_warning(
        "/Costguard", Match.string_like_regexp("slack_channel_id' is the placeholder")
    )
    Annotations.from_stack(default.stack).has_no_warning("*", Match.any_value())
