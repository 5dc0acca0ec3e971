"""What a normal day of one series costs: a robust fit of its recent clean history.

Work is in log space because cloud spend varies multiplicatively (a 10 % wobble on $5,000 and on $5
look alike there). The fit is a robust (Huber) line through the last four weeks, its slope shrunk toward
zero so that noise is not mistaken for a trend, plus a weekend effect from weekend-vs-nearby-weekday
ratios and a noise scale from day-to-day differences (both immune to level changes). The fit's own
uncertainty is reported too: z-scores count it, so a short or noisy history does not cry wolf.
Standard library only: the Lambda asset carries no numpy.
"""

from __future__ import annotations

import math
from calendar import monthrange
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median


@dataclass(frozen=True)
class FitParams:
    min_points: int = 7  # fewer clean days than this: no baseline yet (warm-up)
    level_points: int = 28  # level and trend come from this many most recent clean days
    weekend_points: int = 56  # days searched for the weekend effect and the noise scale
    trend_prior: float = 0.005  # log-units/day: typical trends are small, so a noisy slope is shrunk
    max_slope: float = 0.02  # and never extrapolated beyond 2 %/day
    min_sigma: float = 0.03  # a perfectly flat series still gets a 3 % noise floor
    huber_k: float = 1.5  # residuals beyond k sigma are down-weighted (fees, bumps)


@dataclass(frozen=True)
class Baseline:
    level: float  # log(cost + offset) of a weekday at `anchor`
    slope: float  # log-units per day
    anchor: int  # date ordinal the level refers to (the day being judged)
    weekend: float  # log-units added on Saturday and Sunday
    sigma: float  # noise of one day, log-units
    level_var: float  # variance of the fitted level on the day evaluated (estimation error)
    offset: float  # USD added before the log, so that zero-cost days stay finite

    def log_expected(self, day: date) -> float:
        weekend = self.weekend if day.weekday() >= 5 else 0.0
        return self.level + self.slope * (day.toordinal() - self.anchor) + weekend

    def expected(self, day: date) -> float:
        return max(0.0, math.exp(self.log_expected(day)) - self.offset)

    def residual(self, cost: float, expected: float) -> float:
        """Log-distance of `cost` above an `expected` amount (which may include a known fee)."""
        return math.log(cost + self.offset) - math.log(expected + self.offset)

    @property
    def scale(self) -> float:
        """Uncertainty of one day's log-cost: its noise plus the error of the fit itself."""
        return math.sqrt(self.sigma**2 + self.level_var)

    def z(self, cost: float, expected: float) -> float:
        """Standardised surprise of one day."""
        return self.residual(cost, expected) / self.scale

    def run_z(self, residuals: Sequence[float]) -> float:
        """Standardised surprise of several days together; the fit's error is shared by all of them."""
        m = len(residuals)
        return sum(residuals) / math.sqrt(m * self.sigma**2 + m * m * self.level_var)


def fit(points: Sequence[tuple[int, float]], target: int, params: FitParams) -> Baseline | None:
    """Fit clean (ordinal, cost) points in ascending date order, for judging the day with ordinal
    `target` (after the last point); None while there are too few points."""
    if len(points) < params.min_points:
        return None
    points = points[-params.weekend_points :]
    offset = 0.05 * median([c for _, c in points[-params.level_points :]]) + 0.01
    ords = [o for o, _ in points]
    ys = [math.log(c + offset) for _, c in points]

    weekends = [is_weekend(o) for o in ords]
    weekend = _weekend_effect(ords, ys, weekends)
    ds = [y - weekend if w else y for y, w in zip(ys, weekends, strict=True)]
    sigma = max(_noise(ords, ds), params.min_sigma)

    xs = [float(o) for o in ords[-params.level_points :]]
    level, slope, level_var = _robust_line(xs, ds[-params.level_points :], float(target), sigma, params)
    return Baseline(
        level=level,
        slope=slope,
        anchor=target,
        weekend=weekend,
        sigma=sigma,
        level_var=level_var,
        offset=offset,
    )


def _noise(ords: Sequence[int], ds: Sequence[float]) -> float:
    """Noise of one day from day-to-day differences (immune to level changes and trends), as a trimmed
    mean: the largest 10 % are dropped so that fees and bumps do not count as noise."""
    diffs = sorted(abs(ds[i] - ds[i - 1]) / math.sqrt(ords[i] - ords[i - 1]) for i in range(1, len(ds)))
    if not diffs:
        return 0.0
    kept = diffs[: max(1, math.ceil(0.9 * len(diffs)))]
    # For normal noise the mean of the lower 90 % of |difference| is 0.6574 x its standard deviation,
    # and a difference of two days has sqrt(2) x the noise of one. A few days can look calmer than the
    # series is, so short histories get a wider scale (+16 % at a week, +1 % at four weeks).
    return sum(kept) / len(kept) / 0.6574 / math.sqrt(2.0) * (1.0 + 8.0 / len(diffs) ** 2)


def _robust_line(
    xs: Sequence[float], ys: Sequence[float], target: float, sigma: float, params: FitParams
) -> tuple[float, float, float]:
    """Huber regression of ys on xs with the slope shrunk toward 0 (ridge, prior sd `trend_prior`).

    Returns (level at `target`, slope, variance of that level)."""
    anchor = sum(xs) / len(xs)
    cs = [x - anchor for x in xs]
    ridge = (sigma / params.trend_prior) ** 2
    level, slope = median(ys), 0.0
    limit = params.huber_k * sigma
    sw = swc = swcc = swy = det = 0.0
    for _ in range(3):
        sw = swc = swcc = swy = swcy = 0.0
        for c, y in zip(cs, ys, strict=True):
            r = abs(y - level - slope * c)
            w = 1.0 if r <= limit else limit / r
            wc = w * c
            sw += w
            swc += wc
            swcc += wc * c
            swy += w * y
            swcy += wc * y
        swcc += ridge
        det = sw * swcc - swc * swc
        level = (swcc * swy - swc * swcy) / det
        slope = (sw * swcy - swc * swy) / det
    if abs(slope) > params.max_slope:
        # Steeper than any normal trend: keep the direction, refit the level under the capped slope.
        slope = math.copysign(params.max_slope, slope)
        level = (swy - slope * swc) / sw
    ahead = target - anchor
    var = sigma**2 * (swcc - 2 * ahead * swc + ahead * ahead * sw) / det
    return level + slope * ahead, slope, var


def is_weekend(ordinal: int) -> bool:
    """Saturday or Sunday, from a date ordinal (day 1, 1 Jan year 1, was a Monday)."""
    return ordinal % 7 in (6, 0)


def _weekend_effect(ords: Sequence[int], ys: Sequence[float], weekends: Sequence[bool]) -> float:
    """Median log-ratio of weekend days to the weekdays around them (within 3 days): local ratios, so a
    level change or trend inside the search window does not leak into the weekend effect."""
    ratios = []
    n = len(ords)
    for k in range(n):
        if not weekends[k]:
            continue
        o = ords[k]
        near = [ys[j] for j in range(max(0, k - 3), min(n, k + 4)) if not weekends[j] and abs(ords[j] - o) <= 3]
        if len(near) >= 2:
            ratios.append(ys[k] - median(near))
    return median(ratios) if len(ratios) >= 2 else 0.0


def month_back(day: date) -> date:
    """The same day of the previous month, clamped to its length (31 Mar -> 28/29 Feb)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def standout(
    day: date, cost_on: Callable[[date], float | None], bar: Callable[[float], float], *, alone: bool
) -> float:
    """How far `day` stood above the week either side of it; 0.0 unless by at least the materiality bar
    `bar(normal)`. With `alone`, also 0.0 when a neighbouring day stood out nearly as much: a one-day
    charge (a fee) rather than a day of a longer anomaly. Looks after `day`: call it for past days only."""
    cost = cost_on(day)
    if cost is None:
        return 0.0
    near = [c for k in range(-7, 8) if k and (c := cost_on(day + timedelta(days=k))) is not None]
    if len(near) < 4:
        return 0.0
    normal = median(near)
    excess = cost - normal
    if excess < bar(normal):
        return 0.0
    if alone:
        for k in (-1, 1):
            beside = cost_on(day + timedelta(days=k))
            if beside is not None and beside - normal >= 0.5 * excess:
                return 0.0
    return excess
