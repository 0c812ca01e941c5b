"""Household analytics settings: what the options flow stores and what the analytics need.

The options live under ``entry.options["analytics"]`` for DMesh and "existing meters" entries
alike, so both kinds of entry read them the same way. Text fields (prices, windows) are parsed by
the library's own parsers; the options flow refuses what they refuse, so a stored setting is valid.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Final

from balance_analytics import (
    DEFAULT_FACTORS,
    Carrier,
    ContractPower,
    ConversionFactors,
    PriceSchedule,
    Sensitivity,
    TariffPlan,
    TariffZone,
    TimeWindow,
)

_LOGGER = logging.getLogger(__name__)

CONF_ANALYTICS: Final = "analytics"
CONF_SENSITIVITY: Final = "sensitivity"
CONF_STANDBY_LIMIT_W: Final = "standby_limit_w"
CONF_NIGHT_PRICE: Final = "night_price"
CONF_NIGHT_WINDOW: Final = "night_window"
CONF_PEAK_PRICE: Final = "peak_price"
CONF_PEAK_WINDOW: Final = "peak_window"
CONF_CONTRACT_KW: Final = "contract_power_kw"
CONF_PENALTY_PRICE: Final = "penalty_price"
CONF_CALORIFIC: Final = "calorific_value"
CONF_SAVINGS_SINCE: Final = "savings_since"
CONF_GAS_HEATS_HOME: Final = "gas_heats_home"
CONF_OUTDOOR_ENTITY: Final = "outdoor_temperature_entity"
CONF_DEMAND_ENTITY: Final = "heat_demand_entity"
CONF_METER_SETTINGS: Final = "meter_settings"

PRICE_KEYS: Final = {c: f"price_{c.value}" for c in Carrier}
BUDGET_KEYS: Final = {c: f"budget_{c.value}" for c in Carrier}
AVERAGE_KEYS: Final = {c: f"building_average_{c.value}" for c in Carrier}
CO2_KEYS: Final = {c: f"co2_{c.value}" for c in Carrier}


@dataclass(frozen=True, slots=True)
class MeterSettings:
    sensitivity: Sensitivity = Sensitivity.NORMAL
    standby_limit_w: float | None = None


@dataclass(frozen=True, slots=True)
class AnalyticsSettings:
    prices: dict[Carrier, str] = field(default_factory=dict)
    night_price: str | None = None
    night_window: str = "23:00-07:00"
    peak_price: str | None = None
    peak_window: str | None = None
    contract_power_kw: float | None = None
    penalty_price: float | None = None
    budgets: dict[Carrier, float] = field(default_factory=dict)
    building_averages: dict[Carrier, float] = field(default_factory=dict)
    factors: ConversionFactors = DEFAULT_FACTORS
    savings_since: date | None = None
    gas_heats_home: bool = False
    outdoor_entity: str | None = None
    """A temperature sensor or weather entity: tells the heating season for gas and heat."""
    demand_entity: str | None = None
    """A climate entity (heating now?) or binary sensor (on = heat wanted)."""
    meters: dict[str, MeterSettings] = field(default_factory=dict)

    def meter(self, key: str) -> MeterSettings:
        return self.meters.get(key, MeterSettings())

    def savings_start(self, tz: tzinfo) -> float | None:
        if self.savings_since is None:
            return None
        d = self.savings_since
        return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()

    def plan(self, carrier: Carrier, tz: tzinfo) -> TariffPlan | None:
        """The carrier's tariff, or None without a price (money then stays unknown)."""
        return tariff_plan(self, carrier, tz) if carrier in self.prices else None


def tariff_plan(settings: AnalyticsSettings, carrier: Carrier, tz: tzinfo) -> TariffPlan:
    """Raises ValueError on a bad price or window: the options flow shows it to the user."""
    price = settings.prices[carrier]
    base = PriceSchedule.parse(price)
    if carrier is not Carrier.ELECTRICITY:
        return TariffPlan.flat(base, tz)
    zones: list[TariffZone] = []
    if settings.peak_price and settings.peak_window:
        windows = tuple(TimeWindow.parse(w) for w in settings.peak_window.split(";") if w.strip())
        zones.append(TariffZone("peak", PriceSchedule.parse(settings.peak_price), windows))
    if settings.night_price:
        windows = (TimeWindow.parse(settings.night_window),)
        zones.append(TariffZone("night", PriceSchedule.parse(settings.night_price), windows))
    zones.append(TariffZone("day" if zones else "base", base))
    contract = None
    if settings.contract_power_kw and settings.penalty_price is not None:
        contract = ContractPower(settings.contract_power_kw, settings.penalty_price)
    return TariffPlan(tuple(zones), tz, contract)


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def parse_settings(options: Mapping[str, Any]) -> AnalyticsSettings:
    """Settings from ``entry.options``; raises ValueError on what the library refuses."""
    raw: Mapping[str, Any] = options.get(CONF_ANALYTICS, {})
    factors = ConversionFactors(
        gas_kwh_per_m3=_float(raw.get(CONF_CALORIFIC)) or DEFAULT_FACTORS.gas_kwh_per_m3,
        co2_kg_per_kwh_electricity=_float(raw.get(CO2_KEYS[Carrier.ELECTRICITY]))
        or DEFAULT_FACTORS.co2_kg_per_kwh_electricity,
        co2_kg_per_kwh_gas=_float(raw.get(CO2_KEYS[Carrier.GAS]))
        or DEFAULT_FACTORS.co2_kg_per_kwh_gas,
        co2_kg_per_kwh_heat=_float(raw.get(CO2_KEYS[Carrier.HEAT]))
        or DEFAULT_FACTORS.co2_kg_per_kwh_heat,
        co2_kg_per_m3_water=_float(raw.get(CO2_KEYS[Carrier.WATER]))
        or DEFAULT_FACTORS.co2_kg_per_m3_water,
    )
    since = raw.get(CONF_SAVINGS_SINCE)
    meters = {
        key: MeterSettings(
            Sensitivity(value.get(CONF_SENSITIVITY, Sensitivity.NORMAL)),
            _float(value.get(CONF_STANDBY_LIMIT_W)),
        )
        for key, value in raw.get(CONF_METER_SETTINGS, {}).items()
    }
    return AnalyticsSettings(
        prices={c: str(raw[k]).strip() for c, k in PRICE_KEYS.items() if raw.get(k)},
        night_price=raw.get(CONF_NIGHT_PRICE) or None,
        night_window=raw.get(CONF_NIGHT_WINDOW) or "23:00-07:00",
        peak_price=raw.get(CONF_PEAK_PRICE) or None,
        peak_window=raw.get(CONF_PEAK_WINDOW) or None,
        contract_power_kw=_float(raw.get(CONF_CONTRACT_KW)),
        penalty_price=_float(raw.get(CONF_PENALTY_PRICE)),
        budgets={c: v for c, k in BUDGET_KEYS.items() if (v := _float(raw.get(k))) is not None},
        building_averages={
            c: v for c, k in AVERAGE_KEYS.items() if (v := _float(raw.get(k))) is not None
        },
        factors=factors,
        savings_since=date.fromisoformat(since) if since else None,
        gas_heats_home=bool(raw.get(CONF_GAS_HEATS_HOME, False)),
        outdoor_entity=raw.get(CONF_OUTDOOR_ENTITY) or None,
        demand_entity=raw.get(CONF_DEMAND_ENTITY) or None,
        meters=meters,
    )


def settings_error(options: Mapping[str, Any], tz: tzinfo) -> str | None:
    """The translation key of what is wrong with these options, or None."""
    try:
        settings = parse_settings(options)
        for carrier in settings.prices:
            tariff_plan(settings, carrier, tz)
    except (ValueError, TypeError, AttributeError) as err:
        _LOGGER.debug("Refused analytics settings: %s", err)
        return "invalid_tariff"
    return None
