"""CloudWatch series for many resources in as few requests as possible: GetMetricData with up to 500
queries a request, never one call per resource."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

from costguard.idle.model import MetricRequest, Series

MAX_QUERIES = 500  # GetMetricData's limit per request


def fetch(
    cloudwatch: Any, requests: Sequence[tuple[Hashable, MetricRequest]], start: datetime, end: datetime
) -> dict[Hashable, Series]:
    """{ref: Series} for every (ref, request); a series CloudWatch has no data for comes back empty."""
    out: dict[Hashable, Series] = {}
    for offset in range(0, len(requests), MAX_QUERIES):
        batch = requests[offset : offset + MAX_QUERIES]
        queries = [
            {
                "Id": f"q{n}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": m.namespace,
                        "MetricName": m.metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in m.dimensions],
                    },
                    "Period": m.period,
                    "Stat": m.stat,
                },
                "ReturnData": True,
            }
            for n, (_, m) in enumerate(batch)
        ]
        points: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        pages = cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
        )
        for page in pages:  # one query's datapoints may continue on the next page
            for result in page.get("MetricDataResults", []):
                points[result["Id"]].extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=True))
        for n, (ref, _) in enumerate(batch):
            series = sorted(points.get(f"q{n}", []))
            out[ref] = Series(tuple(t for t, _ in series), tuple(float(v) for _, v in series))
    return out
