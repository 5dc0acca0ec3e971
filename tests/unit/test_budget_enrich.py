"""Pure enrichment (month to date, forecast, movers, budget left, severity) and the Slack messages it renders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from costguard.adapters.cost_explorer import CostDay, CostExplorer
from costguard.adapters.state_store import MemorySpendStore
from costguard.budgets.enrich import (
    AlertView,
    SpendContext,
    budget_status,
    build_view,
    history_window,
    severity,
    spend_context,
)
from costguard.budgets.model import (
    AnomalyImpact,
    BillingAlarm,
    BudgetAlert,
    CostAnomaly,
    CostNotice,
    Unparsed,
    parse_message,
)
from costguard.budgets.service import enrich, render
from costguard.budgets.settings import BudgetAlertsSettings
from costguard.settings import SettingsError
from costguard_local.standins.slack import check_blocks
from slack_sdk.models.blocks import ButtonElement

NOW = datetime(2018, 11, 20, 8, 0, tzinfo=UTC)


def history(
    start: date, days: int, costs: dict[str, float], *, bump: dict[str, float] | None = None
) -> dict[date, CostDay]:
    """`days` days of constant costs from `start`; `bump` adds to each series from November on."""
    out = {}
    for i in range(days):
        d = start + timedelta(days=i)
        c = dict(costs)
        if bump and d.month == 11:
            c = {k: v + bump.get(k, 0.0) for k, v in c.items()}
        out[d] = CostDay(day=d, estimated=d >= date(2018, 11, 18), costs=c)
    return out


def notice(detail: Any, at: datetime = NOW) -> CostNotice:
    return CostNotice(delivery_id="d-1", via="sns", received_at=at, subject="s", detail=detail)


def budget(alert_type: str = "FORECASTED", amount: float = 4800.0, period: str | None = "month") -> BudgetAlert:
    return BudgetAlert.model_validate(
        {
            "budget_name": "monthly <ops> & co",
            "budget_type": "Cost",
            "alert_type": alert_type,
            "budgeted_amount": 4000.0,
            "threshold": 4000.0 if alert_type == "FORECASTED" else 3200.0,
            "amount": amount,
            "period": period,
        }
    )


def anomaly(total: float) -> CostAnomaly:
    return CostAnomaly(anomaly_id="a", impact=AnomalyImpact(max_impact=total, total_impact=total))


def alarm(state: str) -> BillingAlarm:
    return BillingAlarm.model_validate(
        {
            "AlarmName": "bill",
            "NewStateValue": state,
            "NewStateReason": "Threshold Crossed: 1 datapoint [120.5 (20/11/18 00:00:00)]",
            "Trigger": {"MetricName": "EstimatedCharges", "Namespace": "AWS/Billing", "Threshold": 100.0},
        }
    )


HISTORY = history(date(2018, 10, 1), 50, {"AWS Glue": 50.0, "Amazon EC2": 20.0, "S3": 1.0}, bump={"AWS Glue": 30.0})


# --- spend context -----------------------------------------------------------------------------------------


def test_history_window_covers_last_month_and_the_trend() -> None:
    assert history_window(NOW) == (date(2018, 10, 1), date(2018, 11, 20))
    assert history_window(datetime(2018, 11, 5, tzinfo=UTC)) == (date(2018, 10, 1), date(2018, 11, 5))
    # early in a month the 30-day trend reaches further back than last month's first day
    assert history_window(datetime(2018, 3, 2, tzinfo=UTC)) == (date(2018, 1, 31), date(2018, 3, 2))


def test_spend_context_month_to_date_forecast_movers_and_trend() -> None:
    s = spend_context(HISTORY, NOW)
    assert s.as_of == date(2018, 11, 19)
    assert s.month_to_date == pytest.approx(19 * 101.0)  # Glue 80 + EC2 20 + S3 1, for 19 days
    assert s.same_days_last_month == pytest.approx(19 * 71.0)
    assert s.run_rate == pytest.approx(101.0)
    assert s.days_left == 11
    assert s.forecast_month_end == pytest.approx(30 * 101.0)
    assert [(m.series, m.delta) for m in s.movers] == [("AWS Glue", pytest.approx(19 * 30.0))]  # flat ones dropped
    assert len(s.trend) == 30
    assert s.estimated  # 11-18 and 11-19 are still estimates


def test_days_after_now_are_ignored() -> None:
    later = history(date(2018, 11, 20), 5, {"AWS Glue": 1000.0})
    assert spend_context({**HISTORY, **later}, NOW) == spend_context(HISTORY, NOW)


def test_on_the_first_the_month_has_no_complete_day_yet() -> None:
    s = spend_context(HISTORY, datetime(2018, 11, 1, 9, tzinfo=UTC))
    assert (s.as_of, s.month_to_date, s.movers, s.days_left) == (date(2018, 10, 31), 0.0, (), 30)
    assert s.forecast_month_end == pytest.approx(30 * 71.0)  # the whole month at October's run-rate


# --- budget left, severity ---------------------------------------------------------------------------------


def test_budget_left_per_day_uses_aws_actual_or_the_account_month_to_date() -> None:
    s = spend_context(HISTORY, NOW)
    forecasted = budget_status(budget("FORECASTED"), s, NOW)
    assert forecasted is not None
    assert (forecasted.spent, forecasted.spent_from, forecasted.days_left) == (
        pytest.approx(1919.0),
        "cost_explorer",
        11,
    )
    assert forecasted.per_day_left == pytest.approx((4000 - 1919) / 11)
    actual = budget_status(budget("ACTUAL", amount=3300.0), None, NOW)  # no Cost Explorer needed for this one
    assert actual is not None
    assert (actual.spent, actual.spent_from, actual.left) == (3300.0, "aws_budgets", 700.0)
    assert budget_status(budget(period="day"), s, NOW) is None
    assert budget_status(budget("FORECASTED"), None, NOW) is None


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        (budget("ACTUAL", amount=4100.0), "critical"),
        (budget("ACTUAL", amount=3300.0), "high"),
        (budget("FORECASTED", amount=4800.0), "warning"),
        (budget("FORECASTED", amount=6100.0), "high"),
        (alarm("ALARM"), "high"),
        (alarm("OK"), "info"),
        (anomaly(50.0), "warning"),
        (anomaly(400.0), "high"),  # above a tenth of the ~$3,030 month
        (Unparsed(reason="r", raw="x"), "unknown"),
    ],
)
def test_severity(detail: Any, expected: str) -> None:
    assert severity(notice(detail), spend_context(HISTORY, NOW)) == expected


# --- degraded enrichment -----------------------------------------------------------------------------------


class ThrottledCostExplorer:
    def get_cost_and_usage(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "slow down"}}, "GetCostAndUsage")


def settings() -> BudgetAlertsSettings:
    return BudgetAlertsSettings.from_env({"COSTGUARD_TABLE": "t", "SLACK_CHANNEL": "C0COSTGUARD"})


def test_cost_explorer_failing_costs_only_the_enrichment() -> None:
    ce = CostExplorer(client=ThrottledCostExplorer())
    spend, error = enrich(notice(budget()), settings=settings(), ce=ce, store=MemorySpendStore())
    assert (spend, error) == (None, "LimitExceededException")
    view = build_view(notice(budget()), spend, metric="UnblendedCost", enrichment_error=error)
    message = render(view)
    assert check_blocks(message.blocks) == []
    assert "Cost Explorer unavailable (LimitExceededException)" in str(message.blocks)
    assert "Month-end forecast" not in str(message.blocks)


def test_unparsed_notices_cost_no_request() -> None:
    ce = CostExplorer(client=ThrottledCostExplorer())
    assert enrich(notice(Unparsed(reason="r", raw="x")), settings=settings(), ce=ce, store=MemorySpendStore()) == (
        None,
        None,
    )
    assert ce.requests == 0


def test_settings_reject_an_idempotency_window_shorter_than_lambdas_retries() -> None:
    env = {"COSTGUARD_TABLE": "t", "SLACK_CHANNEL": "C0COSTGUARD", "IDEMPOTENCY_HOURS": "2"}
    with pytest.raises(SettingsError, match="IDEMPOTENCY_HOURS must be a whole number >= 7"):
        BudgetAlertsSettings.from_env(env)
    assert settings().idempotency_hours == 48
    assert settings().scope == "UnblendedCost#SERVICE"  # the spend watch's scope: one cost history


# --- messages ----------------------------------------------------------------------------------------------

DETAILS = [budget(), budget("ACTUAL", amount=4100.0), alarm("ALARM"), alarm("INSUFFICIENT_DATA"), anomaly(400.0)]


@pytest.mark.parametrize("detail", DETAILS, ids=lambda d: f"{d.kind}")
@pytest.mark.parametrize("with_spend", [True, False], ids=["enriched", "bare"])
def test_every_alert_is_valid_block_kit_with_room_for_buttons(detail: Any, with_spend: bool) -> None:
    spend: SpendContext | None = spend_context(HISTORY, NOW) if with_spend else None
    view: AlertView = build_view(notice(detail), spend, metric="UnblendedCost")
    approve = ButtonElement(text="Snooze", action_id="budget_snooze", value="d-1")
    for actions in ((), (approve,)):
        message = render(view, actions)
        assert check_blocks(message.blocks) == [], message.blocks
        assert message.text.startswith(f"costguard [{view.severity}]:")
        has_actions = any(b["type"] == "actions" for b in message.blocks)
        assert has_actions == bool(actions)


def test_text_we_did_not_write_is_escaped() -> None:
    message = render(build_view(notice(budget()), spend_context(HISTORY, NOW), metric="UnblendedCost"))
    fields = str(message.blocks[1])
    assert "monthly &lt;ops&gt; &amp; co" in fields
    assert "<ops>" not in fields


def test_unparsed_message_is_marked_bounded_and_valid() -> None:
    raw = "```<b>" + "y" * 30_000
    message = render(build_view(notice(parse_message(raw)), None, metric="UnblendedCost"))
    assert check_blocks(message.blocks) == []
    assert "(unparsed)" in message.blocks[0]["text"]["text"]
    code = message.blocks[2]["text"]["text"]
    assert code.startswith("```'''&lt;b&gt;y") and len(code) <= 3000
    assert "first 2,800 of 20,000 characters" in str(message.blocks[3])
