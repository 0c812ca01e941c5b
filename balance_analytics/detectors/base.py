"""What every detector shares: the meter it watches, its sensitivity, what it reports, and binning.

Detectors are fed intervals ``(t0, t1, amount)`` in time order, of any length from a second to an
hour, and answer with a :class:`Finding` after every call. History is replayed through the same
path (:func:`replay_hourly`), so what a detector concludes over an array is exactly what it would
have concluded live.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from balance_analytics.carriers import DAYS_PER_MONTH, HOURS_PER_DAY, SECONDS_PER_HOUR, Carrier
from balance_analytics.series import FloatArray

TIME_TOLERANCE_S = 1.0
"""Clock jitter between successive readings that still counts as back-to-back."""


def utc_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Sensitivity(StrEnum):
    """One knob per meter: how small a deviation is worth telling the household about.

    Each detector maps it onto its own thresholds (``Settings.for_sensitivity``) so that a user
    never needs to know what "zero flow" means in litres per hour.
    """

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class DetectorKind(StrEnum):
    WATER_NO_ZERO_HOUR = "water_no_zero_hour"
    WATER_CONTINUOUS_FLOW = "water_continuous_flow"
    WATER_BURST = "water_burst"
    GAS_NIGHT_FLOW = "gas_night_flow"
    STANDBY = "standby"
    HEAT_WITHOUT_DEMAND = "heat_without_demand"
    AWAY = "away"


@dataclass(frozen=True, slots=True)
class MeterContext:
    """The facts about a meter that every detector needs to explain itself.

    ``price_per_unit`` turns losses into money; ``None`` leaves the money fields unknown rather
    than zero. ``tz`` is the household's time zone: nights are local nights.
    """

    carrier: Carrier
    tz: tzinfo = UTC
    price_per_unit: float | None = None

    def __post_init__(self) -> None:
        if self.price_per_unit is not None and not (
            math.isfinite(self.price_per_unit) and self.price_per_unit >= 0
        ):
            raise ValueError(f"price must be a non-negative number, got {self.price_per_unit}")

    def when(self, t: float) -> str:
        """A timestamp the way the household reads it in an explanation."""
        return datetime.fromtimestamp(t, self.tz).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class Finding:
    """A detector's current verdict, with the evidence behind it.

    ``rate_per_hour`` is the estimated waste in meter units per hour: the leak's flow for leak
    detectors (0 when nothing is found), the always-on baseline for the standby detector.
    ``since`` is when the condition began (the first hour of the evidence), ``detected_at`` when
    the evidence became sufficient. ``reason`` is one plain sentence; ``evidence`` holds the numbers
    behind it for attributes and translations.
    """

    kind: DetectorKind
    carrier: Carrier
    active: bool
    rate_per_hour: float = 0.0
    since: datetime | None = None
    detected_at: datetime | None = None
    price_per_unit: float | None = None
    reason: str = ""
    evidence: dict[str, float] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return self.carrier.unit

    @property
    def loss_per_day(self) -> float:
        return self.rate_per_hour * HOURS_PER_DAY

    @property
    def loss_per_month(self) -> float:
        return self.loss_per_day * DAYS_PER_MONTH

    @property
    def cost_per_day(self) -> float | None:
        return None if self.price_per_unit is None else self.loss_per_day * self.price_per_unit

    @property
    def cost_per_month(self) -> float | None:
        return None if self.price_per_unit is None else self.loss_per_month * self.price_per_unit

    @property
    def power_w(self) -> float | None:
        """The rate as a power, for carriers metered in kWh (1 kWh/h = 1000 W)."""
        if self.carrier in (Carrier.ELECTRICITY, Carrier.HEAT):
            return self.rate_per_hour * 1000.0
        return None

    def as_attributes(self) -> dict[str, str | float | bool | None]:
        """JSON-friendly attributes for an entity: the "why" a household sees next to the alarm."""
        attrs: dict[str, str | float | bool | None] = {
            "detector": self.kind.value,
            "active": self.active,
            "since": self.since.isoformat() if self.since else None,
            "detected_at": self.detected_at.isoformat() if self.detected_at else None,
            "unit": self.unit,
            "rate_per_hour": self.rate_per_hour,
            "loss_per_day": self.loss_per_day,
            "loss_per_month": self.loss_per_month,
            "cost_per_day": self.cost_per_day,
            "cost_per_month": self.cost_per_month,
            "reason": self.reason,
        }
        if (power := self.power_w) is not None:
            attrs["power_w"] = power
        attrs.update(self.evidence)
        return attrs


class Detector(Protocol):
    """What :class:`~balance_analytics.detectors.monitor.MeterMonitor` and the benchmark rely on."""

    @property
    def kind(self) -> DetectorKind: ...

    @property
    def finding(self) -> Finding: ...

    def update(self, t0: float, t1: float, amount: float) -> Finding: ...


class Binner:
    """Cuts a stream of intervals into fixed, aligned bins and emits each bin once it is complete.

    An interval spanning several bins is spread over them in proportion to time (the meter cannot
    say more). A bin not fully covered by data is emitted as NaN, so a gap in the data can never
    pass for zero consumption. Intervals that end before data already seen are dropped: late
    duplicates must not count twice.
    """

    __slots__ = ("_amount", "_bin", "_covered", "_last", "width")

    def __init__(self, width: int) -> None:
        if width <= 0:
            raise ValueError("bin width must be positive")
        self.width = width
        self._bin: int | None = None
        self._amount = 0.0
        self._covered = 0.0
        self._last: float | None = None

    def add(self, t0: float, t1: float, amount: float) -> list[tuple[int, float]]:
        if not t1 > t0:
            raise ValueError(f"empty or reversed interval [{t0}, {t1})")
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"consumption must be a non-negative number, got {amount}")
        out: list[tuple[int, float]] = []
        if self._last is not None:
            if t1 <= self._last:
                return out
            if t0 < self._last - TIME_TOLERANCE_S:
                amount *= (t1 - self._last) / (t1 - t0)
            t0 = max(t0, self._last)
        self._last = t1
        span = t1 - t0
        a = t0
        while a < t1:
            start = math.floor(a / self.width) * self.width
            if self._bin is None:
                self._bin = start
            elif start > self._bin:
                out.append((self._bin, self._value()))
                out.extend((g, math.nan) for g in range(self._bin + self.width, start, self.width))
                self._open(start)
            else:
                # a rounding sliver of a bin already emitted goes to the open one
                start = self._bin
            b = min(t1, start + self.width)
            self._amount += amount * (b - a) / span
            self._covered += b - a
            if b >= start + self.width:
                out.append((start, self._value()))
                # the next bin is expected right away; if data resumes later it closes as unknown
                self._open(start + self.width)
            a = b
        return out

    def join(self, later: Binner) -> list[tuple[int, float]]:
        """Continue with what ``later`` holds, as if its intervals had been added here.

        ``later`` must have been fed only data from after this binner's last and must not have
        emitted a bin yet (its open bin is all it knows); the bins this closes are returned.
        """
        if later.width != self.width:
            raise ValueError("binners of different widths cannot be joined")
        if later._bin is None or later._last is None or later._covered <= 0:
            return []
        if self._last is not None and later._last <= self._last:
            raise ValueError("only later data can be joined")
        out: list[tuple[int, float]] = []
        if self._bin is None:
            self._open(later._bin)
        elif later._bin > self._bin:
            out.append((self._bin, self._value()))
            out.extend((g, math.nan) for g in range(self._bin + self.width, later._bin, self.width))
            self._open(later._bin)
        elif later._bin < self._bin:
            raise ValueError("only later data can be joined")
        self._amount += later._amount
        self._covered += later._covered
        self._last = later._last
        return out

    def _value(self) -> float:
        return self._amount if self._covered >= self.width - TIME_TOLERANCE_S else math.nan

    def _open(self, start: int) -> None:
        self._bin = start
        self._amount = 0.0
        self._covered = 0.0

    @property
    def last_time(self) -> float | None:
        return self._last

    @property
    def open_bin(self) -> tuple[int, float, float] | None:
        """(start, amount, seconds covered) of the bin still being filled, if any."""
        if self._bin is None or self._covered <= 0:
            return None
        return self._bin, self._amount, self._covered

    def to_dict(self) -> dict[str, float | None]:
        """JSON-safe state: a restart continues the open bin instead of losing it."""
        return {
            "width": self.width,
            "bin": self._bin,
            "amount": self._amount,
            "covered": self._covered,
            "last": self._last,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Binner:
        binner = cls(int(data["width"]))
        if data.get("bin") is not None:
            binner._bin = int(data["bin"])
        binner._amount = float(data.get("amount") or 0.0)
        binner._covered = float(data.get("covered") or 0.0)
        last = data.get("last")
        binner._last = None if last is None else float(last)
        if not (math.isfinite(binner._amount) and binner._amount >= 0):
            raise ValueError(f"a bin cannot hold {binner._amount}")
        return binner


class HeatingWeather:
    """The outdoor temperature as a building's heating follows it.

    Heating responds to the last few days, not to the last hour: a house stays cold for a day or
    two after a frost. Like the BDEW heat profiles, today's mean temperature counts fully,
    yesterday's half, the day before a quarter and the one before that an eighth. Fed one value per
    completed hour.
    """

    __slots__ = ("_hours",)

    WEIGHTS = (1.0, 0.5, 0.25, 0.125)

    def __init__(self) -> None:
        self._hours: deque[float] = deque(maxlen=24 * len(self.WEIGHTS))

    def add(self, temperature_c: float) -> None:
        if math.isfinite(temperature_c):
            self._hours.append(temperature_c)

    @property
    def value(self) -> float | None:
        """The weighted mean in °C, or None before the first temperature."""
        if not self._hours:
            return None
        hours = list(self._hours)
        total = weight_sum = 0.0
        for k, weight in enumerate(self.WEIGHTS):
            day = hours[max(0, len(hours) - 24 * (k + 1)) : len(hours) - 24 * k]
            if day:
                total += weight * statistics.fmean(day)
                weight_sum += weight
        return total / weight_sum


def replay_hourly(detector: Detector, first_hour: int, values: npt.ArrayLike) -> list[Finding]:
    """Feed an hourly history through a detector; one finding per hour, NaN hours skipped.

    Skipping a NaN hour leaves a gap, which the detector's binning reports as unknown.
    """
    arr: FloatArray = np.asarray(values, dtype=np.float64)
    findings: list[Finding] = []
    for i, v in enumerate(arr.tolist()):
        t0 = first_hour + i * SECONDS_PER_HOUR
        if math.isfinite(v):
            findings.append(detector.update(t0, t0 + SECONDS_PER_HOUR, v))
        else:
            findings.append(detector.finding)
    return findings
