"""Behaviour of the spend-spike detector on small synthetic series with known shapes."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from itertools import pairwise

import pytest
from costguard.detect.core import DetectorParams, SeriesState, step
from costguard.detect.model import Event
from costguard.detect.replay import replay

START = date(2024, 3, 4)  # a Monday
PARAMS = DetectorParams()


def series(
    days: int = 120,
    *,
    base: float = 100.0,
    cv: float = 0.05,
    weekend_dip: float = 0.0,
    seed: int = 1,
    shape: Callable[[int, date], float] | None = None,
) -> list[float]:
    """Daily costs: base x weekend dip x lognormal noise, times `shape(i, day)` (1.0 = normal)."""
    rng = random.Random(seed)
    sigma = math.sqrt(math.log(1 + cv * cv))
    out = []
    for i in range(days):
        day = START + timedelta(days=i)
        level = base * (1 - weekend_dip if day.weekday() >= 5 else 1.0)
        factor = shape(i, day) if shape else 1.0
        out.append(level * factor * math.exp(rng.gauss(0, sigma) - sigma * sigma / 2))
    return out


def run(costs: list[float | None], name: str = "svc", params: DetectorParams = PARAMS) -> list[Event]:
    rows = [(START + timedelta(days=i), name, c) for i, c in enumerate(costs) if c is not None]
    return replay(rows, params)


def opens(events: list[Event]) -> list[Event]:
    return [e for e in events if e.action == "open"]


def day(i: int) -> date:
    return START + timedelta(days=i)


def test_weekly_seasonality_with_monday_rebound_is_quiet() -> None:
    for seed in range(5):
        costs = series(base=400.0, cv=0.08, weekend_dip=0.45, seed=seed)
        assert opens(run(list(costs))) == [], f"seed {seed}"


def test_weekend_peaks_are_learned_not_alerted() -> None:
    for seed in range(3):
        costs = series(base=400.0, cv=0.05, weekend_dip=-0.6, seed=seed)  # weekends 60 % busier
        assert opens(run(list(costs))) == [], f"seed {seed}"


def test_monthly_fee_alerts_at_most_on_its_first_occurrence() -> None:
    # A fixed RI-style fee of 6x the daily spend on the 1st of every month (four of them in 120 days).
    costs = series(base=50.0, cv=0.06, weekend_dip=0.2, shape=None)
    fee_days = [i for i in range(120) if day(i).day == 1]
    for i in fee_days:
        costs[i] += 300.0
    alerts = opens(run(list(costs)))
    assert len(fee_days) >= 3
    assert [a.day for a in alerts] in ([], [day(fee_days[0])])


def test_one_day_spike_alerts_once_then_closes() -> None:
    costs = series(base=200.0, cv=0.05)
    costs[60] *= 3.0
    events = run(list(costs))
    assert [(e.day, e.kind) for e in opens(events)] == [(day(60), "spike")]
    opened = opens(events)[0]
    assert opened.impact == pytest.approx(opened.actual - opened.expected)
    assert 150.0 < opened.expected < 250.0 and opened.impact > 300.0
    closes = [e for e in events if e.action == "close"]
    assert [c.kind for c in closes] == ["recovered"] and day(61) <= closes[0].day <= day(65)


def test_level_shift_alerts_once_and_closes_when_spend_returns() -> None:
    costs = series(base=80.0, cv=0.06, weekend_dip=0.2, shape=lambda i, _: 1.8 if 50 <= i < 75 else 1.0)
    events = run(list(costs))
    alerts = opens(events)
    assert len(alerts) == 1 and day(50) <= alerts[0].day <= day(53)
    closes = [e for e in events if e.action == "close"]
    assert len(closes) == 1 and closes[0].kind == "recovered" and day(75) <= closes[0].day <= day(79)


def test_lasting_level_shift_alerts_once_and_becomes_the_new_normal() -> None:
    costs = series(base=80.0, cv=0.08, shape=lambda i, _: 1.6 if i >= 40 else 1.0)
    events = run(list(costs))
    assert len(opens(events)) == 1 and day(40) <= opens(events)[0].day <= day(43)
    assert [e.kind for e in events if e.action == "close"] == ["new_normal"]


def test_ramp_alerts_once_while_it_grows_and_stays_quiet_on_the_plateau() -> None:
    def ramp(i: int, _: date) -> float:
        return 1.0 + 2.0 * min(max(i - 50, 0), 15) / 15  # to +200 % over 15 days, then a plateau

    costs = series(base=300.0, cv=0.07, weekend_dip=0.1, shape=ramp)
    events = run(list(costs))
    alerts = opens(events)
    # Material (>= 20 %) from day 52; one alert within its first few material days.
    assert len(alerts) == 1 and day(51) <= alerts[0].day <= day(56)
    assert alerts[0].kind in {"ramp", "level_shift", "spike"}
    # As it keeps climbing, the thread gets follow-ups, each at least double the last alerted impact.
    grows = [e for e in events if e.action == "grow"]
    assert grows and all(g.day <= day(66) for g in grows)
    impacts = [alerts[0].impact] + [g.impact for g in grows]
    assert all(b >= 2 * a for a, b in pairwise(impacts))


def test_new_service_alerts_as_new_spend_in_its_first_days() -> None:
    costs: list[float | None] = [None] * 45 + list(series(75, base=60.0, cv=0.1))
    other = series(base=100.0, seed=3)
    rows = [(day(i), "old", c) for i, c in enumerate(other)]
    rows += [(day(i), "new", c) for i, c in enumerate(costs) if c is not None]
    alerts = opens(replay(rows, PARAMS))
    assert [(a.series, a.kind) for a in alerts] == [("new", "new_spend")]
    assert day(45) <= alerts[0].day <= day(48) and alerts[0].expected == 0.0


def test_new_service_below_the_bar_is_quiet() -> None:
    costs: list[float | None] = [None] * 45 + list(series(75, base=2.0, cv=0.1))
    rows = [(day(i), "old", c) for i, c in enumerate(series(base=100.0, seed=3))]
    rows += [(day(i), "tiny-new", c) for i, c in enumerate(costs) if c is not None]
    assert opens(replay(rows, PARAMS)) == []


def test_spend_resuming_after_weeks_of_zero_rows_is_new_spend() -> None:
    costs = [0.0] * 40 + series(80, base=30.0, cv=0.05)
    alerts = opens(run(list(costs)))
    assert [(a.day, a.kind) for a in alerts] == [(day(40), "new_spend")]


def test_tiny_series_with_zeros_and_gaps_never_alerts() -> None:
    rng = random.Random(7)
    for seed in range(5):
        costs: list[float | None] = list(series(base=1.2, cv=0.05, weekend_dip=0.3, seed=seed))
        for i in range(len(costs)):
            roll = rng.random()
            costs[i] = 0.0 if roll < 0.05 else None if roll < 0.10 else costs[i]
        costs[70] = 4.5  # far beyond noise (~4x), but less than $5/day above normal: immaterial
        assert opens(run(costs)) == [], f"seed {seed}"


def test_materiality_bar_is_a_parameter() -> None:
    costs = series(base=20.0, cv=0.03)
    costs[70] += 12.0  # +60 %, +$12
    assert len(opens(run(list(costs)))) == 1
    assert opens(run(list(costs), params=replace(PARAMS, min_impact_usd=15.0))) == []
    assert opens(run(list(costs), params=replace(PARAMS, min_impact_pct=80.0))) == []


def test_step_is_causal_truncated_history_gives_identical_events() -> None:
    costs = series(base=150.0, cv=0.1, weekend_dip=0.3, shape=lambda i, _: 2.5 if 70 <= i < 72 else 1.0)
    costs[45] *= 4
    full = run(list(costs))
    assert full, "the series must produce events for this test to mean anything"
    for cut in (44, 45, 46, 70, 71, 80):
        partial = run(list(costs[: cut + 1]))
        assert partial == [e for e in full if e.day <= day(cut)], f"cut at day {cut}"


def test_only_a_bounded_window_of_history_matters() -> None:
    costs = series(200, base=90.0, cv=0.08, weekend_dip=0.25, shape=lambda i, _: 2.0 if 150 <= i < 160 else 1.0)
    costs[120] *= 5
    full: list[Event] = []
    short: list[Event] = []
    state_full: SeriesState | None = None
    state_short: SeriesState | None = None
    for i in range(len(costs)):
        events, state_full = step("s", START, costs[: i + 1], state_full, PARAMS)
        full += events
        lo = max(0, i + 1 - (PARAMS.window_days + 1))  # exactly the window the detector may read
        events, state_short = step("s", day(lo), costs[lo : i + 1], state_short, PARAMS)
        short += events
    assert full == short
    assert {e.day for e in opens(full)} == {day(120), day(150)}


def test_state_round_trips_through_json_and_continues_identically() -> None:
    costs = series(base=120.0, cv=0.05, shape=lambda i, _: 2.0 if i >= 60 else 1.0)
    state: SeriesState | None = None
    for i in range(62):
        _, state = step("s", START, costs[: i + 1], state, PARAMS)
    assert state is not None and state.episode is not None  # mid-episode: the interesting case
    stored = json.loads(json.dumps(state.to_dict()))
    restored = SeriesState.from_dict(stored)
    assert restored == state
    a, b = state, restored
    for i in range(62, 100):
        ea, a = step("s", START, costs[: i + 1], a, PARAMS)
        eb, b = step("s", START, costs[: i + 1], b, PARAMS)
        assert ea == eb
    assert a == b


def test_state_from_dict_rejects_garbage_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="invalid detector state"):
        SeriesState.from_dict({"last_day": "yesterday"})


def test_re_stepping_a_day_already_seen_returns_nothing_and_the_same_state() -> None:
    costs = series(base=100.0, cv=0.05)
    costs[50] *= 4
    state: SeriesState | None = None
    for i in range(50):
        _, state = step("s", START, costs[: i + 1], state, PARAMS)
    events, state = step("s", START, costs[:51], state, PARAMS)
    assert [e.action for e in events] == ["open"]
    again, same = step("s", START, costs[:51], state, PARAMS)
    assert again == [] and same is state
    older, same = step("s", START, costs[:40], state, PARAMS)
    assert older == [] and same is state


def test_a_day_without_a_row_is_not_a_zero() -> None:
    costs: list[float | None] = list(series(base=100.0, cv=0.05))
    for i in (30, 31, 60):
        costs[i] = None
    assert opens(run(costs)) == []
    costs[61] = 0.0  # a real zero is a drop, never an alert
    assert opens(run(costs)) == []


def test_step_rejects_empty_history() -> None:
    with pytest.raises(ValueError):
        step("s", START, [], None, PARAMS)


def test_net_credits_count_as_no_spend() -> None:
    costs = series(base=100.0, cv=0.05)
    costs[40] = -250.0  # a refund larger than the day's usage
    events = run(list(costs))
    assert opens(events) == []
