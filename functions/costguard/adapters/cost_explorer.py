"""Cost Explorer reads. Every request costs $0.01, so callers ask for as little as possible and count them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

SERIES_SEPARATOR = "/"


@dataclass(frozen=True)
class CostDay:
    day: date
    estimated: bool
    costs: dict[str, float]  # series key -> USD


@dataclass
class CostExplorer:
    """GetCostAndUsage, DAILY, by SERVICE and optionally a second dimension (LINKED_ACCOUNT or TAG:key)."""

    client: Any
    metric: str = "UnblendedCost"
    group_by: str = ""
    exclude_record_types: Sequence[str] = ("Credit", "Refund", "Tax")
    requests: int = field(default=0, init=False)

    def _base_filter(self) -> dict[str, Any] | None:
        if not self.exclude_record_types:
            return None
        return {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": list(self.exclude_record_types)}}}

    def _and(self, *parts: dict[str, Any] | None) -> dict[str, Any] | None:
        kept = [p for p in parts if p]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else {"And": kept}

    def _query(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """All ResultsByTime pages. CE has no boto3 paginator for this call, so follow NextPageToken."""
        results: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page_request = dict(request, NextPageToken=token) if token else request
            self.requests += 1
            response = self.client.get_cost_and_usage(**page_request)
            results.extend(response.get("ResultsByTime", []))
            token = response.get("NextPageToken")
            if not token:
                return results

    def _group_by(self) -> list[dict[str, str]]:
        groups = [{"Type": "DIMENSION", "Key": "SERVICE"}]
        if self.group_by == "LINKED_ACCOUNT":
            groups.insert(0, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"})
        elif self.group_by.startswith("TAG:"):
            groups.insert(0, {"Type": "TAG", "Key": self.group_by[4:]})
        return groups

    def daily_costs(self, start: date, end: date) -> list[CostDay]:
        """One CostDay per day in [start, end); series key is SERVICE or '<second>/<SERVICE>'."""
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [self.metric],
            "GroupBy": self._group_by(),
        }
        flt = self._base_filter()
        if flt:
            request["Filter"] = flt
        merged: dict[date, CostDay] = {}
        for result in self._query(request):
            day = date.fromisoformat(result["TimePeriod"]["Start"])
            costs: dict[str, float] = dict(merged[day].costs) if day in merged else {}
            for group in result.get("Groups", []):
                key = SERIES_SEPARATOR.join(_clean_key(k) for k in group["Keys"])
                costs[key] = costs.get(key, 0.0) + float(group["Metrics"][self.metric]["Amount"])
            estimated = bool(result.get("Estimated", False)) or (day in merged and merged[day].estimated)
            merged[day] = CostDay(day=day, estimated=estimated, costs=costs)
        return [merged[d] for d in sorted(merged)]

    def drill_down(
        self, series: str, start: date, end: date, dimension: str = "USAGE_TYPE"
    ) -> dict[str, dict[date, float]]:
        """Daily cost of one series split by `dimension` (USAGE_TYPE, REGION, LINKED_ACCOUNT): one request."""
        *outer, service = series.split(SERIES_SEPARATOR)
        parts: list[dict[str, Any] | None] = [
            {"Dimensions": {"Key": "SERVICE", "Values": [service]}},
            self._base_filter(),
        ]
        if outer and self.group_by == "LINKED_ACCOUNT":
            parts.append({"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [outer[0]]}})
        elif outer and self.group_by.startswith("TAG:"):
            parts.append({"Tags": {"Key": self.group_by[4:], "Values": [outer[0]]}})
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [self.metric],
            "GroupBy": [{"Type": "DIMENSION", "Key": dimension}],
            "Filter": self._and(*parts),
        }
        split: dict[str, dict[date, float]] = defaultdict(dict)
        for result in self._query(request):
            day = date.fromisoformat(result["TimePeriod"]["Start"])
            for group in result.get("Groups", []):
                amount = float(group["Metrics"][self.metric]["Amount"])
                split[group["Keys"][0]][day] = split[group["Keys"][0]].get(day, 0.0) + amount
        return dict(split)


def _clean_key(key: str) -> str:
    # Tag group keys come back as "team$payments" ("team$" when untagged).
    if "$" in key:
        value = key.split("$", 1)[1]
        return value or "untagged"
    return key
