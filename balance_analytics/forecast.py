"""Forecast to the end of the month, the same month last year, and savings against a baseline.

The forecast is what the household has used so far plus, for every hour still to come, what it
usually uses at that hour on a similar day (workday or weekend) over the last four weeks. It is
unknown rather than wrong when less than 75 % of the data it rests on is there.

Savings after a change (new windows, a new boiler) compare what was used with what the home would
have used without the change: a line fitted to the daily consumption before the change against the
heating degree days, when outdoor temperatures are known, so that a mild winter is not counted as a
saving; otherwise the same days a year earlier, or, failing both, the daily average before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from .carriers import SECONDS_PER_HOUR
from .series import (
    FloatArray,
    HourlySeries,
    TemperatureSeries,
    daily_totals,
    hour_floor,
    local,
    local_hours_of_day,
    local_midnight,
    local_weekdays,
    month_bounds,
    shift_months,
    utc,
)

MIN_COVERAGE = 0.75
PROFILE_DAYS = 28
MIN_BASELINE_DAYS = 14
"""Fewer days than two weeks cannot separate the weather's share from the home's."""


@dataclass(frozen=True, slots=True)
class MonthForecast:
    """``total = used_so_far + filled_gaps + expected_rest``.

    ``filled_gaps`` estimates the hours of this month that have no data yet (late radio data will
    replace it); ``coverage`` is the share of the month's elapsed hours that are known.
    """

    month_start: datetime
    month_end: datetime
    used_so_far: float
    filled_gaps: float
    expected_rest: float
    coverage: float

    @property
    def total(self) -> float:
        return self.used_so_far + self.filled_gaps + self.expected_rest


def _day_types(weekdays: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return (weekdays >= 5).astype(np.int64)


def _profile(
    series: HourlySeries, first_hour: int, hours: int, tz: tzinfo
) -> tuple[FloatArray, float]:
    """Mean use per (day type, local hour), and the share of the profile's hours that are known.

    A cell seen fewer than twice falls back to the same hour on any day, then to the overall mean.
    """
    values = series.window(first_hour, first_hour + hours * SECONDS_PER_HOUR)
    known = np.isfinite(values)
    coverage = float(np.count_nonzero(known) / hours) if hours else 0.0
    hod = local_hours_of_day(first_hour, hours, tz)
    kind = _day_types(local_weekdays(first_hour, hours, tz))
    sums = np.zeros((2, 24))
    counts = np.zeros((2, 24))
    np.add.at(sums, (kind[known], hod[known]), values[known])
    np.add.at(counts, (kind[known], hod[known]), 1)
    overall = float(np.mean(values[known])) if np.any(known) else math.nan
    any_day_sums, any_day_counts = sums.sum(axis=0), counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        any_day = np.where(any_day_counts > 0, any_day_sums / any_day_counts, overall)
        profile = np.where(counts >= 2, sums / counts, any_day[np.newaxis, :])
    return profile, coverage


def forecast_month(
    series: HourlySeries,
    now: float,
    tz: tzinfo,
    *,
    profile_days: int = PROFILE_DAYS,
    min_coverage: float = MIN_COVERAGE,
) -> MonthForecast | None:
    """The month's expected total at ``now``; ``None`` while the data is too thin to say."""
    start, end = month_bounds(now, tz)
    cut = hour_floor(now)
    profile_start = cut - profile_days * 24 * SECONDS_PER_HOUR
    profile, profile_coverage = _profile(series, profile_start, profile_days * 24, tz)
    elapsed = series.window(start, cut)
    coverage = float(np.count_nonzero(np.isfinite(elapsed)) / len(elapsed)) if len(elapsed) else 1.0
    if profile_coverage < min_coverage or coverage < min_coverage:
        return None

    def expected(first: int, hours: int) -> FloatArray:
        hod = local_hours_of_day(first, hours, tz)
        kind = _day_types(local_weekdays(first, hours, tz))
        return profile[kind, hod]

    gaps = ~np.isfinite(elapsed)
    filled = float(np.sum(expected(start, len(elapsed))[gaps])) if np.any(gaps) else 0.0
    rest_hours = (end - cut) // SECONDS_PER_HOUR
    return MonthForecast(
        month_start=utc(start),
        month_end=utc(end),
        used_so_far=float(np.nansum(elapsed)),
        filled_gaps=filled,
        expected_rest=float(np.sum(expected(cut, rest_hours))),
        coverage=coverage,
    )


@dataclass(frozen=True, slots=True)
class PeriodTotal:
    """A period's consumption, scaled up for the missing hours; ``measured`` is what was seen."""

    start: datetime
    end: datetime
    total: float
    measured: float
    coverage: float


def period_total(
    series: HourlySeries, t0: float, t1: float, *, min_coverage: float = MIN_COVERAGE
) -> PeriodTotal | None:
    w = series.window(t0, t1)
    if not len(w):
        return None
    known = np.isfinite(w)
    coverage = float(np.count_nonzero(known) / len(w))
    if coverage < min_coverage:
        return None
    measured = float(np.sum(w[known]))
    return PeriodTotal(utc(t0), utc(t1), measured / coverage, measured, coverage)


def same_month_last_year(
    series: HourlySeries, now: float, tz: tzinfo, *, min_coverage: float = MIN_COVERAGE
) -> PeriodTotal | None:
    """The whole calendar month a year before the month containing ``now``."""
    start = shift_months(now, -12, tz)
    end = shift_months(now, -11, tz)
    return period_total(series, start, end, min_coverage=min_coverage)


class BaselineMethod(StrEnum):
    DEGREE_DAYS = "degree_days"
    SAME_DAYS_LAST_YEAR = "same_days_last_year"
    MEAN_DAILY = "mean_daily"


@dataclass(frozen=True, slots=True)
class DegreeDayBaseline:
    """Daily use = ``base_per_day + per_degree_day * HDD``, HDD = max(0, base - daily mean °C)."""

    base_per_day: float
    per_degree_day: float
    base_temperature_c: float
    days: int
    r_squared: float

    @classmethod
    def fit(
        cls,
        daily_use: npt.ArrayLike,
        daily_mean_c: npt.ArrayLike,
        base_temperature_c: float = 18.0,
    ) -> DegreeDayBaseline:
        y = np.asarray(daily_use, dtype=np.float64)
        temp = np.asarray(daily_mean_c, dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(temp)
        y, hdd = y[ok], np.maximum(0.0, base_temperature_c - temp[ok])
        if len(y) < 2:
            raise ValueError("a degree-day baseline needs at least two days with data")
        if np.ptp(hdd) == 0:
            return cls(float(np.mean(y)), 0.0, base_temperature_c, len(y), 0.0)
        design = np.column_stack([np.ones_like(hdd), hdd])
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - (a + b * hdd)
        spread = float(np.sum((y - np.mean(y)) ** 2))
        r2 = 1.0 - float(np.sum(residual**2)) / spread if spread > 0 else 1.0
        return cls(float(a), float(b), base_temperature_c, len(y), r2)

    def expected(self, daily_mean_c: npt.ArrayLike) -> FloatArray:
        temp = np.asarray(daily_mean_c, dtype=np.float64)
        hdd = np.maximum(0.0, self.base_temperature_c - temp)
        return np.maximum(0.0, self.base_per_day + self.per_degree_day * hdd)


@dataclass(frozen=True, slots=True)
class SavingsReport:
    """What was saved since a change: ``expected - actual`` over the days with data."""

    since: datetime
    until: datetime
    days: int
    expected: float
    actual: float
    method: BaselineMethod
    baseline: DegreeDayBaseline | None = None

    @property
    def saved(self) -> float:
        return self.expected - self.actual

    @property
    def saved_fraction(self) -> float | None:
        return self.saved / self.expected if self.expected > 0 else None


def savings_since(
    series: HourlySeries,
    change_at: float,
    now: float,
    tz: tzinfo,
    *,
    temperatures: TemperatureSeries | None = None,
    baseline_days: int = 365,
    base_temperature_c: float = 18.0,
    min_coverage: float = MIN_COVERAGE,
) -> SavingsReport | None:
    """Savings over the whole local days from ``change_at`` up to ``now``.

    ``None`` when there is no whole day after the change, or nothing to build a baseline from.
    """
    first_after = local_midnight(change_at, tz)
    if first_after < change_at:
        first_after = _next_midnight(first_after, tz)
    after_days = _days_between(first_after, local_midnight(now, tz), tz)
    if after_days <= 0:
        return None
    before_start = local_midnight(change_at - baseline_days * 86400, tz)
    before_days = _days_between(before_start, local_midnight(change_at, tz), tz)
    actual = daily_totals(series, first_after, after_days, tz, min_coverage=min_coverage)
    have = np.isfinite(actual)
    if not np.any(have):
        return None
    until = utc(_add_days(first_after, after_days, tz))

    def report(
        expected: FloatArray, method: BaselineMethod, fit: DegreeDayBaseline | None = None
    ) -> SavingsReport:
        used = have & np.isfinite(expected)
        return SavingsReport(
            since=utc(first_after),
            until=until,
            days=int(np.count_nonzero(used)),
            expected=float(np.sum(expected[used])),
            actual=float(np.sum(actual[used])),
            method=method,
            baseline=fit,
        )

    if temperatures is not None and before_days > 1:
        before = daily_totals(series, before_start, before_days, tz, min_coverage=min_coverage)
        t_before = daily_totals(temperatures, before_start, before_days, tz, how="mean")
        t_after = daily_totals(temperatures, first_after, after_days, tz, how="mean")
        usable = np.isfinite(before) & np.isfinite(t_before)
        enough_before = np.count_nonzero(usable) >= MIN_BASELINE_DAYS
        if enough_before and np.mean(np.isfinite(t_after[have])) >= min_coverage:
            fit = DegreeDayBaseline.fit(before, t_before, base_temperature_c)
            return report(fit.expected(t_after), BaselineMethod.DEGREE_DAYS, fit)

    last_year = daily_totals(
        series, _same_day_last_year(first_after, tz), after_days, tz, min_coverage=min_coverage
    )
    if np.mean(np.isfinite(last_year[have])) >= min_coverage:
        return report(last_year, BaselineMethod.SAME_DAYS_LAST_YEAR)

    if before_days > 0:
        before = daily_totals(series, before_start, before_days, tz, min_coverage=min_coverage)
        if np.any(np.isfinite(before)):
            mean = float(np.nanmean(before))
            return report(np.full(after_days, mean), BaselineMethod.MEAN_DAILY)
    return None


def _next_midnight(t: int, tz: tzinfo) -> int:
    return _add_days(t, 1, tz)


def _add_days(t: int, days: int, tz: tzinfo) -> int:
    day = local(t, tz).date() + timedelta(days=days)
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def _days_between(t0: int, t1: int, tz: tzinfo) -> int:
    return (local(t1, tz).date() - local(t0, tz).date()).days


def _same_day_last_year(t: int, tz: tzinfo) -> int:
    day = local(t, tz).date()
    # 29 February has no twin; the day before stands in for it
    try:
        twin = day.replace(year=day.year - 1)
    except ValueError:
        twin = day.replace(year=day.year - 1, day=28)
    return int(datetime(twin.year, twin.month, twin.day, tzinfo=tz).timestamp())
