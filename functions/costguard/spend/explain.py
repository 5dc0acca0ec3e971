"""Pure explanation of one detector event: what moved, by how much, and where the month is heading."""

from __future__ import annotations

import calendar
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median
from urllib.parse import quote

from costguard.detect.model import Event

SPARK = "▁▂▃▄▅▆▇█"
DAYS_PER_MONTH = 30.4
SUSTAINED_KINDS = frozenset({"level_shift", "ramp", "new_spend"})


@dataclass(frozen=True)
class Driver:
    name: str  # usage type, region or account
    expected: float
    actual: float

    @property
    def delta(self) -> float:
        return self.actual - self.expected


@dataclass(frozen=True)
class Explanation:
    event: Event
    monthly_impact: float | None  # sustained kinds: impact x a month; a one-day spike has none
    month_to_date: float
    same_days_last_month: float
    forecast_month_end: float
    sparkline: str
    drivers: tuple[Driver, ...]
    driver_dimension: str
    estimated: bool  # AWS marks recent days as estimated until they settle
    console_url: str

    @property
    def pct(self) -> float | None:
        e = self.event
        return None if e.expected <= 0 else 100.0 * e.impact / e.expected


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / (hi - lo) * len(SPARK)))] for v in values)


def month_to_date(daily: Mapping[date, float], day: date) -> tuple[float, float]:
    """Spend from the 1st to `day`, and over the same days of the previous month (clipped to its length)."""
    this = sum(v for d, v in daily.items() if d.year == day.year and d.month == day.month and d <= day)
    prev_last = day.replace(day=1) - timedelta(days=1)
    cutoff = min(day.day, prev_last.day)
    last = sum(
        v for d, v in daily.items() if d.year == prev_last.year and d.month == prev_last.month and d.day <= cutoff
    )
    return this, last


def forecast_month_end(daily: Mapping[date, float], day: date, run_rate_days: int = 7) -> float:
    """Month-to-date plus the remaining days at the recent run-rate (median, so a one-day spike does not
    dominate). Local arithmetic: Cost Explorer's forecast API costs a request and is not needed."""
    mtd, _ = month_to_date(daily, day)
    recent = [daily.get(day - timedelta(days=i), 0.0) for i in range(run_rate_days)]
    remaining = calendar.monthrange(day.year, day.month)[1] - day.day
    return mtd + remaining * median(recent)


def top_drivers(
    split: Mapping[str, Mapping[date, float]], day: date, baseline_days: int = 14, limit: int = 5
) -> tuple[Driver, ...]:
    drivers = []
    for name, by_day in split.items():
        before = [by_day.get(day - timedelta(days=i), 0.0) for i in range(1, baseline_days + 1)]
        drivers.append(Driver(name=name, expected=median(before), actual=by_day.get(day, 0.0)))
    drivers.sort(key=lambda d: (-d.delta, d.name))
    return tuple(d for d in drivers[:limit] if d.delta > 0.005)


def console_url(service: str, day: date, metric: str) -> str:
    """Cost Explorer, filtered to the service, grouped by usage type, over the last 30 days."""
    aggregate = {"UnblendedCost": "unBlendedCost", "AmortizedCost": "amortizedCost"}.get(metric, "netUnblendedCost")
    flt = [
        {
            "dimension": {"id": "Service", "displayValue": "Service"},
            "operator": "INCLUDES",
            "values": [{"value": service, "displayValue": service}],
        }
    ]
    query = (
        f"chartStyle=STACK&costAggregate={aggregate}&granularity=Daily&groupBy=%5B%22UsageType%22%5D"
        f"&startDate={(day - timedelta(days=29)).isoformat()}&endDate={day.isoformat()}"
        f"&filter={quote(json.dumps(flt, separators=(',', ':')))}"
    )
    return f"https://us-east-1.console.aws.amazon.com/costmanagement/home#/cost-explorer?{query}"


def explain(
    event: Event,
    daily: Mapping[date, float],
    *,
    split: Mapping[str, Mapping[date, float]] | None,
    driver_dimension: str,
    estimated: bool,
    metric: str,
) -> Explanation:
    """`daily` is the series' cost per day up to event.day (never later: explanations are causal too)."""
    daily = {d: v for d, v in daily.items() if d <= event.day}
    mtd, last = month_to_date(daily, event.day)
    spark = sparkline([daily.get(event.day - timedelta(days=i), 0.0) for i in range(29, -1, -1)])
    service = event.series.rsplit("/", 1)[-1]
    return Explanation(
        event=event,
        monthly_impact=event.impact * DAYS_PER_MONTH if event.kind in SUSTAINED_KINDS else None,
        month_to_date=mtd,
        same_days_last_month=last,
        forecast_month_end=forecast_month_end(daily, event.day),
        sparkline=spark,
        drivers=top_drivers(split, event.day) if split else (),
        driver_dimension=driver_dimension,
        estimated=estimated,
        console_url=console_url(service, event.day, metric),
    )
