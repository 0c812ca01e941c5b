"""Electricity: the standby baseline ("energy vampires").

The least a home draws in the middle of the night is what never switches off: routers, chargers,
TVs on standby, and the average of the fridge's cycles. That floor, in W, in kWh a month and in
money, is worth showing on its own. It is flagged when it rises clearly above the home's own usual
floor for several nights running (a new always-on device, a heater left on), or, if the household
sets one, when it exceeds an absolute limit.

Comparing the home with itself rather than with a fixed number is what keeps a home with a big
old fridge from being nagged every night.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from balance_analytics.carriers import SECONDS_PER_HOUR

from .base import Binner, DetectorKind, Finding, MeterContext, Sensitivity
from .base import utc_datetime as _dt


@dataclass(frozen=True, slots=True)
class StandbySettings:
    """Night ``[night_start, night_end)`` local hours; the floor is the smallest ``resolution_s``
    slot. The reported baseline is the median floor of the last ``baseline_nights``. A rise of at
    least ``rise_w`` over the reference, on ``confirm_nights`` nights in a row, is flagged; so is a
    floor above ``alert_above_w`` when the household sets one.

    The reference is the ``reference_quantile`` of up to ``reference_nights`` earlier nights (at
    least ``min_reference_nights``): lower than their median, so that a week of guests or an
    earlier fault among them does not raise the bar, and high enough that the ordinary
    night-to-night wobble of fridge and freezer cycles (±10 W) stays below it plus ``rise_w``.
    """

    night_start: int = 1
    night_end: int = 5
    resolution_s: int = SECONDS_PER_HOUR
    baseline_nights: int = 7
    reference_nights: int = 28
    min_reference_nights: int = 7
    reference_quantile: float = 0.35
    rise_w: float = 20.0
    confirm_nights: int = 2
    alert_above_w: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.night_start < self.night_end <= 24:
            raise ValueError("the night window must lie within one day")
        if self.confirm_nights < 1 or self.min_reference_nights < 1:
            raise ValueError("at least one night is needed")
        if self.reference_nights < self.min_reference_nights:
            raise ValueError("reference_nights must be at least min_reference_nights")
        if not 0 <= self.reference_quantile <= 1:
            raise ValueError("reference_quantile is a fraction")

    @classmethod
    def for_sensitivity(
        cls, sensitivity: Sensitivity, alert_above_w: float | None = None
    ) -> StandbySettings:
        match sensitivity:
            case Sensitivity.LOW:
                return cls(rise_w=40.0, confirm_nights=3, alert_above_w=alert_above_w)
            case Sensitivity.NORMAL:
                return cls(alert_above_w=alert_above_w)
            case Sensitivity.HIGH:
                return cls(rise_w=10.0, confirm_nights=2, alert_above_w=alert_above_w)


@dataclass(frozen=True, slots=True)
class _Night:
    start: int
    floor_w: float


class StandbyDetector:
    """Night minimum as the always-on baseline, flagged on a lasting rise."""

    kind = DetectorKind.STANDBY

    def __init__(self, context: MeterContext, settings: StandbySettings | None = None) -> None:
        self.context = context
        self.settings = settings or StandbySettings()
        s = self.settings
        self._bins = Binner(s.resolution_s)
        self._nights: deque[_Night] = deque(maxlen=s.reference_nights + s.confirm_nights)
        self._night_start: int | None = None
        self._night_min = math.inf
        self._night_ok = True
        self._flag_reference: float | None = None
        self._flag_since: int | None = None
        self._flag_detected: int | None = None
        self._finding = Finding(self.kind, context.carrier, active=False)

    @property
    def finding(self) -> Finding:
        return self._finding

    @property
    def baseline_w(self) -> float | None:
        """The always-on power in W, or None before the first complete night."""
        if not self._nights:
            return None
        recent = list(self._nights)[-self.settings.baseline_nights :]
        return statistics.median(n.floor_w for n in recent)

    def update(self, t0: float, t1: float, amount: float) -> Finding:
        for start, value in self._bins.add(t0, t1, amount):
            self._on_slot(start, value)
        return self._finding

    def acknowledge(self) -> Finding:
        """The household accepts today's baseline as its new normal ("yes, that's the aquarium")."""
        keep = list(self._nights)[-self.settings.confirm_nights :]
        self._nights.clear()
        self._nights.extend(keep)
        self._flag_reference = self._flag_since = self._flag_detected = None
        self._report()
        return self._finding

    def _on_slot(self, start: int, value: float) -> None:
        s = self.settings
        hour = datetime.fromtimestamp(start, self.context.tz).hour
        in_night = s.night_start <= hour < s.night_end
        if not in_night:
            if self._night_start is not None:
                self._close_night()
            return
        if self._night_start is None:
            self._night_start, self._night_min, self._night_ok = start, math.inf, True
        if math.isnan(value):
            self._night_ok = False
        else:
            self._night_min = min(self._night_min, value * SECONDS_PER_HOUR / s.resolution_s)
        if start + s.resolution_s >= self._night_start + (s.night_end - s.night_start) * 3600:
            self._close_night()

    def _close_night(self) -> None:
        start, floor, ok = self._night_start, self._night_min, self._night_ok
        self._night_start = None
        assert start is not None
        if not ok or not math.isfinite(floor):
            # a night with a gap may have missed the very hour that shows the floor
            return
        self._nights.append(_Night(start, floor * 1000.0))
        self._judge()
        self._report()

    def _judge(self) -> None:
        s = self.settings
        nights = list(self._nights)
        latest = nights[-1].floor_w
        if self._flag_reference is not None:
            if latest < self._flag_reference + s.rise_w / 2:
                self._flag_reference = self._flag_since = self._flag_detected = None
            return
        if len(nights) < s.confirm_nights + s.min_reference_nights:
            return
        recent = nights[-s.confirm_nights :]
        reference = _quantile(
            sorted(n.floor_w for n in nights[: -s.confirm_nights]), s.reference_quantile
        )
        if all(n.floor_w >= reference + s.rise_w for n in recent):
            self._flag_reference = reference
            self._flag_since = recent[0].start
            self._flag_detected = recent[-1].start + (s.night_end - s.night_start) * 3600

    def _report(self) -> None:
        s = self.settings
        baseline = self.baseline_w
        if baseline is None:
            self._finding = Finding(self.kind, self.context.carrier, active=False)
            return
        recent = [n.floor_w for n in list(self._nights)[-s.confirm_nights :]]
        over_limit = (
            s.alert_above_w is not None
            and len(recent) == s.confirm_nights
            and min(recent) > s.alert_above_w
        )
        risen = self._flag_reference is not None
        if risen:
            # the week's median still remembers the nights before the rise; show today's level
            baseline = statistics.median(recent)
        kwh_month = baseline / 1000 * 24 * 365.25 / 12
        evidence = {"baseline_w": baseline, "nights": float(len(self._nights))}
        reason = (
            f"Your home never draws less than about {baseline:.0f} W at night: "
            f"{kwh_month:.0f} kWh a month that something uses around the clock."
        )
        since: int | None = None
        detected: int | None = None
        if risen:
            assert self._flag_reference is not None
            rise = statistics.median(recent) - self._flag_reference
            evidence |= {"reference_w": self._flag_reference, "rise_w": rise}
            since, detected = self._flag_since, self._flag_detected
            assert since is not None
            reason += (
                f" That is {rise:.0f} W more than usual since the night of "
                f"{self.context.when(since)[:10]}: something new stays on."
            )
        elif over_limit:
            assert s.alert_above_w is not None
            evidence["limit_w"] = s.alert_above_w
            since = list(self._nights)[-s.confirm_nights].start
            reason += f" That is above your limit of {s.alert_above_w:.0f} W."
        self._finding = Finding(
            self.kind,
            self.context.carrier,
            active=risen or over_limit,
            rate_per_hour=baseline / 1000,
            since=_dt(since) if since is not None else None,
            detected_at=_dt(detected) if detected is not None else None,
            price_per_unit=self.context.price_per_unit,
            reason=reason,
            evidence=evidence,
        )


def _quantile(ordered: list[float], q: float) -> float:
    """Linear-interpolated quantile of a sorted, non-empty list (numpy's default method)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
