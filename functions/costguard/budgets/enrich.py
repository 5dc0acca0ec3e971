"""Pure enrichment of a cost notice: where the month stands and will end, what is driving it, how severe it is.

Inputs are the spend watch's cost history (one CostDay per day, series -> USD) and `now`, the notice's own
time: nothing here reads a clock, Cost Explorer or Slack. Month-to-date and the month-end forecast are the
spend watch's own arithmetic (`costguard.spend.explain`), over the account's total.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Literal

from costguard.adapters.cost_explorer import CostDay
from costguard.budgets.model import BillingAlarm, BudgetAlert, CostAnomaly, CostNotice, Unparsed
from costguard.spend.explain import forecast_month_end, month_to_date, sparkline

RUN_RATE_DAYS = 7  # the same window forecast_month_end uses
TREND_DAYS = 30
MOVER_LIMIT = 5
ANOMALY_HIGH_SHARE = 0.10  # an anomaly worth a tenth of the month's forecast is high severity

Severity = Literal["critical", "high", "warning", "info", "unknown"]


@dataclass(frozen=True)
class Mover:
    series: str  # SERVICE, or "<account or tag>/<SERVICE>" under the spend watch's group_by
    this_month: float
    same_days_last_month: float

    @property
    def delta(self) -> float:
        return self.this_month - self.same_days_last_month

    @property
    def service(self) -> str:
        return self.series.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SpendContext:
    """The account's month, as of the last complete day before the notice."""

    as_of: date  # last complete day
    month_to_date: float  # 0 on the 1st: no complete day of the month yet
    same_days_last_month: float
    forecast_month_end: float
    run_rate: float  # median daily spend of the last RUN_RATE_DAYS days
    days_left: int  # days of the month still to be spent, today included
    movers: tuple[Mover, ...]  # biggest increases, month to date vs the same days last month
    trend: str  # sparkline of the last TREND_DAYS days
    estimated: bool  # some of this month's figures are still AWS estimates


@dataclass(frozen=True)
class BudgetStatus:
    """How much of a monthly cost budget is left, and what that allows per remaining day."""

    budgeted: float
    spent: float
    spent_from: Literal["aws_budgets", "cost_explorer"]  # ACTUAL alerts say it; otherwise the account's MTD
    days_left: int

    @property
    def left(self) -> float:
        return self.budgeted - self.spent

    @property
    def per_day_left(self) -> float | None:
        return self.left / self.days_left if self.days_left > 0 else None


@dataclass(frozen=True)
class AlertView:
    """Everything the Slack message shows; presentation (wording, emoji, limits) is slack.blocks' job."""

    notice: CostNotice
    severity: Severity
    spend: SpendContext | None  # None: no enrichment (unparsed, or Cost Explorer unavailable)
    budget: BudgetStatus | None
    console_url: str | None  # the budget, the alarm or the anomaly in the AWS console
    metric: str  # the Cost Explorer metric the figures are in
    enrichment_error: str | None = None


def as_of(now: datetime) -> date:
    """The last complete day: Cost Explorer's figures for today are partial."""
    return now.date() - timedelta(days=1)


def history_window(now: datetime) -> tuple[date, date]:
    """[start, end) of the daily history the enrichment needs: last month's same days and the 30-day trend."""
    last = as_of(now)
    previous_month_start = (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    return min(previous_month_start, last - timedelta(days=TREND_DAYS - 1)), last + timedelta(days=1)


def spend_context(history: Mapping[date, CostDay], now: datetime) -> SpendContext:
    last = as_of(now)
    days = {d: c for d, c in history.items() if d <= last}
    total = {d: sum(c.costs.values()) for d, c in days.items()}
    days_in_month = calendar.monthrange(now.year, now.month)[1]
    days_left = days_in_month - now.day + 1
    run_rate = median([total.get(last - timedelta(days=i), 0.0) for i in range(RUN_RATE_DAYS)])
    trend = sparkline([total.get(last - timedelta(days=i), 0.0) for i in range(TREND_DAYS - 1, -1, -1)])
    month_start = now.date().replace(day=1)
    if last < month_start:  # the 1st: the month has no complete day yet
        return SpendContext(last, 0.0, 0.0, days_in_month * run_rate, run_rate, days_left, (), trend, False)

    mtd, same_days = month_to_date(total, last)
    movers = []
    for series in sorted({s for c in days.values() for s in c.costs}):
        this, before = month_to_date({d: c.costs.get(series, 0.0) for d, c in days.items()}, last)
        movers.append(Mover(series, this, before))
    movers.sort(key=lambda m: (-m.delta, m.series))
    return SpendContext(
        as_of=last,
        month_to_date=mtd,
        same_days_last_month=same_days,
        forecast_month_end=forecast_month_end(total, last, RUN_RATE_DAYS),
        run_rate=run_rate,
        days_left=days_left,
        movers=tuple(m for m in movers[:MOVER_LIMIT] if m.delta > 0.005),
        trend=trend,
        estimated=any(c.estimated for d, c in days.items() if d >= month_start),
    )


def budget_status(alert: BudgetAlert, spend: SpendContext | None, now: datetime) -> BudgetStatus | None:
    """Only for monthly cost budgets: what is left is money per day of this month."""
    if alert.unit != "USD" or alert.period not in ("month", None) or alert.budget_type.lower() != "cost":
        return None
    days_left = calendar.monthrange(now.year, now.month)[1] - now.day + 1
    if alert.alert_type == "ACTUAL":
        return BudgetStatus(alert.budgeted_amount, alert.amount, "aws_budgets", days_left)
    if spend is None:
        return None
    return BudgetStatus(alert.budgeted_amount, spend.month_to_date, "cost_explorer", days_left)


def severity(notice: CostNotice, spend: SpendContext | None) -> Severity:
    d = notice.detail
    if isinstance(d, BudgetAlert):
        pct = d.pct_of_budget or 0.0
        if d.alert_type == "ACTUAL":
            return "critical" if pct >= 100 else "high"
        return "high" if pct >= 150 else "warning"
    if isinstance(d, BillingAlarm):
        return "high" if d.new_state == "ALARM" else "info"
    if isinstance(d, CostAnomaly):
        if (
            spend
            and spend.forecast_month_end > 0
            and d.impact.total_impact >= ANOMALY_HIGH_SHARE * spend.forecast_month_end
        ):
            return "high"
        return "warning"
    return "unknown"


def console_url(notice: CostNotice) -> str | None:
    from urllib.parse import quote

    d = notice.detail
    if isinstance(d, BudgetAlert):
        return (
            f"https://us-east-1.console.aws.amazon.com/costmanagement/home#/budgets/details?name={quote(d.budget_name)}"
        )
    if isinstance(d, BillingAlarm):
        return (
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/"
            f"{quote(d.alarm_name)}"
        )
    if isinstance(d, CostAnomaly):
        return (
            d.details_link or "https://us-east-1.console.aws.amazon.com/costmanagement/home#/anomaly-detection/overview"
        )
    return None


def build_view(
    notice: CostNotice,
    spend: SpendContext | None,
    *,
    metric: str,
    enrichment_error: str | None = None,
) -> AlertView:
    budget = budget_status(notice.detail, spend, notice.received_at) if isinstance(notice.detail, BudgetAlert) else None
    return AlertView(
        notice=notice,
        severity=severity(notice, spend),
        spend=None if isinstance(notice.detail, Unparsed) else spend,
        budget=budget,
        console_url=console_url(notice),
        metric=metric,
        enrichment_error=enrichment_error,
    )
