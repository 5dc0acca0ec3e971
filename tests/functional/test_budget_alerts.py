"""The budget-alerts handler in-process against moto's server (real boto3 over HTTP: Cost Explorer, DynamoDB,
SSM) and the Slack stand-in, fed real-format AWS Budgets, billing-alarm and Cost Anomaly Detection deliveries
(tests/events/budgets), with Cost Explorer seeded from the workshop billing."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import ValidationError
from costguard.budgets.service import AlertDeliveryError
from costguard.handlers import budget_alerts
from costguard_local.demo_budget import run_budget_demo, sns_event
from costguard_local.lambda_runtime import FakeLambdaContext
from costguard_local.seed import CostRow, ce_response, load_workshop, seed_ce
from costguard_local.standins.aws import MotoStandIn, create_state_table
from costguard_local.standins.slack import SlackMessage, SlackStandIn

from tests.conftest import CHANNEL, SLACK_TOKEN

pytestmark = pytest.mark.functional
TABLE = "costguard-state"
EVENTS = Path(__file__).resolve().parents[1] / "events" / "budgets"
GLUE = "AWS Glue"
IDEMPOTENCY_PK = "IDEMPOTENCY#budget-alerts"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


@pytest.fixture
def env(moto: MotoStandIn, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> MotoStandIn:
    create_state_table(moto.client("dynamodb"), TABLE)
    moto.client("ssm").put_parameter(
        Name="/costguard/slack/bot-token", Value=SLACK_TOKEN, Type="SecureString", Overwrite=True
    )
    monkeypatch.setenv("COSTGUARD_TABLE", TABLE)
    monkeypatch.setenv("SLACK_CHANNEL", CHANNEL)
    monkeypatch.setenv("SLACK_TOKEN_PARAMETER", "/costguard/slack/bot-token")
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    budget_alerts._settings.cache_clear()
    return moto


@pytest.fixture(scope="module")
def rows() -> list[CostRow]:
    return load_workshop()


def seed_november(moto: MotoStandIn, rows: list[CostRow], until: date = date(2018, 11, 20)) -> None:
    """The answer to the alert's one Cost Explorer request: 2018-10-01 (last month's same days) up to `until`."""
    seed_ce(moto.endpoint, [ce_response(rows, date(2018, 10, 1), until)])


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = budget_alerts.handler(event, FakeLambdaContext("budget-alerts"))
    return result


def rendered(message: SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def totals(rows: list[CostRow]) -> dict[date, float]:
    daily: dict[date, float] = defaultdict(float)
    for r in rows:
        daily[r.day] += r.cost
    return daily


def money(amount: float) -> str:
    return f"${amount:,.0f}" if abs(amount) >= 100 else f"${amount:,.2f}"


def idempotency_records(moto: MotoStandIn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = moto.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [i for i in items if i["pk"]["S"] == IDEMPOTENCY_PK]


# --- AWS Budgets -------------------------------------------------------------------------------------------


def test_forecasted_budget_alert_names_the_top_mover_and_the_month_end_forecast(
    env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    seed_november(env, rows)
    result = invoke(sample("budget_forecasted_100pct.json"))  # SNS Timestamp 2018-11-20T08:14Z

    [notice] = result["notices"]
    assert (notice["kind"], notice["severity"], notice["ce_requests"], notice["enriched"]) == (
        "budget",
        "warning",
        1,
        True,
    )
    [message] = slack.messages_in(CHANNEL)
    blocks = rendered(message)

    # Worked out here from the billing rows, independently of costguard.spend.explain:
    daily = totals(rows)
    nov = [date(2018, 11, d) for d in range(1, 20)]  # the complete days before the notice
    mtd = sum(daily[d] for d in nov)
    same_days = sum(daily[date(2018, 10, d)] for d in range(1, 20))
    run_rate = median(daily[date(2018, 11, 19) - timedelta(days=i)] for i in range(7))
    forecast = mtd + 11 * run_rate  # 11 days left in November after the 19th
    glue_nov = sum(r.cost for r in rows if r.service == GLUE and r.day in nov)
    glue_oct = sum(r.cost for r in rows if r.service == GLUE and date(2018, 10, 1) <= r.day <= date(2018, 10, 19))
    glue_delta = glue_nov - glue_oct

    assert "Budget costguard-monthly forecast to reach $4,812" in message.blocks[0]["text"]["text"]
    assert "120% of $4,000" in message.blocks[0]["text"]["text"]
    assert f"Month-end forecast {money(forecast)}" in message.text
    assert f"Top mover: {GLUE} (+{money(glue_delta)})" in message.text
    assert f"• `{GLUE}` {money(glue_oct)} → {money(glue_nov)} (*+{money(glue_delta)}*)" in blocks
    assert f"{money(mtd)} vs {money(same_days)} same days last month" in blocks
    assert f"{money(forecast)} at {money(run_rate)}/day recently" in blocks
    per_day_left = (4000 - mtd) / 11
    assert f"{money(4000 - mtd)} = {money(per_day_left)}/day for 11 days" in blocks
    assert "budgets/details?name=costguard-monthly" in blocks
    assert "cost-explorer" in blocks and "AWS%20Glue" in blocks


def test_demo_helper_posts_the_forecasted_alert_through_the_handler(
    env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    result = run_budget_demo(now=datetime(2018, 11, 20, 8, 0, tzinfo=UTC), rows=rows)
    assert result["posted"] == 1
    [message] = slack.messages_in(CHANNEL)
    assert "forecast to reach" in message.text and f"Top mover: {GLUE}" in message.text

    # Same day again: the history is stored now, so the helper seeds nothing and the alert asks nothing.
    again = run_budget_demo(now=datetime(2018, 11, 20, 9, 0, tzinfo=UTC), rows=rows)
    assert again["notices"][0]["ce_requests"] == 0
    assert len(slack.messages_in(CHANNEL)) == 2


def test_actual_alert_uses_the_amount_aws_budgets_reports_for_what_is_left(
    env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    seed_november(env, rows, until=date(2018, 11, 21))
    result = invoke(sample("budget_actual_80pct.json"))  # 2018-11-21, ACTUAL $3,249.80 of $4,000
    assert result["notices"][0]["severity"] == "high"
    [message] = slack.messages_in(CHANNEL)
    blocks = rendered(message)
    assert "Budget costguard-monthly has reached $3,250" in message.blocks[0]["text"]["text"]
    assert "81% of $4,000" in message.blocks[0]["text"]["text"]
    assert "Actual cost above $3,200 (80% of budget)" in blocks
    assert "$750 = $75.02/day for 10 days" in blocks and "(AWS Budgets)" in blocks


def test_daily_budget_alert_is_posted_without_a_monthly_allowance(
    env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    seed_november(env, rows, until=date(2018, 11, 16))
    invoke(sample("budget_actual_daily.json"))
    [message] = slack.messages_in(CHANNEL)
    blocks = rendered(message)
    assert "Budget glue-daily has reached $174: 87% of $200" in message.blocks[0]["text"]["text"]
    assert "per day" in blocks
    assert "Left this month" not in blocks  # a daily budget has no month to spread


# --- billing alarm and anomalies ---------------------------------------------------------------------------


def test_billing_alarm_is_enriched_and_reuses_the_stored_history(
    env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    seed_november(env, rows)
    invoke(sample("budget_forecasted_100pct.json"))
    result = invoke(sample("billing_alarm.json"))  # same day: every settled day is in the state table
    assert result["notices"][0]["ce_requests"] == 0
    assert result["notices"][0]["severity"] == "high"
    message = slack.messages_in(CHANNEL)[-1]
    header = message.blocks[0]["text"]["text"]
    assert "Billing alarm costguard-estimated-charges-3000: estimated charges $3,103 above $3,000" in header
    blocks = rendered(message)
    assert "OK → ALARM" in blocks
    assert f"Top mover: {GLUE}" in message.text


@pytest.mark.parametrize("name", ["anomaly_sns.json", "anomaly_eventbridge.json"])
def test_cost_anomaly_from_sns_or_eventbridge_names_root_cause_and_movers(
    name: str, env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    seed_november(env, rows, until=date(2018, 11, 16))
    result = invoke(sample(name))
    assert result["notices"][0]["kind"] == "anomaly"
    assert result["notices"][0]["severity"] == "warning"  # $38.73 is far from a tenth of the month
    [message] = slack.messages_in(CHANNEL)
    blocks = rendered(message)
    assert "Cost anomaly in AWS Glue: $38.73 above expected" in message.blocks[0]["text"]["text"]
    assert "`USE1-DPU-Hour`" in blocks and "workshop-analytics" in blocks
    assert "← root cause" in blocks  # Glue is also the month's top mover
    assert "anomaly-detection/monitors/bdafded2" in blocks
    assert "2018-11-15" in blocks


# --- never dropped -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why", "shown"),
    [
        ("budget_malformed.json", "without 'Budgeted Amount'", "Dear AWS Customer"),
        ("cloudwatch_alarm_not_billing.json", "outside AWS/Billing", "orders-errors"),
        ("anomaly_eventbridge_malformed.json", "impact: Field required", "6de0dd1d-feb4-488a-a55d-ff130a7a285a"),
        ("unknown_sns.json", "not an AWS Budgets", "please ignore &lt;3 &amp; thanks"),
    ],
)
def test_unparsed_notices_are_posted_raw_and_marked(
    name: str, why: str, shown: str, env: MotoStandIn, slack: SlackStandIn
) -> None:
    result = invoke(sample(name))
    assert result["notices"][0]["kind"] == "unparsed"
    assert result["notices"][0]["ce_requests"] == 0  # nothing to enrich: no Cost Explorer request
    [message] = slack.messages_in(CHANNEL)
    assert message.text.startswith("costguard: unparsed cost notification")
    assert "could not read (unparsed)" in message.blocks[0]["text"]["text"]
    blocks = rendered(message)
    assert why in blocks
    assert shown in blocks


def test_an_oversized_unknown_message_is_truncated_to_slack_limits(env: MotoStandIn, slack: SlackStandIn) -> None:
    raw = "x" * 60_000 + " the end"
    invoke(sns_event(raw, timestamp=datetime(2018, 11, 20, 9, tzinfo=UTC), subject="huge"))
    [message] = slack.messages_in(CHANNEL)  # the stand-in refuses what Slack refuses: it was accepted
    raw_section = message.blocks[2]["text"]["text"]
    assert raw_section.startswith("```x") and len(raw_section) <= 3000
    assert "first 2,800 of 20,000 characters" in rendered(message)  # the notice keeps 20,000 of the raw


def test_an_event_that_is_neither_sns_nor_eventbridge_fails_loudly(env: MotoStandIn, slack: SlackStandIn) -> None:
    with pytest.raises(ValidationError):
        invoke({"hello": "world"})
    assert slack.messages_in(CHANNEL) == []


# --- exactly once ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["budget_forecasted_100pct.json", "anomaly_eventbridge.json", "unknown_sns.json"])
def test_a_redelivery_posts_once(name: str, env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]) -> None:
    seed_november(env, rows)
    first = invoke(sample(name))
    second = invoke(sample(name))  # SNS / EventBridge deliver at least once: same MessageId / id
    assert len(slack.messages_in(CHANNEL)) == 1
    assert (first["posted"], second["posted"]) == (1, 0)
    assert second["notices"] == first["notices"]  # the stored result, not a second post
    [record] = idempotency_records(env)
    assert record["status"]["S"] == "COMPLETED"
    assert int(record["expires_at"]["N"]) > 0


def test_a_different_message_with_the_same_content_still_posts(
    env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    seed_november(env, rows)
    event = sample("budget_forecasted_100pct.json")
    invoke(event)
    event["Records"][0]["Sns"]["MessageId"] = "another-publish"
    invoke(event)
    assert len(slack.messages_in(CHANNEL)) == 2


def test_slack_down_raises_marks_nothing_done_and_the_retry_posts(
    env: MotoStandIn, slack: SlackStandIn, rows: list[CostRow]
) -> None:
    seed_november(env, rows)
    slack.down()
    with pytest.raises(AlertDeliveryError):
        invoke(sample("budget_forecasted_100pct.json"))
    assert slack.messages_in(CHANNEL) == []
    assert idempotency_records(env) == []  # the failure released the delivery: a retry is not a duplicate

    slack.up()
    result = invoke(sample("budget_forecasted_100pct.json"))  # Lambda's retry of the same event
    assert result["posted"] == 1
    assert result["notices"][0]["ce_requests"] == 0  # the failed attempt already stored the history
    assert len(slack.messages_in(CHANNEL)) == 1
    assert [r["status"]["S"] for r in idempotency_records(env)] == ["COMPLETED"]
