"""Parsing every source into one CostNotice, at the edge: real-format samples, variants, and garbage."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from costguard.budgets.model import (
    BillingAlarm,
    BudgetAlert,
    BudgetAlertsEvent,
    CostAnomaly,
    CostNotice,
    Unparsed,
    notices,
    parse_budget_text,
    parse_message,
)
from costguard_local.demo_budget import budget_message, sns_event
from hypothesis import given
from hypothesis import strategies as st

EVENTS = Path(__file__).resolve().parents[1] / "events" / "budgets"


def notice_of(name: str) -> CostNotice:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    [notice] = notices(parse(event, model=BudgetAlertsEvent))
    return notice


def test_forecasted_budget_notification_parses_to_the_amounts_aws_states() -> None:
    n = notice_of("budget_forecasted_100pct.json")
    assert (n.via, n.delivery_id) == ("sns", "3f0b1d7e-93c5-5e0a-9d1c-2b5a8f6e4c21")
    assert n.received_at == datetime(2018, 11, 20, 8, 14, 7, 512000, tzinfo=UTC)
    assert n.subject == "AWS Budgets: costguard-monthly has exceeded your alert threshold"
    assert n.detail == BudgetAlert(
        budget_name="costguard-monthly",
        budget_type="Cost",
        alert_type="FORECASTED",
        budgeted_amount=4000.0,
        threshold=4000.0,
        amount=4812.37,
        unit="USD",
        period="month",
        account_id="123456789012",
        notified_on=date(2018, 11, 20),
    )
    assert isinstance(n.detail, BudgetAlert)
    assert n.detail.pct_of_budget == pytest.approx(120.309, abs=1e-3)
    assert n.detail.threshold_pct == 100.0


def test_actual_and_daily_budget_notifications() -> None:
    actual = notice_of("budget_actual_80pct.json").detail
    assert isinstance(actual, BudgetAlert)
    assert (actual.alert_type, actual.amount, actual.threshold, actual.threshold_pct) == (
        "ACTUAL",
        3249.8,
        3200.0,
        80.0,
    )
    daily = notice_of("budget_actual_daily.json").detail
    assert isinstance(daily, BudgetAlert)
    assert (daily.period, daily.amount, daily.budgeted_amount) == ("day", 174.15, 200.0)


@pytest.mark.parametrize(
    ("threshold_line", "expected"),
    [("Alert Threshold: > $80.00", 80.0), ("Alert Threshold: > 80.00%", 80.0), ("Alert Threshold: > 50%", 50.0)],
)
def test_percentage_and_absolute_thresholds_both_become_absolute(threshold_line: str, expected: float) -> None:
    text = budget_message(
        budget="b", alert_type="ACTUAL", budgeted=100, threshold=80, amount=81.5, on=date(2018, 11, 2)
    )
    text = text.replace("Alert Threshold: > $80.00", threshold_line)
    alert = parse_budget_text(text)
    assert alert.threshold == expected
    assert alert.threshold_pct == expected  # the budget is $100


def test_a_usage_budget_keeps_its_unit() -> None:
    text = budget_message(budget="hours", alert_type="ACTUAL", budgeted=1, threshold=1, amount=1, on=date(2018, 1, 2))
    text = (
        text.replace("Budget Type: Cost", "Budget Type: Usage")
        .replace("Budgeted Amount: $1.00", "Budgeted Amount: 1,000.00 Hrs")
        .replace("ACTUAL Amount: $1.00", "ACTUAL Amount: 1,250.50 Hrs")
        .replace("Alert Threshold: > $1.00", "Alert Threshold: > 1,000.00 Hrs")
    )
    alert = parse_budget_text(text)
    assert (alert.budget_type, alert.unit, alert.budgeted_amount, alert.amount) == ("Usage", "Hrs", 1000.0, 1250.5)


def test_billing_alarm_parses_state_threshold_and_the_datapoint() -> None:
    n = notice_of("billing_alarm.json")
    alarm = n.detail
    assert isinstance(alarm, BillingAlarm)
    assert (alarm.alarm_name, alarm.old_state, alarm.new_state) == ("costguard-estimated-charges-3000", "OK", "ALARM")
    assert (alarm.trigger.metric_name, alarm.trigger.namespace, alarm.trigger.threshold) == (
        "EstimatedCharges",
        "AWS/Billing",
        3000.0,
    )
    assert (alarm.currency, alarm.observed) == ("USD", 3102.64)


def test_anomaly_from_sns_and_from_eventbridge_is_the_same_model() -> None:
    via_sns = notice_of("anomaly_sns.json")
    via_eventbridge = notice_of("anomaly_eventbridge.json")
    assert (via_sns.via, via_eventbridge.via) == ("sns", "eventbridge")
    assert via_eventbridge.delivery_id == "0b0c5a7e-3d1f-6a2b-9e8c-7f4d1a2b3c4d"
    assert via_eventbridge.received_at == datetime(2018, 11, 16, 13, 46, 30, tzinfo=UTC)
    assert via_sns.detail == via_eventbridge.detail  # dimensionalValue (SNS) and dimensionValue (EventBridge)
    a = via_sns.detail
    assert isinstance(a, CostAnomaly)
    assert (a.subject, a.impact.total_impact, a.impact.max_impact, a.impact.total_impact_percentage) == (
        "AWS Glue",
        38.73,
        21.04,
        12.65,
    )
    assert [(c.service, c.usage_type, c.linked_account) for c in a.root_causes] == [
        ("AWS Glue", "USE1-DPU-Hour", "011254002932")
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("budget_malformed.json", "AWS Budgets notification without 'Budgeted Amount', 'Alert Type'"),
        ("cloudwatch_alarm_not_billing.json", "CloudWatch alarm outside AWS/Billing (namespace 'AWS/Lambda')"),
        ("anomaly_eventbridge_malformed.json", "Cost Anomaly Detection message with missing or invalid fields"),
        ("unknown_sns.json", "not an AWS Budgets, billing alarm or cost anomaly notification"),
    ],
)
def test_what_cannot_be_read_is_kept_raw_with_the_reason(name: str, reason: str) -> None:
    detail = notice_of(name).detail
    assert isinstance(detail, Unparsed)
    assert detail.reason.startswith(reason)
    assert detail.raw  # the message itself travels on to Slack


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('{"AlarmName": "x"', "JSON that does not parse"),
        ("[1, 2]", "JSON that is not an object"),
        ('{"hello": 1}', "neither a CloudWatch alarm nor a cost anomaly"),
        ('{"AlarmName": "x", "NewStateValue": "ALARM"}', "CloudWatch alarm message with missing or invalid fields"),
        ('{"anomalyId": "a", "impact": {"totalImpact": "lots"}}', "Cost Anomaly Detection message with missing"),
        ("AWS Budget Notification May 04, 2020\nBudget Name: x\nAlert Type: WHENEVER\n", "without"),
        ("", "not an AWS Budgets"),
    ],
)
def test_malformed_messages_say_why(message: str, reason: str) -> None:
    detail = parse_message(message)
    assert isinstance(detail, Unparsed)
    assert reason in detail.reason


def test_raw_is_bounded() -> None:
    detail = parse_message("z" * 100_000)
    assert isinstance(detail, Unparsed)
    assert len(detail.raw) == 20_000


@given(st.text(max_size=400))
def test_any_text_becomes_a_notice_and_never_raises(text: str) -> None:
    assert parse_message(text).kind in ("budget", "billing_alarm", "anomaly", "unparsed")
    assert parse_message("AWS Budget Notification " + text).kind in ("budget", "unparsed")
    assert parse_message("{" + text).kind in ("billing_alarm", "anomaly", "unparsed")


def test_the_envelope_itself_must_be_sns_or_eventbridge() -> None:
    with pytest.raises(ValidationError):
        parse({"Records": [{"EventSource": "aws:sqs", "body": "x"}]}, model=BudgetAlertsEvent)


def test_sns_event_helper_round_trips_the_timestamp() -> None:
    event = sns_event("hi", timestamp=datetime(2018, 11, 20, 8, 14, 7, 512000, tzinfo=UTC), message_id="m-1")
    [n] = notices(parse(event, model=BudgetAlertsEvent))
    assert (n.delivery_id, n.received_at) == ("m-1", datetime(2018, 11, 20, 8, 14, 7, 512000, tzinfo=UTC))


def test_the_notice_round_trips_through_json_as_idempotency_stores_it() -> None:
    n = notice_of("anomaly_eventbridge.json")
    assert CostNotice.model_validate(json.loads(n.model_dump_json())) == n
