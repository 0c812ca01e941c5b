"""Gas: a steady flow through the night, night after night.

Nobody cooks between 01:00 and 05:00 every night. A leak of 0.22 m³ a day is 9 L every hour, day and
night, so it shows as a floor under the night that does not go away and stays the same size from
one night to the next. A heating boiler also burns at night, and at hourly resolution a modulating
boiler can look just as steady, ten to fifty times larger than the leak. Where gas also heats the
home, nights in the heating season therefore neither prove nor disprove a leak and are passed over;
the heating season is told by the outdoor temperature of the last days (see ``HeatingWeather``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from balance_analytics.carriers import SECONDS_PER_HOUR

from .base import Binner, DetectorKind, Finding, HeatingWeather, MeterContext, Sensitivity
from .base import utc_datetime as _dt


@dataclass(frozen=True, slots=True)
class NightFlowSettings:
    """A night ``[night_start, night_end)`` (local hours) is steady when it used more than
    ``min_per_hour`` (m³/h) on average and no hour used more than ``1 + flatness`` times that
    average plus one ``quantum``, the meter's pulse (10 L on the usual gas meter): a 9 L/h leak
    counts 0, 1 or 2 pulses an hour, while a burner lit at night puts 50 L and more into one hour.
    ``nights`` steady nights in a row raise the alarm, as long as no night falls below the earlier
    ones by more than a factor ``1 + consistency`` (a flow that fades is not a leak). A night
    above the earlier ones continues the row: a leak that began at 03:00 shows only half of
    itself in its first night.

    ``heating_limit_c``: where gas also heats the home, nights whose heating temperature (recent
    days' weighted mean) is below it, or unknown, are passed over because the boiler may be
    running; ``None`` when gas does not heat this home.
    """

    night_start: int = 1
    night_end: int = 5
    min_per_hour: float = 0.003
    flatness: float = 0.6
    quantum: float = 0.01
    consistency: float = 0.6
    nights: int = 2
    heating_limit_c: float | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.night_start < 24 and 0 < self.night_end <= 24):
            raise ValueError("night hours must be within 0-24")
        if self.night_start >= self.night_end:
            raise ValueError("the night window must not cross midnight (use 0-5, not 22-5)")
        if self.nights < 1:
            raise ValueError("at least one night is needed")

    @classmethod
    def for_sensitivity(
        cls, sensitivity: Sensitivity, heating_limit_c: float | None = None
    ) -> NightFlowSettings:
        match sensitivity:
            case Sensitivity.LOW:
                return cls(nights=3, min_per_hour=0.006, heating_limit_c=heating_limit_c)
            case Sensitivity.NORMAL:
                return cls(heating_limit_c=heating_limit_c)
            case Sensitivity.HIGH:
                return cls(nights=2, min_per_hour=0.0015, heating_limit_c=heating_limit_c)


@dataclass(slots=True)
class _Night:
    start: int
    floor: float


class NightFlowDetector:
    """Constant gas flow through consecutive nights."""

    kind = DetectorKind.GAS_NIGHT_FLOW

    def __init__(self, context: MeterContext, settings: NightFlowSettings | None = None) -> None:
        self.context = context
        self.settings = settings or NightFlowSettings()
        self._bins = Binner(SECONDS_PER_HOUR)
        self._night_values: list[float] = []
        self._night_start: int | None = None
        self._night_date: date | None = None
        self._streak: list[_Night] = []
        self._masked = 0
        self._temperature: float | None = None
        self._weather = HeatingWeather()
        self._heating_possible = False
        self._finding = Finding(self.kind, context.carrier, active=False)

    @property
    def finding(self) -> Finding:
        return self._finding

    def update(
        self, t0: float, t1: float, amount: float, *, outdoor_temp_c: float | None = None
    ) -> Finding:
        if outdoor_temp_c is not None:
            self._temperature = outdoor_temp_c
        for hour, value in self._bins.add(t0, t1, amount):
            if self._temperature is not None:
                self._weather.add(self._temperature)
            self._on_hour(hour, value)
        return self._finding

    def _on_hour(self, hour: int, value: float) -> None:
        s = self.settings
        moment = datetime.fromtimestamp(hour, self.context.tz)
        if not s.night_start <= moment.hour < s.night_end:
            if self._night_start is not None:
                self._close_night()
            return
        if self._night_start is None or moment.date() != self._night_date:
            if self._night_start is not None:
                self._close_night()
            self._night_start = hour
            self._night_date = moment.date()
        self._night_values.append(value)
        if s.heating_limit_c is not None:
            heating_temperature = self._weather.value
            self._heating_possible |= (
                heating_temperature is None or heating_temperature < s.heating_limit_c
            )
        if moment.hour == s.night_end - 1:
            self._close_night()

    def _close_night(self) -> None:
        s = self.settings
        values = self._night_values
        start = self._night_start
        heating = self._heating_possible
        self._night_values, self._night_start, self._heating_possible = [], None, False
        assert start is not None
        # DST nights are an hour shorter or longer; anything else short is missing data, which
        # neither proves nor disproves a leak: the row (and an alarm) carries over the gap
        complete = len(values) >= s.night_end - s.night_start - 1 and not any(
            math.isnan(v) for v in values
        )
        if not complete:
            return
        if heating:
            self._masked += 1
            return
        floor = statistics.fmean(values)
        steady = floor > s.min_per_hour and max(values) <= floor * (1 + s.flatness) + s.quantum
        if not steady:
            self._break_streak()
            return
        if self._streak:
            reference = statistics.median(n.floor for n in self._streak)
            if floor * (1 + s.consistency) < reference:
                self._streak = []
        self._streak.append(_Night(start, floor))
        self._report()

    def _break_streak(self) -> None:
        self._streak = []
        self._masked = 0
        self._finding = Finding(self.kind, self.context.carrier, active=False)

    def _report(self) -> None:
        s = self.settings
        nights = len(self._streak)
        # the latest night is the one a leak has covered completely
        rate = self._streak[-1].floor
        if nights < s.nights:
            self._finding = Finding(
                self.kind,
                self.context.carrier,
                active=False,
                evidence={"steady_nights": float(nights), "night_floor_m3_h": rate},
            )
            return
        since = self._streak[0].start
        last_night_end = self._streak[-1].start + (s.night_end - s.night_start) * SECONDS_PER_HOUR
        first = datetime.fromtimestamp(since, self.context.tz).date()
        last = datetime.fromtimestamp(self._streak[-1].start, self.context.tz).date()
        span_days = (last - first + timedelta(days=1)).days
        self._finding = Finding(
            self.kind,
            self.context.carrier,
            active=True,
            rate_per_hour=rate,
            since=_dt(since),
            detected_at=self._finding.detected_at or _dt(last_night_end),
            price_per_unit=self.context.price_per_unit,
            reason=(
                f"Gas has flowed steadily through {nights} nights in a row since "
                f"{self.context.when(since)}, about {rate * 1000:.0f} L every hour "
                f"({rate * 24:.2f} m³ a day) while nothing should be burning."
            ),
            evidence={
                "steady_nights": float(nights),
                "night_floor_m3_h": rate,
                "days": float(span_days),
                "nights_passed_over_for_heating": float(self._masked),
            },
        )
