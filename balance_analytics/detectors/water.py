"""Water: the three rules households and meter makers already trust.

* no zero-flow hour in the last 24 h (Kamstrup's "LEAK" info code): works on hourly data alone and
  catches the dripping tap and the running toilet, because even a busy home has quiet hours;
* continuous flow for N hours (Flume): faster, but needs readings finer than an hour, since at
  hourly resolution an ordinary day looks continuous;
* burst: a high flow that goes on for half an hour, which no tap or shower does.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from balance_analytics.carriers import SECONDS_PER_HOUR

from .base import (
    TIME_TOLERANCE_S,
    Binner,
    DetectorKind,
    Finding,
    MeterContext,
    Sensitivity,
)
from .base import utc_datetime as _dt


@dataclass(frozen=True, slots=True)
class NoZeroHourSettings:
    """``window_hours`` without a single hour at or below ``zero_per_hour`` (m³) means a leak.

    ``zero_per_hour`` is the meter's noise: one 1-litre pulse in an hour is still a quiet hour.
    """

    window_hours: int = 24
    zero_per_hour: float = 0.001

    @classmethod
    def for_sensitivity(cls, sensitivity: Sensitivity) -> NoZeroHourSettings:
        match sensitivity:
            case Sensitivity.LOW:
                return cls(window_hours=48, zero_per_hour=0.003)
            case Sensitivity.NORMAL:
                return cls()
            case Sensitivity.HIGH:
                return cls(window_hours=24, zero_per_hour=0.0003)


class NoZeroHourDetector:
    """Kamstrup's rule on hourly consumption; the floor of the window estimates the leak."""

    kind = DetectorKind.WATER_NO_ZERO_HOUR

    def __init__(self, context: MeterContext, settings: NoZeroHourSettings | None = None) -> None:
        self.context = context
        self.settings = settings or NoZeroHourSettings()
        self._bins = Binner(SECONDS_PER_HOUR)
        self._recent: deque[float] = deque(maxlen=self.settings.window_hours)
        self._run_start: int | None = None
        self._run_hours = 0
        self._finding = Finding(self.kind, context.carrier, active=False)

    @property
    def finding(self) -> Finding:
        return self._finding

    def update(self, t0: float, t1: float, amount: float) -> Finding:
        for hour, value in self._bins.add(t0, t1, amount):
            self._on_hour(hour, value)
        return self._finding

    def _on_hour(self, hour: int, value: float) -> None:
        if math.isnan(value) and self._finding.active:
            # a radio gap does not show the leak has stopped; the alarm stands until a quiet hour
            return
        # an unknown hour cannot prove continuous flow either, so it ends the run like a quiet one
        if math.isnan(value) or value <= self.settings.zero_per_hour:
            self._run_start = None
            self._run_hours = 0
            self._recent.clear()
            self._finding = Finding(self.kind, self.context.carrier, active=False)
            return
        if self._run_start is None:
            self._run_start = hour
        self._run_hours += 1
        self._recent.append(value)
        window = self.settings.window_hours
        if self._run_hours < window:
            self._finding = Finding(
                self.kind,
                self.context.carrier,
                active=False,
                evidence={"hours_without_zero": float(self._run_hours)},
            )
            return
        floor = min(self._recent)
        since = self._run_start
        detected = since + window * SECONDS_PER_HOUR
        self._finding = Finding(
            self.kind,
            self.context.carrier,
            active=True,
            rate_per_hour=floor,
            since=_dt(since),
            detected_at=self._finding.detected_at or _dt(detected),
            price_per_unit=self.context.price_per_unit,
            reason=(
                f"Water has flowed in every hour since {self.context.when(since)} "
                f"({self._run_hours} h without a quiet hour); never less than "
                f"{floor * 1000:.0f} L in an hour."
            ),
            evidence={
                "hours_without_zero": float(self._run_hours),
                "min_hourly_litres": floor * 1000,
            },
        )


@dataclass(frozen=True, slots=True)
class ContinuousFlowSettings:
    """Flow in every ``resolution_s`` slot for ``hours`` hours; a slot at or below
    ``zero_per_hour`` (m³/h) is a pause. Readings coarser than the slot cannot show a pause and
    are not judged.

    Five-minute slots are what makes the rule usable: a family at home keeps water running in
    most quarter-hours of an afternoon, but rarely in every five minutes for more than an hour
    and a half, while a running toilet or a dripping tap never pauses.
    """

    hours: float = 3.0
    resolution_s: int = 300
    zero_per_hour: float = 0.002

    @classmethod
    def for_sensitivity(cls, sensitivity: Sensitivity) -> ContinuousFlowSettings:
        match sensitivity:
            case Sensitivity.LOW:
                return cls(hours=6.0, zero_per_hour=0.004)
            case Sensitivity.NORMAL:
                return cls()
            case Sensitivity.HIGH:
                return cls(hours=2.0, zero_per_hour=0.001)


class ContinuousFlowDetector:
    """Flume's rule: water never stopped for ``hours`` hours."""

    kind = DetectorKind.WATER_CONTINUOUS_FLOW

    def __init__(
        self, context: MeterContext, settings: ContinuousFlowSettings | None = None
    ) -> None:
        self.context = context
        self.settings = settings or ContinuousFlowSettings()
        self._bins = Binner(self.settings.resolution_s)
        self._run_start: int | None = None
        self._run_min = math.inf
        self._finding = Finding(self.kind, context.carrier, active=False)

    @property
    def finding(self) -> Finding:
        return self._finding

    def update(self, t0: float, t1: float, amount: float) -> Finding:
        slot = self.settings.resolution_s
        if t1 - t0 > slot + TIME_TOLERANCE_S:
            # an hourly reading of 5 L may be one flush or a steady trickle: no verdict either way
            self._bins = Binner(slot)
            self._reset(coarse=True)
            return self._finding
        for start, value in self._bins.add(t0, t1, amount):
            self._on_slot(start, value)
        return self._finding

    def _reset(self, *, coarse: bool = False) -> None:
        self._run_start = None
        self._run_min = math.inf
        evidence = {"readings_too_coarse": 1.0} if coarse else {}
        self._finding = Finding(self.kind, self.context.carrier, active=False, evidence=evidence)

    def _on_slot(self, start: int, value: float) -> None:
        slot = self.settings.resolution_s
        rate = value * SECONDS_PER_HOUR / slot
        if math.isnan(value) and self._finding.active:
            return
        if math.isnan(value) or rate <= self.settings.zero_per_hour:
            self._reset()
            return
        if self._run_start is None:
            self._run_start = start
        self._run_min = min(self._run_min, rate)
        duration_h = (start + slot - self._run_start) / SECONDS_PER_HOUR
        if duration_h + 1e-9 < self.settings.hours:
            self._finding = Finding(
                self.kind,
                self.context.carrier,
                active=False,
                evidence={"continuous_hours": duration_h},
            )
            return
        since = self._run_start
        detected = since + self.settings.hours * SECONDS_PER_HOUR
        self._finding = Finding(
            self.kind,
            self.context.carrier,
            active=True,
            rate_per_hour=self._run_min,
            since=_dt(since),
            detected_at=self._finding.detected_at or _dt(detected),
            price_per_unit=self.context.price_per_unit,
            reason=(
                f"Water has not stopped since {self.context.when(since)} ({duration_h:.1f} h); "
                f"the flow never fell below {self._run_min * 1000:.0f} L/h."
            ),
            evidence={"continuous_hours": duration_h, "min_flow_l_per_h": self._run_min * 1000},
        )


@dataclass(frozen=True, slots=True)
class BurstSettings:
    """At least ``rate_per_hour`` (m³/h) for ``minutes`` minutes, judged on ``resolution_s`` slots.

    1.2 m³/h is 20 L/min: more than a shower (8-12 L/min) or a kitchen tap, and a shower or a
    filling bath does not last half an hour at that rate; a burst pipe does.
    """

    rate_per_hour: float = 1.2
    minutes: float = 30.0
    resolution_s: int = 300

    @classmethod
    def for_sensitivity(cls, sensitivity: Sensitivity) -> BurstSettings:
        match sensitivity:
            case Sensitivity.LOW:
                return cls(rate_per_hour=1.8, minutes=45.0)
            case Sensitivity.NORMAL:
                return cls()
            case Sensitivity.HIGH:
                return cls(rate_per_hour=0.8, minutes=20.0)


class BurstDetector:
    """A sustained high flow. Hourly readings count as an hour at their average rate."""

    kind = DetectorKind.WATER_BURST

    def __init__(self, context: MeterContext, settings: BurstSettings | None = None) -> None:
        self.context = context
        self.settings = settings or BurstSettings()
        self._bins = Binner(self.settings.resolution_s)
        self._high_since: int | None = None
        self._volume = 0.0
        self._finding = Finding(self.kind, context.carrier, active=False)

    @property
    def finding(self) -> Finding:
        return self._finding

    def update(self, t0: float, t1: float, amount: float) -> Finding:
        for start, value in self._bins.add(t0, t1, amount):
            self._on_slot(start, value)
        return self._finding

    def _on_slot(self, start: int, value: float) -> None:
        slot = self.settings.resolution_s
        rate = value * SECONDS_PER_HOUR / slot
        if math.isnan(value) or rate < self.settings.rate_per_hour:
            self._high_since = None
            self._volume = 0.0
            self._finding = Finding(self.kind, self.context.carrier, active=False)
            return
        if self._high_since is None:
            self._high_since = start
        self._volume += value
        minutes = (start + slot - self._high_since) / 60
        if minutes + 1e-9 < self.settings.minutes:
            return
        since = self._high_since
        mean_rate = self._volume * 60 / minutes
        self._finding = Finding(
            self.kind,
            self.context.carrier,
            active=True,
            rate_per_hour=mean_rate,
            since=_dt(since),
            detected_at=self._finding.detected_at or _dt(start + slot),
            price_per_unit=self.context.price_per_unit,
            reason=(
                f"{mean_rate * 1000 / 60:.0f} L/min since {self.context.when(since)} "
                f"({minutes:.0f} min, {self._volume * 1000:.0f} L so far): a burst or an open tap."
            ),
            evidence={
                "minutes": minutes,
                "flow_l_per_min": mean_rate * 1000 / 60,
                "volume_litres": self._volume * 1000,
            },
        )
