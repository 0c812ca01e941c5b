"""One meter's analytics: its readings, detectors, tariff totals and the figures derived from them.

A meter is a *source*: the entity id of a cumulative sensor (kWh or m³, DMesh's or any other) and
its carrier, or a power sensor whose readings are integrated into energy. Everything here is
plain Python over the ``balance_analytics`` library; the manager wires it to Home Assistant.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter, VolumeConverter

from balance_analytics import (
    Carrier,
    DetectorKind,
    Equivalents,
    Finding,
    Indicators,
    MeterContext,
    MeterJournal,
    MeterMonitor,
    MonthForecast,
    PeriodTotal,
    SavingsReport,
    TariffAccumulator,
    compare_with_average,
    equivalents,
    forecast_month,
    same_month_last_year,
    savings_since,
)
from balance_analytics.series import month_bounds

from .settings import AnalyticsSettings

_LOGGER = logging.getLogger(__name__)

REPLAY_HOURS = 36 * 24
"""The longest memory a detector has: the standby rule looks at 7 + 28 nights."""
MAX_POWER_STEP_S = 900.0
"""A power reading older than this is not trusted to have held since: the gap stays unknown."""


@dataclass(frozen=True, slots=True)
class MeterSource:
    """A meter the analytics watch.

    ``entity_id`` is set for meters already in Home Assistant; a DMesh meter's total sensor is
    found at start-up from ``total_unique_id``. ``power`` marks a power sensor (W, kW).
    """

    key: str
    carrier: Carrier
    name: str
    device: DeviceInfo
    entity_id: str | None = None
    total_unique_id: str | None = None
    power: bool = False

    def value_of(self, state: State | None) -> float | None:
        """The reading in the library's unit (kWh, m³, or kW for power), None if unusable."""
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return None
        try:
            value = float(state.state)
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        unit = state.attributes.get("unit_of_measurement")
        try:
            if self.power:
                return PowerConverter.convert(value, unit, "kW")
            if self.carrier in (Carrier.ELECTRICITY, Carrier.HEAT):
                return EnergyConverter.convert(value, unit, "kWh")
            return VolumeConverter.convert(value, unit, "m³")
        except HomeAssistantError:  # a unit the converter does not know
            _LOGGER.debug("%s: cannot convert %s %s", self.key, value, unit)
            return None


@dataclass(slots=True)
class Derived:
    """Figures recomputed once an hour: none of them moves faster than the hourly data."""

    month_so_far: float = 0.0
    forecast: MonthForecast | None = None
    last_year: PeriodTotal | None = None
    savings: SavingsReport | None = None
    month_equivalents: Equivalents | None = None
    indicators: Indicators | None = None


@dataclass(slots=True)
class PowerIntegral:
    """A power sensor as a growing energy total (the left Riemann sum HA's integration uses)."""

    total: float = 0.0
    last_time: float | None = None
    last_kw: float | None = None

    def add(self, t: float, kw: float) -> float | None:
        if self.last_time is not None and self.last_kw is not None and t > self.last_time:
            if t - self.last_time <= MAX_POWER_STEP_S:
                self.total += max(self.last_kw, 0.0) * (t - self.last_time) / 3600
            else:
                # too long without a reading: let the journal see a gap, not a guess
                self.last_time, self.last_kw = t, kw
                return None
        if self.last_time is None or t >= self.last_time:
            self.last_time, self.last_kw = t, kw
        return self.total


@dataclass(slots=True)
class MeterAnalytics:
    source: MeterSource
    settings: AnalyticsSettings
    tz: tzinfo
    entity_id: str | None = None
    journal: MeterJournal = field(default_factory=MeterJournal)
    tariffs: TariffAccumulator | None = None
    power: PowerIntegral | None = None
    monitor: MeterMonitor | None = None
    derived: Derived = field(default_factory=Derived)

    def __post_init__(self) -> None:
        self.entity_id = self.source.entity_id
        # a meter reading entered in the options is a step of the total, not consumption
        self.journal.max_rate_per_h = self.carrier.max_rate_per_hour
        if (plan := self.settings.plan(self.carrier, self.tz)) is not None:
            self.tariffs = TariffAccumulator(plan)
        if self.source.power:
            self.power = PowerIntegral()

    @property
    def carrier(self) -> Carrier:
        return self.source.carrier

    @property
    def key(self) -> str:
        return self.source.key

    def context(self, now: float) -> MeterContext:
        price = self.tariffs.price_now(now) if self.tariffs is not None else None
        return MeterContext(self.carrier, self.tz, price)

    def rebuild_monitor(self, now: float) -> None:
        """A fresh monitor that has seen the journal: what a restart or new settings need."""
        meter = self.settings.meter(self.key)
        self.monitor = MeterMonitor(
            self.context(now),
            meter.sensitivity,
            gas_heats_home=self.settings.gas_heats_home,
            standby_limit_w=meter.standby_limit_w,
        )
        self.journal.replay_into(self.monitor, REPLAY_HOURS)

    def read(
        self,
        t: float,
        value: float,
        *,
        outdoor_temp_c: float | None = None,
        demand: bool | None = None,
    ) -> tuple[float, float, float] | None:
        """One reading (a total, or a power for power sources); the interval it closes."""
        if self.power is not None:
            total = self.power.add(t, value)
            if total is None:
                self.journal.restart(t, self.power.total)
                return None
            value = total
        interval = self.journal.reading(t, value)
        if interval is None:
            return None
        if self.monitor is not None:
            self.monitor.update(*interval, outdoor_temp_c=outdoor_temp_c, demand=demand)
        if self.tariffs is not None:
            self.tariffs.add(*interval)
        return interval

    @property
    def findings(self) -> dict[DetectorKind, Finding]:
        return {} if self.monitor is None else self.monitor.findings

    def refresh(self, now: float) -> None:
        series = self.journal.series()
        start, _ = month_bounds(now, self.tz)
        so_far = series.total(start, now)
        if (part := self.journal.running_hour) is not None and part[0] >= start:
            so_far += part[1]
        forecast = forecast_month(series, now, self.tz)
        since = self.settings.savings_start(self.tz)
        average = self.settings.building_averages.get(self.carrier)
        own = forecast.total if forecast is not None else None
        self.derived = Derived(
            month_so_far=so_far,
            forecast=forecast,
            last_year=same_month_last_year(series, now, self.tz),
            savings=savings_since(series, since, now, self.tz) if since is not None else None,
            month_equivalents=equivalents(
                self.carrier, so_far, max((now - start) / 86400, 1 / 24), self.settings.factors
            ),
            indicators=(
                compare_with_average(own, average)
                if own is not None and average is not None
                else None
            ),
        )

    # -- persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "journal": self.journal.to_dict(),
            "tariffs": self.tariffs.to_dict() if self.tariffs is not None else None,
            "power": (
                None
                if self.power is None
                else {"total": self.power.total, "last_time": self.power.last_time}
            ),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from a saved state; a part that cannot be read starts afresh (and says so)."""
        try:
            self.journal = MeterJournal.from_dict(
                data["journal"], max_rate_per_h=self.carrier.max_rate_per_hour
            )
        except (KeyError, TypeError, ValueError) as err:
            _LOGGER.warning("%s: saved readings unusable (%s); starting afresh", self.key, err)
        if self.tariffs is not None and data.get("tariffs"):
            try:
                self.tariffs = TariffAccumulator.from_dict(self.tariffs.plan, data["tariffs"])
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning("%s: saved tariff totals unusable (%s)", self.key, err)
        if self.power is not None and (power := data.get("power")):
            self.power = PowerIntegral(float(power["total"]), power.get("last_time"))
