"""Hourly consumption series and the local-calendar arithmetic around them.

Times are unix seconds. Hours are bins ``[h, h + 3600)`` with ``h`` a multiple of 3600, which are
also local clock hours in every time zone with a whole-hour offset. Night windows, days and months
are local: a household's night is 01:00-05:00 on its own clock, whatever UTC says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from .carriers import SECONDS_PER_HOUR

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def hour_floor(t: float) -> int:
    return math.floor(t / SECONDS_PER_HOUR) * SECONDS_PER_HOUR


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def local(t: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(t, tz)


def local_midnight(t: float, tz: tzinfo) -> int:
    """Unix time of the local midnight that starts the day containing ``t``."""
    day = local(t, tz).date()
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def month_bounds(t: float, tz: tzinfo) -> tuple[int, int]:
    """Unix times of the first and the next month's first local midnight around ``t``."""
    moment = local(t, tz)
    start = datetime(moment.year, moment.month, 1, tzinfo=tz)
    nxt = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=tz)
    return int(start.timestamp()), int(nxt.timestamp())


def shift_months(t: float, months: int, tz: tzinfo) -> int:
    """The start of the local month ``months`` away from the month containing ``t``."""
    moment = local(t, tz)
    index = moment.year * 12 + (moment.month - 1) + months
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=tz).timestamp())


def local_hours_of_day(first_hour: int, hours: int, tz: tzinfo) -> IntArray:
    """Local hour of day (0-23) of each hour bin; DST days simply repeat or skip an hour."""
    return np.fromiter(
        (local(first_hour + i * SECONDS_PER_HOUR, tz).hour for i in range(hours)),
        dtype=np.int64,
        count=hours,
    )


def local_weekdays(first_hour: int, hours: int, tz: tzinfo) -> IntArray:
    """Local weekday (Monday 0) of each hour bin."""
    return np.fromiter(
        (local(first_hour + i * SECONDS_PER_HOUR, tz).weekday() for i in range(hours)),
        dtype=np.int64,
        count=hours,
    )


@dataclass(frozen=True, slots=True)
class HourlySeries:
    """Consumption per hour of one meter, NaN where the hour is unknown.

    Value ``i`` covers the hour ``[start + 3600*i, start + 3600*(i+1))``.
    """

    start: int
    values: FloatArray

    NON_NEGATIVE: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.start % SECONDS_PER_HOUR:
            raise ValueError(f"series must start on a whole hour, got {self.start}")
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError("an hourly series is one-dimensional")
        if self.NON_NEGATIVE and np.any(values[np.isfinite(values)] < 0):
            raise ValueError("consumption cannot be negative")
        values = values.copy()
        values.flags.writeable = False
        object.__setattr__(self, "values", values)

    @classmethod
    def from_values(cls, start: int, values: npt.ArrayLike) -> HourlySeries:
        return cls(start, np.asarray(values, dtype=np.float64))

    def mean(self, t0: float, t1: float) -> float:
        """Mean of the known hours in ``[t0, t1)``; NaN when none is known."""
        w = self.window(t0, t1)
        known = w[np.isfinite(w)]
        return float(np.mean(known)) if len(known) else math.nan

    @property
    def end(self) -> int:
        return self.start + len(self.values) * SECONDS_PER_HOUR

    def __len__(self) -> int:
        return len(self.values)

    def window(self, t0: float, t1: float) -> FloatArray:
        """The hours ``[hour_floor(t0), hour_floor(t1))``; NaN for hours outside the series."""
        h0, h1 = hour_floor(t0), hour_floor(t1)
        n = max(0, (h1 - h0) // SECONDS_PER_HOUR)
        out = np.full(n, np.nan)
        lo = max(h0, self.start)
        hi = min(h1, self.end)
        if hi > lo:
            src = (lo - self.start) // SECONDS_PER_HOUR
            dst = (lo - h0) // SECONDS_PER_HOUR
            count = (hi - lo) // SECONDS_PER_HOUR
            out[dst : dst + count] = self.values[src : src + count]
        return out

    def coverage(self, t0: float, t1: float) -> float:
        """Share of the hours in ``[t0, t1)`` that are known; 0 for an empty span."""
        w = self.window(t0, t1)
        return float(np.count_nonzero(np.isfinite(w)) / len(w)) if len(w) else 0.0

    def total(self, t0: float, t1: float) -> float:
        """Sum of the known hours in ``[t0, t1)``."""
        return float(np.nansum(self.window(t0, t1)))


@dataclass(frozen=True, slots=True)
class TemperatureSeries(HourlySeries):
    """Hourly temperatures in °C; unlike consumption they may be negative."""

    NON_NEGATIVE: ClassVar[bool] = False


def daily_totals(
    series: HourlySeries,
    first_day: int,
    days: int,
    tz: tzinfo,
    *,
    min_coverage: float = 0.75,
    how: Literal["sum", "mean"] = "sum",
) -> FloatArray:
    """Per local day: the total (scaled up for a few missing hours) or the mean of the known
    hours, NaN below ``min_coverage``. ``first_day`` is any time in the first day.

    Local days are 23 or 25 hours long around DST changes, which is why this walks the calendar
    instead of reshaping the array by 24.
    """
    out = np.full(days, np.nan)
    day = local(first_day, tz).date()
    for i in range(days):
        t0 = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
        nxt = day + timedelta(days=1)
        t1 = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp())
        w = series.window(t0, t1)
        known = np.isfinite(w)
        if len(w) and np.count_nonzero(known) >= min_coverage * len(w):
            mean = float(np.mean(w[known]))
            out[i] = mean * len(w) if how == "sum" else mean
        day = nxt
    return out
