"""Replay the detector over a whole cost history exactly as the daily Lambda would run it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from costguard.detect.core import DetectorParams, SeriesState, step
from costguard.detect.model import Event

HISTORY_DAYS = 120  # what the Lambda keeps; step itself looks at no more than params.window_days


def replay(
    rows: Iterable[tuple[date, str, float]], params: DetectorParams, history_days: int = HISTORY_DAYS
) -> list[Event]:
    """Step every series through every day from its first row to the last date in the data.

    Rows for the same series and day are summed. Each step sees only days up to the one it evaluates
    (and at most `history_days` of them), so the result is causal. Events are ordered by day, then series.
    """
    costs: dict[str, dict[date, float]] = defaultdict(dict)
    for day, series, cost in rows:
        costs[series][day] = costs[series].get(day, 0.0) + cost
    if not costs:
        return []
    first = min(min(days) for days in costs.values())
    last = max(max(days) for days in costs.values())
    n = (last - first).days + 1
    events: list[Event] = []
    for series in sorted(costs):
        by_day = costs[series]
        column = [by_day.get(first + timedelta(days=i)) for i in range(n)]
        state: SeriesState | None = None
        for i in range((min(by_day) - first).days, n):
            lo = max(0, i + 1 - history_days)
            found, state = step(series, first + timedelta(days=lo), column[lo : i + 1], state, params)
            events.extend(found)
    events.sort(key=lambda e: (e.day, e.series))
    return events
