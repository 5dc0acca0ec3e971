"""The budget-alerts part of the demo: a FORECASTED AWS Budgets notification, delivered the way SNS delivers it,
through the real `costguard.handlers.budget_alerts.handler`, against the stand-ins the demo already runs.

`run_budget_demo()` expects the demo's environment (inside `patched_env`): AWS_ENDPOINT_URL at moto's server,
COSTGUARD_TABLE (created), SLACK_CHANNEL, SLACK_API_URL at the Slack stand-in, the token parameter in moto's SSM.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from costguard_local.seed import CostRow

DEMO_NOW = datetime(2018, 11, 20, 8, 14, 7, tzinfo=UTC)
DEMO_BUDGET = "costguard-monthly"
DEMO_BUDGET_USD = 4000.0
DEMO_ACCOUNT = "123456789012"
DEMO_TOPIC = f"arn:aws:sns:us-east-1:{DEMO_ACCOUNT}:costguard-budget-alerts"


def _dollars(amount: float) -> str:
    return f"${amount:,.2f}"


def budget_message(
    *,
    budget: str,
    alert_type: str,
    budgeted: float,
    threshold: float,
    amount: float,
    on: date,
    account: str = DEMO_ACCOUNT,
) -> str:
    """The plain text AWS Budgets publishes to SNS for a monthly cost budget (percentage thresholds are
    rendered as the dollar amount they stand for)."""
    return (
        f"AWS Budget Notification {on:%B %d, %Y}\nAWS Account {account}\n\nDear AWS Customer,\n\n"
        f"You requested that we alert you when the {alert_type} Cost associated with your {budget} budget is "
        f"greater than {_dollars(threshold)} for the current month. The {alert_type} Cost associated with this "
        f"budget is {_dollars(amount)}. You can find additional details below and by accessing the AWS Budgets "
        f"dashboard [1].\n\nBudget Name: {budget}\nBudget Type: Cost\nBudgeted Amount: {_dollars(budgeted)}\n"
        f"Alert Type: {alert_type}\nAlert Threshold: > {_dollars(threshold)}\n{alert_type} Amount: {_dollars(amount)}"
        "\n\n[1] https://console.aws.amazon.com/costmanagement/home#/budgets\n"
    )


def sns_event(
    message: str,
    *,
    timestamp: datetime,
    subject: str | None = None,
    message_id: str | None = None,
    topic_arn: str = DEMO_TOPIC,
) -> dict[str, Any]:
    """An SNS delivery to Lambda (one record), as SNS invokes a subscribed function."""
    subscription = f"{topic_arn}:{uuid.uuid5(uuid.NAMESPACE_URL, topic_arn)}"
    ts = timestamp.astimezone(UTC)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id or str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                    + subscription,
                    "MessageAttributes": {},
                },
            }
        ]
    }


def local_forecast(rows: Sequence[CostRow], now: datetime) -> float:
    """What the month-end forecast of the workshop billing is at `now` (AWS's own forecast differs a little)."""
    from costguard.spend.explain import forecast_month_end

    daily: dict[date, float] = defaultdict(float)
    for r in rows:
        daily[r.day] += r.cost
    return forecast_month_end(daily, now.date() - timedelta(days=1))


def seed_history(rows: Sequence[CostRow], now: datetime, *, endpoint: str | None = None) -> bool:
    """Queue the Cost Explorer answer the alert will ask for, unless the state table already holds every
    settled day (the demo's spend-watch runs store them): a seeded answer nobody asks for would be handed to
    the next Cost Explorer request instead. Returns whether it seeded."""
    from costguard.adapters.aws import aws_client
    from costguard.adapters.state_store import DynamoSpendStore
    from costguard.budgets.enrich import history_window
    from costguard.budgets.settings import BudgetAlertsSettings
    from costguard.spend.service import days_between

    from costguard_local.seed import ce_response, seed_ce

    settings = BudgetAlertsSettings.from_env()
    start, end = history_window(now)
    store = DynamoSpendStore(client=aws_client("dynamodb"), table=settings.table)
    known = {d.day: d for d in store.cost_days(settings.scope, start, end)}
    stale = [d for d in days_between(start, end) if d not in known or known[d].estimated]
    if not stale:
        return False
    seed_ce(endpoint or os.environ["AWS_ENDPOINT_URL"], [ce_response(rows, min(stale), end)])
    return True


def run_budget_demo(
    *,
    now: datetime = DEMO_NOW,
    budget_usd: float = DEMO_BUDGET_USD,
    budget: str = DEMO_BUDGET,
    rows: Sequence[CostRow] | None = None,
) -> dict[str, Any]:
    """Publish a FORECASTED 100 % notification for a monthly budget of `budget_usd`, as AWS Budgets would at
    `now` for the workshop billing, through the budget-alerts handler. Returns the handler's result; the Slack
    stand-in holds the alert."""
    from costguard.handlers import budget_alerts

    from costguard_local.lambda_runtime import FakeLambdaContext
    from costguard_local.seed import load_workshop

    rows = list(rows) if rows is not None else load_workshop()
    budget_alerts._settings.cache_clear()
    seed_history(rows, now)
    message = budget_message(
        budget=budget,
        alert_type="FORECASTED",
        budgeted=budget_usd,
        threshold=budget_usd,
        amount=round(local_forecast(rows, now), 2),
        on=now.date(),
    )
    event = sns_event(message, timestamp=now, subject=f"AWS Budgets: {budget} has exceeded your alert threshold")
    result: dict[str, Any] = budget_alerts.handler(event, FakeLambdaContext("budget-alerts"))
    return result
