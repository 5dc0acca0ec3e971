"""Turns the workshop billing export into Cost Explorer responses for moto's seeding API."""

from __future__ import annotations

import csv
import json
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

WORKSHOP_CSV = "data/workshop-cur/daily_unblended_cost_by_account_service.csv"

# The export holds CUR product codes; Cost Explorer's SERVICE dimension uses these names.
SERVICE_NAMES = {
    "AmazonEC2": "Amazon Elastic Compute Cloud - Compute",
    "AWSGlue": "AWS Glue",
    "AmazonRDS": "Amazon Relational Database Service",
    "AmazonS3": "Amazon Simple Storage Service",
    "AmazonGuardDuty": "Amazon GuardDuty",
    "AmazonQuickSight": "Amazon QuickSight",
    "AWSCloudTrail": "AWS CloudTrail",
    "AmazonSNS": "Amazon Simple Notification Service",
    "AWSQueueService": "Amazon Simple Queue Service",
    "AmazonCloudWatch": "AmazonCloudWatch",
    "AWSConfig": "AWS Config",
    "AWSEvents": "CloudWatch Events",
    "AWSBudgets": "AWS Budgets",
    "AmazonAthena": "Amazon Athena",
    "AmazonGlacier": "Amazon Glacier",
    "AmazonDynamoDB": "Amazon DynamoDB",
    "awskms": "AWS Key Management Service",
}


@dataclass(frozen=True)
class CostRow:
    day: date
    account: str
    service: str  # Cost Explorer SERVICE name
    cost: float


def workshop_path() -> Path:
    return Path(__file__).resolve().parent / WORKSHOP_CSV


def load_workshop(path: Path | None = None) -> list[CostRow]:
    with (path or workshop_path()).open(newline="") as f:
        return [
            CostRow(
                day=date.fromisoformat(r["date"]),
                account=r["usage_account_id"],
                service=SERVICE_NAMES.get(r["product_code"], r["product_code"]),
                cost=float(r["unblended_cost"]),
            )
            for r in csv.DictReader(f)
        ]


def ce_response(
    rows: Iterable[CostRow],
    start: date,
    end: date,
    *,
    metric: str = "UnblendedCost",
    by_account: bool = False,
    estimated_from: date | None = None,
) -> dict[str, Any]:
    """A GetCostAndUsage response (DAILY, grouped by [LINKED_ACCOUNT,] SERVICE) for days in [start, end)."""
    by_day: dict[date, dict[tuple[str, ...], float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if start <= r.day < end:
            key = (r.account, r.service) if by_account else (r.service,)
            by_day[r.day][key] += r.cost
    results = []
    day = start
    while day < end:
        groups = [
            {"Keys": list(k), "Metrics": {metric: {"Amount": f"{v:.10f}", "Unit": "USD"}}}
            for k, v in sorted(by_day[day].items())
        ]
        results.append(
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": groups,
                "Estimated": estimated_from is not None and day >= estimated_from,
            }
        )
        day += timedelta(days=1)
    return {"ResultsByTime": results, "DimensionValueAttributes": [], "GroupDefinitions": []}


def usage_split(
    rows: Iterable[CostRow],
    service: str,
    start: date,
    end: date,
    shares: Sequence[tuple[str, float, date | None]],
) -> dict[str, Any]:
    """A drill-down response (grouped by USAGE_TYPE) for one service. The export has no usage types, so the
    demo splits each day's cost by `shares`: (usage type, share, only-from-day)."""
    daily: dict[date, float] = defaultdict(float)
    for r in rows:
        if r.service == service and start <= r.day < end:
            daily[r.day] += r.cost
    results = []
    day = start
    while day < end:
        active = [(name, share) for name, share, since in shares if since is None or day >= since]
        total_share = sum(s for _, s in active) or 1.0
        groups = [
            {
                "Keys": [name],
                "Metrics": {"UnblendedCost": {"Amount": f"{daily[day] * s / total_share:.10f}", "Unit": "USD"}},
            }
            for name, s in active
        ]
        results.append(
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": groups,
                "Estimated": False,
            }
        )
        day += timedelta(days=1)
    return {"ResultsByTime": results, "DimensionValueAttributes": [], "GroupDefinitions": []}


def seed_ce(endpoint: str, results: Sequence[dict[str, Any]], account_id: str = "123456789012") -> None:
    """Queue responses on moto's server: each new distinct request takes the next one, in order."""
    body = json.dumps({"results": list(results), "account_id": account_id}).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback moto endpoint
        f"{endpoint.rstrip('/')}/moto-api/static/ce/cost-and-usage-results",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status != 201:
            raise RuntimeError(f"moto refused the Cost Explorer seed: HTTP {response.status}")
