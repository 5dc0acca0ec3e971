"""The spend-spike detector: one series, one day at a time, causal by construction.

`step` sees a series' costs up to and including the day it evaluates, plus the state it left the day
before, and returns that day's events. An episode is opened once (the alert), may grow (the thread
follow-up) and is closed when spend is back to normal, or accepted as the new normal after a few weeks.

How a day is judged, in short:
* expected spend comes from a robust fit of the recent clean days (`baseline.fit`): days inside an
  episode are left out, so an anomaly never teaches the baseline that it is normal;
* a charge that recurs on the same day of the month (an RI fee) or the same weekday for two weeks is
  expected once it has been seen: its amount is added to the expected spend;
* an alert needs impact >= max(min_impact_usd, min_impact_pct % of expected) and enough evidence: one
  very surprising day (spike) or several consistently high days (level shift, ramp);
* a series that had no spend for at least a week and then spends materially is new spend;
* spend that falls and stays down is never an alert, but restarts the baseline at the new level.

Only the last `window_days` of history matter, so a caller holding a bounded window (the Lambda) and a
full replay (the CLI) produce identical events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from costguard.detect.baseline import Baseline, FitParams, fit, month_back, standout
from costguard.detect.model import Action, Event

TINY_USD = 0.05  # a day at or below this is "no spend" (new-spend detection)


@dataclass(frozen=True)
class DetectorParams:
    """Detector settings. Materiality is the product's knob; the rest are statistics with tested defaults."""

    min_impact_usd: float = 5.0  # an alert needs at least this many USD/day above expected ...
    min_impact_pct: float = 20.0  # ... and at least this percentage of expected
    window_days: int = 56  # history that can influence a decision; callers must keep at least this much
    spike_z: float = 4.5  # one day this many noise units above expected opens a spike
    shift_z: float = 4.0  # 2-4 days whose z-scores sum to this x sqrt(days) open a level shift or ramp
    scan_days: int = 4  # longest run of high days considered when opening
    elevated_z: float = 1.0  # a day inside an episode counts as still high above this z ...
    elevated_share: float = 0.5  # ... and with impact above this share of the materiality bar
    remainder_share: float = 0.25  # ... and, for a spike, above this share of its alerted impact
    close_after_days: int = 3  # consecutive normal days that close an episode
    accept_after_days: int = 28  # an episode still open after this long is the new normal
    new_spend_accept_days: int = 7  # a new service's spend is its normal after its first week
    new_normal_days: int = 14  # an accepted change: the baseline restarts from this many recent days
    steady_days: int = 7  # ... accepted only once it has been high on each of this many recent days
    new_spend_quiet_days: int = 7  # days without spend before a series counts as new
    materiality_margin: float = 1.0  # noise units by which a mean impact must clear the bar to open
    recurring_z: float = 3.0  # a past day must have stood out this far beyond noise to excuse today
    drop_days: int = 3  # this many days in a row far below normal, by a material amount ...
    drop_z: float = 3.0  # ... (z below -drop_z) restart the baseline from the first of them
    grow_factor: float = 2.0  # impact at least this multiple of the last alerted impact is a follow-up
    fit: FitParams = field(default_factory=FitParams)


@dataclass(frozen=True)
class Episode:
    kind: str  # spike | level_shift | ramp | new_spend
    start: date
    expected: float  # expected spend on the day it opened
    alerted_impact: float  # impact in the last open/grow event
    normal_days: int = 0  # consecutive days back to normal

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "expected": self.expected,
            "alerted_impact": self.alerted_impact,
            "normal_days": self.normal_days,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Episode:
        return cls(
            kind=str(d["kind"]),
            start=date.fromisoformat(d["start"]),
            expected=float(d["expected"]),
            alerted_impact=float(d["alerted_impact"]),
            normal_days=int(d["normal_days"]),
        )


@dataclass(frozen=True)
class SeriesState:
    """What the detector remembers about one series between days (stored as JSON by the Lambda)."""

    last_day: date | None = None  # last evaluated day
    episode: Episode | None = None  # the open episode, if any
    flagged: tuple[date, ...] = ()  # anomalous days inside the window: kept out of the baseline
    regime_start: date | None = None  # first day of the current normal (after a new normal was accepted)
    recurring: tuple[tuple[date, float], ...] = ()  # recurring charges recognised in the window (for humans)

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "episode": self.episode.to_dict() if self.episode else None,
            "flagged": [d.isoformat() for d in self.flagged],
            "regime_start": self.regime_start.isoformat() if self.regime_start else None,
            "recurring": [[d.isoformat(), amount] for d, amount in self.recurring],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesState:
        try:
            return cls(
                last_day=date.fromisoformat(d["last_day"]) if d.get("last_day") else None,
                episode=Episode.from_dict(d["episode"]) if d.get("episode") else None,
                flagged=tuple(date.fromisoformat(x) for x in d.get("flagged", [])),
                regime_start=date.fromisoformat(d["regime_start"]) if d.get("regime_start") else None,
                recurring=tuple((date.fromisoformat(x), float(a)) for x, a in d.get("recurring", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid detector state: {exc}") from exc


@dataclass(frozen=True)
class _Day:
    """One day judged against the baseline."""

    day: date
    actual: float
    expected: float  # includes a recognised recurring charge
    impact: float
    bar: float  # materiality bar for this day
    residual: float  # log-distance above expected
    z: float
    recurring: float  # the recurring charge included in `expected`

    @property
    def material(self) -> bool:
        return self.impact >= self.bar


class _Window:
    """The bounded history `step` may look at; `today` itself is readable, later days do not exist."""

    def __init__(self, start: date, costs: Sequence[float | None], window_days: int) -> None:
        self.today = start + timedelta(days=len(costs) - 1)
        lo = max(0, len(costs) - window_days - 1)
        self.first = start + timedelta(days=lo)
        # A net credit (a refund larger than the day's usage) counts as no spend: it is never an alert.
        self._costs = [None if c is None else max(0.0, c) for c in costs[lo:]]

    def cost(self, day: date) -> float | None:
        i = (day - self.first).days
        return self._costs[i] if 0 <= i < len(self._costs) else None

    def past_cost(self, day: date) -> float | None:
        """Cost of a day strictly before today (lookarounds on past days must not see today)."""
        return self.cost(day) if day < self.today else None

    def days_before_today(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(len(self._costs) - 1)]

    def costs_before_today(self) -> list[float | None]:
        return self._costs[:-1]


def step(
    series: str,
    start: date,
    costs: Sequence[float | None],
    state: SeriesState | None,
    params: DetectorParams,
) -> tuple[list[Event], SeriesState]:
    """Evaluate the last day of `costs` (costs[i] is the cost on start + i days; None: no row that day).

    Returns that day's events and the state to pass to the next day's call. Re-evaluating a day already
    seen returns no events and the same state.
    """
    if not costs:
        raise ValueError("costs must hold at least the day being evaluated")
    window = _Window(start, costs, params.window_days)
    today = window.today
    state = state or SeriesState()
    if state.last_day is not None and today <= state.last_day:
        return [], state
    state = _prune(state, window.first, today)

    actual = window.cost(today)
    if actual is None:
        return [], state
    points = _clean_points(window, state)
    baseline = fit(points, today.toordinal(), params.fit)
    if baseline is None:
        return _warm_up(series, window, actual, state, params)

    judged = _judge(today, actual, baseline, window, params)
    if state.episode is not None:
        return _follow(series, judged, state, state.episode, params)
    if judged.impact < 0:
        return [], _after_drop(judged, baseline, window, state, params)
    return _maybe_open(series, judged, baseline, points=points, window=window, state=state, params=params)


def _prune(state: SeriesState, first: date, today: date) -> SeriesState:
    """Forget what lies outside the window, so old history cannot change today's decision."""
    regime = state.regime_start if state.regime_start and state.regime_start > first else None
    return replace(
        state,
        last_day=today,
        flagged=tuple(d for d in state.flagged if d >= first),
        regime_start=regime,
        recurring=tuple((d, a) for d, a in state.recurring if d >= first),
    )


def _clean_points(window: _Window, state: SeriesState) -> list[tuple[int, float]]:
    """(ordinal, cost) of the days before today that may teach the baseline what normal is."""
    skip = {d.toordinal() for d in state.flagged}
    first = window.first.toordinal()
    since = state.regime_start.toordinal() if state.regime_start else first
    points = []
    for i, cost in enumerate(window.costs_before_today()):
        o = first + i
        if cost is not None and o >= since and o not in skip:
            points.append((o, cost))
    return points


def _bar(expected: float, params: DetectorParams) -> float:
    return max(params.min_impact_usd, params.min_impact_pct / 100.0 * expected)


def _judge(day: date, actual: float, baseline: Baseline, window: _Window, params: DetectorParams) -> _Day:
    normal = baseline.expected(day)
    bar = _bar(normal, params)  # a fee does not raise the bar: materiality is about the usual spend
    recurring = 0.0
    if actual - normal >= bar:
        # Only a material surprise needs the (slower) recurrence check.
        recurring = min(_recurring_charge(day, window, baseline, params), actual - normal)
    expected = normal + recurring
    return _Day(
        day=day,
        actual=actual,
        expected=expected,
        impact=actual - expected,
        bar=bar,
        residual=baseline.residual(actual, expected),
        z=baseline.z(actual, expected),
        recurring=recurring,
    )


def _recurring_charge(day: date, window: _Window, baseline: Baseline, params: DetectorParams) -> float:
    """The charge `day` is known to carry: what stood out on the same day of last month (alone: a fee,
    not one day of a longer anomaly), or on the same weekday in each of the last two weeks. 0.0 if none."""

    def excess(past: date, *, alone: bool) -> float:
        amount = standout(past, window.past_cost, lambda normal: _bar(normal, params), alone=alone)
        cost = window.past_cost(past)
        if amount <= 0 or cost is None:
            return 0.0
        # Far beyond noise too, or any noisy day a month ago would excuse today.
        return amount if baseline.residual(cost, cost - amount) >= params.recurring_z * baseline.scale else 0.0

    monthly = excess(month_back(day), alone=True)
    weekly = min(excess(day - timedelta(days=7), alone=False), excess(day - timedelta(days=14), alone=False))
    return max(monthly, weekly)


def _warm_up(
    series: str, window: _Window, actual: float, state: SeriesState, params: DetectorParams
) -> tuple[list[Event], SeriesState]:
    """Too little clean history for a baseline: only new spend can be told, and a new series' first week
    is accepted as its normal."""
    today = window.today
    episode = state.episode
    if episode is not None:
        if (today - episode.start).days >= params.new_spend_accept_days:
            return [_event(series, today, "close", "new_normal", expected=0.0, actual=actual)], _accept(
                state, episode, today, params
            )
        return [], replace(state, flagged=(*state.flagged, today))

    first_spend = _first_spend(window, params)
    if first_spend is None or (today - first_spend).days >= params.new_spend_accept_days:
        return [], state
    spend = [c for i in range((today - first_spend).days + 1) if (c := window.cost(first_spend + timedelta(days=i)))]
    if sum(spend) / len(spend) < params.min_impact_usd:
        return [], state
    flagged = tuple(
        sorted({*state.flagged, *(first_spend + timedelta(days=i) for i in range((today - first_spend).days + 1))})
    )
    opened = Episode(kind="new_spend", start=first_spend, expected=0.0, alerted_impact=actual)
    return [_event(series, today, "open", "new_spend", expected=0.0, actual=actual)], replace(
        state, episode=opened, flagged=flagged
    )


def _first_spend(window: _Window, params: DetectorParams) -> date | None:
    """First day with spend, if the window shows at least `new_spend_quiet_days` without any before it."""
    days = [*window.days_before_today(), window.today]
    for i, day in enumerate(days):
        cost = window.cost(day)
        if cost is not None and cost > TINY_USD:
            return day if i >= params.new_spend_quiet_days else None
    return None


def _maybe_open(
    series: str,
    today: _Day,
    baseline: Baseline,
    *,
    points: list[tuple[int, float]],
    window: _Window,
    state: SeriesState,
    params: DetectorParams,
) -> tuple[list[Event], SeriesState]:
    if today.recurring > 0:
        state = replace(state, recurring=(*state.recurring, (today.day, round(today.recurring, 2))))
    found: tuple[str, _Day] | None = None
    if today.z >= params.spike_z and _confidently_material([today], baseline, params):
        found = ("spike", today)
    elif today.z >= params.elevated_z and today.impact > 0:  # worth a closer look
        found = _sustained(today.day, points, window, state, params)
    if found is None:
        return [], state
    kind, judged = found
    if judged.expected - judged.recurring <= TINY_USD:
        kind = "new_spend"
    opened = Episode(kind=kind, start=judged.day, expected=judged.expected, alerted_impact=judged.impact)
    event = _event(series, judged.day, "open", kind, expected=judged.expected, actual=judged.actual)
    return [event], replace(state, episode=opened, flagged=(*state.flagged, judged.day))


def _sustained(
    day: date, points: list[tuple[int, float]], window: _Window, state: SeriesState, params: DetectorParams
) -> tuple[str, _Day] | None:
    """level_shift / ramp if the last 2..scan_days days together are high enough, with today's judgement.

    They are judged against a fit that ends before them: a change that began a few days ago must not
    already have pulled its own baseline up (a ramp would otherwise hide behind itself)."""
    cutoff = (day - timedelta(days=params.scan_days - 1)).toordinal()
    baseline = fit([p for p in points if p[0] < cutoff], day.toordinal(), params.fit)
    if baseline is None:
        return None
    flagged = set(state.flagged)
    run: list[_Day] = []
    for back in range(params.scan_days):
        past = day - timedelta(days=back)
        cost = window.cost(past)
        if cost is None or past in flagged or (state.regime_start and past < state.regime_start):
            break
        judged = _judge(past, cost, baseline, window, params)
        if judged.residual <= 0:
            break
        run.append(judged)
        if (
            len(run) >= 2
            and baseline.run_z([d.residual for d in run]) >= params.shift_z
            and _confidently_material(run, baseline, params)
        ):
            zs = [d.z for d in run]
            rising = len(run) >= 3 and all(a > b for a, b in pairwise(zs))
            return ("ramp" if rising else "level_shift"), run[0]
    return None


def _confidently_material(run: list[_Day], baseline: Baseline, params: DetectorParams) -> bool:
    """The run's mean impact clears the materiality bar by a margin of its own noise: an observed
    impact just over the bar is as likely to be an immaterial change plus a noisy day."""
    m = len(run)
    impact = sum(d.impact for d in run) / m
    bar = sum(d.bar for d in run) / m
    noise = sum(d.actual for d in run) / m * baseline.sigma / math.sqrt(m)  # noise scales the whole day
    return impact >= bar + params.materiality_margin * noise


def _after_drop(
    today: _Day, baseline: Baseline, window: _Window, state: SeriesState, params: DetectorParams
) -> SeriesState:
    """Spend that fell and stayed down starts a new normal: never an alert, but the baseline must not
    keep expecting the old level (nor extrapolate the fall as a trend)."""
    start = today.day - timedelta(days=params.drop_days - 1)
    for k in range(params.drop_days):
        day = today.day - timedelta(days=k)
        cost = window.cost(day)
        if cost is None or (state.regime_start is not None and day < state.regime_start):
            return state
        judged = today if k == 0 else _judge(day, cost, baseline, window, params)
        if judged.z > -params.drop_z or -judged.impact < judged.bar:
            return state
    return replace(state, regime_start=start)


def _follow(
    series: str, today: _Day, state: SeriesState, episode: Episode, params: DetectorParams
) -> tuple[list[Event], SeriesState]:
    """Track the open episode: grow, close when back to normal, or accept a lasting change."""
    # Still high: clearly above normal and, for a spike, more than a small remainder of it (the baseline
    # is frozen during an episode, so a trend it missed must not keep a finished spike open).
    floor = params.elevated_share * today.bar
    if episode.kind == "spike":
        floor = max(floor, params.remainder_share * episode.alerted_impact)
    high = today.z >= params.elevated_z and today.impact >= floor
    if not high:
        normal_days = episode.normal_days + 1
        if normal_days >= params.close_after_days:
            close = _event(series, today.day, "close", "recovered", expected=today.expected, actual=today.actual)
            return [close], replace(state, episode=None)
        return [], replace(state, episode=replace(episode, normal_days=normal_days))

    age = (today.day - episode.start).days
    state = replace(state, flagged=(*state.flagged, today.day))
    accept_after = params.new_spend_accept_days if episode.kind == "new_spend" else params.accept_after_days
    flagged = set(state.flagged)
    steady = today.impact >= params.remainder_share * episode.alerted_impact and all(
        today.day - timedelta(days=k) in flagged for k in range(min(params.steady_days, age + 1))
    )
    if age >= accept_after and steady:
        close = _event(series, today.day, "close", "new_normal", expected=today.expected, actual=today.actual)
        return [close], _accept(state, episode, today.day, params)

    kind = "level_shift" if episode.kind == "spike" and age >= 3 else episode.kind
    episode = replace(episode, normal_days=0, kind=kind)
    if today.material and today.impact >= params.grow_factor * episode.alerted_impact:
        grow = _event(series, today.day, "grow", kind, expected=today.expected, actual=today.actual)
        return [grow], replace(state, episode=replace(episode, alerted_impact=today.impact))
    return [], replace(state, episode=episode)


def _accept(state: SeriesState, episode: Episode, today: date, params: DetectorParams) -> SeriesState:
    """The change is the new normal: its recent days become the baseline and older days stop counting
    (only the recent ones: a ramp's climb is not part of its plateau)."""
    since = max(episode.start, today - timedelta(days=params.new_normal_days))
    flagged = tuple(d for d in state.flagged if d < episode.start)
    return replace(state, episode=None, flagged=flagged, regime_start=since)


def _event(series: str, day: date, action: Action, kind: str, *, expected: float, actual: float) -> Event:
    return Event(
        series=series,
        day=day,
        action=action,
        kind=kind,
        expected=expected,
        actual=actual,
        impact=actual - expected,
    )
