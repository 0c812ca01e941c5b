"""Heat: energy flowing while nothing asks for it.

A heat meter that keeps counting on a warm day (or while the thermostat is satisfied) points at a
valve stuck open, a bypass, or radiators heating an empty flat. Demand is either told directly
(the thermostat is calling for heat) or inferred from the outdoor temperature: above the heating
limit, a home needs no space heating.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from balance_analytics.carriers import SECONDS_PER_HOUR

from .base import Binner, DetectorKind, Finding, HeatingWeather, MeterContext, Sensitivity
from .base import utc_datetime as _dt


@dataclass(frozen=True, slots=True)
class HeatWithoutDemandSettings:
    """``hours`` consecutive hours above ``min_per_hour`` (kWh) without demand raise the alarm.

    Without an explicit demand signal, there is no demand while the heating temperature (recent
    days' weighted mean, see ``HeatingWeather``) is at or above ``heating_limit_c``. Buildings stop
    heating at 14-17 °C of the day's mean, but the detector knows the day only up to now and a
    cold morning in a warm spell still heats; 18 °C leaves that margin.
    """

    hours: int = 6
    min_per_hour: float = 0.2
    heating_limit_c: float = 18.0

    @classmethod
    def for_sensitivity(cls, sensitivity: Sensitivity) -> HeatWithoutDemandSettings:
        match sensitivity:
            case Sensitivity.LOW:
                return cls(hours=12, min_per_hour=0.5)
            case Sensitivity.NORMAL:
                return cls()
            case Sensitivity.HIGH:
                return cls(hours=3, min_per_hour=0.1)


class HeatWithoutDemandDetector:
    """Heat flow for hours while there is no heating demand."""

    kind = DetectorKind.HEAT_WITHOUT_DEMAND

    def __init__(
        self, context: MeterContext, settings: HeatWithoutDemandSettings | None = None
    ) -> None:
        self.context = context
        self.settings = settings or HeatWithoutDemandSettings()
        self._bins = Binner(SECONDS_PER_HOUR)
        self._weather = HeatingWeather()
        self._demand: bool | None = None
        self._run: list[float] = []
        self._run_start: int | None = None
        self._finding = Finding(self.kind, context.carrier, active=False)

    @property
    def finding(self) -> Finding:
        return self._finding

    def update(
        self,
        t0: float,
        t1: float,
        amount: float,
        *,
        outdoor_temp_c: float | None = None,
        demand: bool | None = None,
    ) -> Finding:
        """``demand``: whether a thermostat calls for heat now; ``None`` when it is not known."""
        self._demand = demand
        for hour, value in self._bins.add(t0, t1, amount):
            if outdoor_temp_c is not None:
                self._weather.add(outdoor_temp_c)
            self._on_hour(hour, value)
        return self._finding

    def _no_demand(self) -> bool | None:
        if self._demand is not None:
            return not self._demand
        temperature = self._weather.value
        if temperature is None:
            return None
        return temperature >= self.settings.heating_limit_c

    def _on_hour(self, hour: int, value: float) -> None:
        s = self.settings
        idle = self._no_demand()
        if not idle or math.isnan(value) or value <= s.min_per_hour:
            self._run, self._run_start = [], None
            evidence = {} if idle is not None else {"demand_unknown": 1.0}
            self._finding = Finding(
                self.kind, self.context.carrier, active=False, evidence=evidence
            )
            return
        if self._run_start is None:
            self._run_start = hour
        self._run.append(value)
        if len(self._run) < s.hours:
            return
        rate = statistics.fmean(self._run)
        since = self._run_start
        temperature = self._weather.value
        temps = "" if temperature is None else f", recent outdoor mean {temperature:.0f} °C"
        self._finding = Finding(
            self.kind,
            self.context.carrier,
            active=True,
            rate_per_hour=rate,
            since=_dt(since),
            detected_at=self._finding.detected_at or _dt(since + s.hours * SECONDS_PER_HOUR),
            price_per_unit=self.context.price_per_unit,
            reason=(
                f"Heat has flowed for {len(self._run)} h since {self.context.when(since)} "
                f"(about {rate:.2f} kWh an hour) with no heating demand{temps}."
            ),
            evidence={"hours": float(len(self._run)), "mean_kwh_per_hour": rate},
        )
