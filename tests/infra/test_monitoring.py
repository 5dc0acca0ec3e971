"""The guard watches itself (infra/constructs/monitoring.py), thriftily, and every function is thrifty too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from cfnlint.api import ManualArgs, lint_file

from infra.app import build_app
from infra.constructs.monitoring import HEARTBEATS, MAX_METRICS_PER_ALARM
from infra.settings import Settings, SettingsError
from tests.infra.conftest import CHANNEL, Synth, SynthFn

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
ALARM_METRIC_USD = 0.10
# Memory each handler may have: right-sized from the functional runs (the idle sweep holds every region's
# inventory and runs a thread pool; the others hold one account's cost history).
MEMORY_CEILING_MB = 512


def alarms(s: Synth) -> dict[str, dict[str, Any]]:
    return s.resources("AWS::CloudWatch::Alarm")


def alarm_metrics(alarm: dict[str, Any]) -> int:
    """How many metrics CloudWatch bills this alarm for ($0.10 each): metric math counts each metric in it."""
    queries = alarm["Properties"].get("Metrics")
    return sum(1 for q in queries if "MetricStat" in q) if queries else 1


def ops_topic(s: Synth) -> str:
    [topic_id] = [k for k in s.resources("AWS::SNS::Topic") if k.startswith("MonitoringOpsTopic")]
    return topic_id


def by_prefix(s: Synth, prefix: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in alarms(s).items() if k.startswith(prefix)}


# --- what is watched -------------------------------------------------------------------------------------------


def test_heartbeat_alarms_on_a_missing_success_metric_for_26_hours(default: Synth) -> None:
    [(_, alarm)] = by_prefix(default, "MonitoringSpendWatchHeartbeat").items()
    props = alarm["Properties"]
    assert props["Namespace"] == "Costguard"
    assert props["MetricName"] == "SpendWatchSucceeded"
    assert props["Dimensions"] == [{"Name": "service", "Value": "costguard"}]
    assert (props["Statistic"], props["Period"]) == ("Sum", 3600)
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 26  # 26 hourly periods, all without a success
    assert props["ComparisonOperator"] == "LessThanThreshold" and props["Threshold"] == 1
    assert props["TreatMissingData"] == "breaching"
    assert props["Period"] * props["EvaluationPeriods"] <= 7 * 24 * 3600  # CloudWatch's limit for 1-hour periods
    topic = {"Ref": ops_topic(default)}
    assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]


def test_each_scheduled_capability_with_a_success_metric_has_a_heartbeat(default: Synth, synth: SynthFn) -> None:
    names = {a["Properties"].get("MetricName") for a in by_prefix(default, "Monitoring").values()}
    assert {"SpendWatchSucceeded", "IdleSweepSucceeded"} <= names
    no_idle = synth(idle_sweep="false")
    assert "IdleSweepSucceeded" not in {a["Properties"].get("MetricName") for a in alarms(no_idle).values()}


@pytest.mark.parametrize(("handler", "metric"), sorted(HEARTBEATS.items()))
def test_heartbeat_metrics_are_the_ones_the_handlers_emit(handler: str, metric: str) -> None:
    module = ROOT / "functions" / (handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    assert re.search(rf'add_metric\(name="{metric}"', module.read_text()), f"{module} no longer emits {metric}"


def test_heartbeat_window_follows_context_and_is_validated(synth: SynthFn) -> None:
    s = synth(ops_heartbeat_hours="50")
    [(_, alarm)] = by_prefix(s, "MonitoringSpendWatchHeartbeat").items()
    assert alarm["Properties"]["EvaluationPeriods"] == 50
    with pytest.raises(SettingsError, match="ops_heartbeat_hours' must be at least one hour more than the longest"):
        Settings.from_context({"spend_watch_schedule": "rate(2 days)"})
    assert Settings.from_context({"spend_watch_schedule": "rate(2 days)", "ops_heartbeat_hours": 50})


def test_lean_default_adds_no_alarm_for_queues_the_heartbeats_or_other_alarms_cover(default: Synth) -> None:
    """Schedule dead-letter queues mean a missed run (the heartbeat sees it); the budget-alerts queue has an alarm."""
    assert not by_prefix(default, "MonitoringDeadLetters")
    assert not by_prefix(default, "MonitoringFunctionFailures")
    watched_queues = {
        d["Value"]["Fn::GetAtt"][0]
        for a in alarms(default).values()
        for d in a["Properties"].get("Dimensions", [])
        if d["Name"] == "QueueName"
    }
    assert [q for q in watched_queues if q.startswith("BudgetAlertsDeadLetterQueue")]


def test_alarms_other_capabilities_own_notify_the_ops_topic(default: Synth) -> None:
    [(_, alarm)] = by_prefix(default, "BudgetAlertsDeadLetterAlarm").items()
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": ops_topic(default)}]


def test_every_alarm_in_the_stack_notifies_the_ops_topic(default: Synth, synth: SynthFn) -> None:
    for s in (default, synth(ops_alarms="full")):
        for alarm_id, alarm in alarms(s).items():
            assert {"Ref": ops_topic(s)} in alarm["Properties"].get("AlarmActions", []), alarm_id


def test_full_watches_every_function_and_every_dead_letter_queue(synth: SynthFn) -> None:
    s = synth(ops_alarms="full")
    functions = s.resources("AWS::Lambda::Function")
    failures = by_prefix(s, "MonitoringFunctionFailures")
    watched: dict[str, set[str]] = {}
    for alarm in failures.values():
        assert alarm_metrics(alarm) <= MAX_METRICS_PER_ALARM
        [expression] = [q for q in alarm["Properties"]["Metrics"] if "Expression" in q]
        assert expression["Expression"].startswith("SUM([") and expression["ReturnData"] is True
        for q in alarm["Properties"]["Metrics"]:
            if "MetricStat" in q:
                metric = q["MetricStat"]["Metric"]
                assert metric["Namespace"] == "AWS/Lambda"
                [dim] = metric["Dimensions"]
                watched.setdefault(dim["Value"]["Ref"], set()).add(metric["MetricName"])
    assert watched == {fn_id: {"Errors", "Throttles"} for fn_id in functions}

    queues_watched = {
        d["Value"]["Fn::GetAtt"][0]
        for a in alarms(s).values()
        for q in a["Properties"].get("Metrics", [{"MetricStat": {"Metric": a["Properties"]}}])
        if "MetricStat" in q
        for d in q["MetricStat"]["Metric"].get("Dimensions", [])
        if d["Name"] == "QueueName"
    }
    dead_letter_queues = {k for k in s.resources("AWS::SQS::Queue") if "DeadLetterQueue" in k}
    assert dead_letter_queues and queues_watched == dead_letter_queues


def test_metric_math_alarms_split_at_ten_metrics(tmp_path_factory: pytest.TempPathFactory) -> None:
    """With more functions than one alarm may hold, the sums are split (CloudWatch's limit is 10 metrics)."""
    _, stack = build_app(
        {"slack_channel_id": CHANNEL, "bundling": "stub", "ops_alarms": "off"},
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
    )
    from infra.constructs.monitoring import Monitoring
    from infra.settings import Settings as S

    for n in range(4):  # 3 real + 4 extra functions = 14 metrics -> two alarms
        lambda_.Function(
            stack,
            f"Extra{n}",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="costguard.handlers.spend_watch.handler",
            code=lambda_.Code.from_inline("x = 1"),
        )
    monitoring = Monitoring(stack, "Monitoring", settings=S.from_context({"ops_alarms": "full"}))
    failures = [a for a in monitoring.alarms if a.node.id.startswith("FunctionFailures")]
    assert len(failures) == 2


def test_a_function_composed_after_monitoring_fails_synth(tmp_path_factory: pytest.TempPathFactory) -> None:
    app, stack = build_app(
        {"slack_channel_id": CHANNEL, "bundling": "stub"}, outdir=str(tmp_path_factory.mktemp("cdk.out"))
    )
    sqs.Queue(stack, "Late", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)  # not a DLQ: fine
    lambda_.Function(
        stack,
        "LateFunction",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="costguard.handlers.spend_watch.handler",
        code=lambda_.Code.from_inline("x = 1"),
    )
    with pytest.raises(RuntimeError, match="Monitoring must be composed after every capability"):
        app.synth()


def test_ops_email_subscribes_and_off_removes_monitoring(synth: SynthFn, default: Synth) -> None:
    assert not default.resources("AWS::SNS::Subscription") or all(
        v["Properties"]["Protocol"] != "email" for v in default.resources("AWS::SNS::Subscription").values()
    )
    s = synth(ops_email="ops@example.com")
    [email] = [v for v in s.resources("AWS::SNS::Subscription").values() if v["Properties"]["Protocol"] == "email"]
    assert email["Properties"]["Endpoint"] == "ops@example.com"
    assert email["Properties"]["TopicArn"] == {"Ref": ops_topic(s)}
    off = synth(ops_alarms="off")
    assert not [k for k in off.json["Resources"] if k.startswith("Monitoring")]
    assert "OpsTopicArn" not in off.json["Outputs"] and "OpsTopicArn" in default.json["Outputs"]


def test_ops_topic_allows_only_this_accounts_alarms_and_tls(default: Synth) -> None:
    [(_, policy)] = [
        (k, v) for k, v in default.resources("AWS::SNS::TopicPolicy").items() if k.startswith("MonitoringOpsTopic")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    [allow] = [st for st in statements if st["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert next(st for st in statements if st["Effect"] == "Deny")["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


@pytest.mark.parametrize(
    ("context", "max_alarm_metrics"),
    [({}, 3), ({"ops_alarms": "full"}, 11)],
    ids=["lean", "full"],
)
def test_alarm_count_is_what_the_budget_says(synth: SynthFn, context: dict[str, str], max_alarm_metrics: int) -> None:
    """lean: 2 heartbeats + the budget-alerts DLQ alarm = 3 alarm metrics ($0.30/month); full adds 8 ($1.10)."""
    total = sum(alarm_metrics(a) for a in alarms(synth(**context)).values())
    assert total == max_alarm_metrics
    assert round(total * ALARM_METRIC_USD, 2) <= 1.10


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("ops_alarms", "some", "must be one of off, lean, full"),
        ("ops_alarms", "true", "must be one of off, lean, full"),
        ("ops_email", "not-an-email", "must be empty or one email address"),
        ("ops_email", "a@b.com,c@d.com", "must be empty or one email address"),
        ("ops_heartbeat_hours", "1", "must be a whole number of hours from 2 to 168"),
        ("ops_heartbeat_hours", "169", "must be a whole number of hours from 2 to 168"),
        ("ops_heartbeat_hours", "26.5", "must be a whole number of hours"),
    ],
)
def test_bad_ops_values_name_the_key(key: str, value: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_context({key: value})
    assert str(error.value).startswith(f"costguard: context '{key}' ")
    assert allowed in str(error.value) and repr(value) in str(error.value)


def test_ops_keys_parse_cli_strings_and_json() -> None:
    s = Settings.from_context({"ops_alarms": "FULL", "ops_email": " ops@example.com ", "ops_heartbeat_hours": "30"})
    assert (s.ops_alarms, s.ops_email, s.ops_heartbeat_hours) == ("full", "ops@example.com", 30)
    d = Settings.from_context({"ops_heartbeat_hours": 48, "ops_alarms": "off"})
    assert (d.ops_alarms, d.ops_heartbeat_hours) == ("off", 48)


def test_monitoring_passes_cdk_nag_and_cfn_lint(synth: SynthFn) -> None:
    s = synth(ops_alarms="full", ops_email="ops@example.com")  # synth raises on an unacknowledged finding
    matches = lint_file(s.outdir / "Costguard.template.json", config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


# --- thrifty, across every function --------------------------------------------------------------------------


@pytest.mark.parametrize("context", [{}, {"ops_alarms": "full", "budget_monthly_usd": "100"}], ids=["default", "all"])
def test_every_function_is_thrifty(synth: SynthFn, default: Synth, context: dict[str, str]) -> None:
    s = synth(**context) if context else default
    functions = s.resources("AWS::Lambda::Function")
    groups = s.resources("AWS::Logs::LogGroup")
    assert functions
    for fn_id, fn in functions.items():
        props = fn["Properties"]
        assert props["Architectures"] == ["arm64"], fn_id
        assert props["MemorySize"] <= MEMORY_CEILING_MB, fn_id
        assert "TracingConfig" not in props, fn_id  # X-Ray only with context tracing=true
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACER_DISABLED"] == "true", fn_id
        assert "ReservedConcurrentExecutions" not in props and "VpcConfig" not in props, fn_id
        group = groups[props["LoggingConfig"]["LogGroup"]["Ref"]]  # its own log group...
        assert group["Properties"]["RetentionInDays"] == 30, fn_id  # ...which expires
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())


def test_tracing_is_optional(synth: SynthFn) -> None:
    s = synth(tracing="true")
    assert all(
        f["Properties"]["TracingConfig"] == {"Mode": "Active"} for f in s.resources("AWS::Lambda::Function").values()
    )


def test_nothing_is_always_on(default: Synth) -> None:
    """Nothing billed by the hour: no provisioned capacity or concurrency, no VPC endpoints, NAT, instances, keys."""
    types = {r["Type"] for r in default.json["Resources"].values()}
    assert not types & {
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",  # provisioned concurrency lives on these
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCEndpoint",
        "AWS::EC2::Instance",
        "AWS::KMS::Key",  # $1/month each; only with budget_topic_encryption=true
        "AWS::CloudWatch::Dashboard",  # $3/month
        "AWS::CloudWatch::CompositeAlarm",  # $0.50/month
        "AWS::SecretsManager::Secret",  # $0.40/month; the token is an SSM SecureString
    }
    for table in default.resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    for alarm in alarms(default).values():
        assert alarm["Properties"].get("Period", 60) >= 60  # no high-resolution alarms ($0.30)


# --- every deploy-time key fails synth with a message naming it ---------------------------------------------

BAD_VALUE: dict[str, object] = {"budget_name": "x" * 101}  # any text is a name; too long is not


@pytest.mark.parametrize("key", Settings.KEYS)
def test_every_context_key_rejects_a_bad_value_naming_the_key_and_what_is_allowed(key: str) -> None:
    """A new key in infra/settings.py gets this check for free; '???' is no valid value of any key."""
    value = BAD_VALUE.get(key, "???")
    with pytest.raises(SettingsError) as error:
        build_app({"slack_channel_id": CHANNEL, "bundling": "stub", key: value})
    message = str(error.value)
    assert message.startswith(f"costguard: context '{key}' must be "), message
    assert f"(got {value!r})" in message


def test_cdk_synth_with_a_bad_key_exits_2_with_the_message(tmp_path: Path) -> None:
    """What `cdk synth -c ops_alarms=bogus` runs: the CLI passes -c context to the app in CDK_CONTEXT_JSON."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CDK_CONTEXT_JSON": '{"ops_alarms": "bogus"}', "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "infra.app"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "costguard: context 'ops_alarms' must be one of off, lean, full (got 'bogus')" in result.stderr
