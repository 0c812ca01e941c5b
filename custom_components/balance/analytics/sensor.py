"""Standby ("energy vampires"), forecast, last year, savings, CO₂, trees and tariff totals.

Tariff totals only grow (the library's ``TariffAccumulator``) and are kept in the manager's
store, so the Energy dashboard can take a cost sensor as "an entity tracking the total costs".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy, UnitOfMass, UnitOfPower, UnitOfVolume
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from balance_analytics import Carrier, DetectorKind, Finding

from .entity import AnalyticsEntity
from .manager import AnalyticsManager
from .meter import MeterAnalytics

Attributes = dict[str, str | float | bool | None]
UNITS = {
    Carrier.ELECTRICITY: UnitOfEnergy.KILO_WATT_HOUR,
    Carrier.HEAT: UnitOfEnergy.KILO_WATT_HOUR,
    Carrier.WATER: UnitOfVolume.CUBIC_METERS,
    Carrier.GAS: UnitOfVolume.CUBIC_METERS,
}
DEVICE_CLASSES = {
    Carrier.ELECTRICITY: SensorDeviceClass.ENERGY,
    Carrier.HEAT: SensorDeviceClass.ENERGY,
    Carrier.WATER: SensorDeviceClass.WATER,
    Carrier.GAS: SensorDeviceClass.GAS,
}
MONEY = "money"
"""Stands for the currency in a description: HA's configured currency fills it in."""
CONSUMPTION = "consumption"
"""Stands for the meter's own unit (kWh or m³) in a description."""


def _standby(meter: MeterAnalytics) -> Finding | None:
    finding = meter.findings.get(DetectorKind.STANDBY)
    return finding if finding is not None and finding.rate_per_hour > 0 else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, kw_only=True)
class AnalyticsSensorDescription(SensorEntityDescription):
    value_fn: Callable[[MeterAnalytics], float | None]
    attrs_fn: Callable[[MeterAnalytics], Attributes] = lambda _: {}
    exists_fn: Callable[[MeterAnalytics], bool] = lambda _: True
    unit: str | None = None


def _forecast_attrs(meter: MeterAnalytics) -> Attributes:
    forecast = meter.derived.forecast
    budget = meter.settings.budgets.get(meter.carrier)
    attrs: Attributes = {"budget": budget}
    if forecast is not None:
        attrs |= {
            "used_so_far": round(forecast.used_so_far, 3),
            "filled_gaps": round(forecast.filled_gaps, 3),
            "expected_rest": round(forecast.expected_rest, 3),
            "coverage": round(forecast.coverage, 3),
            "over_budget": budget is not None and forecast.total > budget,
        }
    return attrs


def _savings_attrs(meter: MeterAnalytics) -> Attributes:
    report = meter.derived.savings
    if report is None:
        return {"since": str(meter.settings.savings_since)}
    return {
        "since": report.since.isoformat(),
        "days": report.days,
        "expected": round(report.expected, 3),
        "actual": round(report.actual, 3),
        "method": report.method.value,
        "saved_fraction": _round(report.saved_fraction),
    }


def _co2_attrs(meter: MeterAnalytics) -> Attributes:
    eq = meter.derived.month_equivalents
    if eq is None:
        return {}
    return {"kwh": _round(eq.kwh), "gas_m3": _round(eq.gas_m3), "gcal": _round(eq.gcal, 4)}


def _comparison_attrs(meter: MeterAnalytics) -> Attributes:
    indicators = meter.derived.indicators
    return {
        "building_average": meter.settings.building_averages.get(meter.carrier),
        "efficiency": None if indicators is None else _round(indicators.efficiency),
        "efficiency_basis": None if indicators is None else indicators.efficiency_basis,
    }


def _equivalent(meter: MeterAnalytics, attr: str) -> float | None:
    eq = meter.derived.month_equivalents
    return None if eq is None else _round(getattr(eq, attr), 2)


METER_SENSORS: tuple[AnalyticsSensorDescription, ...] = (
    AnalyticsSensorDescription(
        key="standby_power",
        translation_key="standby_power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda m: _round(f.power_w, 1) if (f := _standby(m)) else None,
        attrs_fn=lambda m: {"reason": f.reason} if (f := _standby(m)) else {},
        exists_fn=lambda m: m.carrier is Carrier.ELECTRICITY,
    ),
    AnalyticsSensorDescription(
        key="standby_energy_month",
        translation_key="standby_energy_month",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=1,
        value_fn=lambda m: _round(f.loss_per_month) if (f := _standby(m)) else None,
        exists_fn=lambda m: m.carrier is Carrier.ELECTRICITY,
    ),
    AnalyticsSensorDescription(
        key="standby_cost_month",
        translation_key="standby_cost_month",
        device_class=SensorDeviceClass.MONETARY,
        unit=MONEY,
        suggested_display_precision=2,
        value_fn=lambda m: _round(f.cost_per_month, 2) if (f := _standby(m)) else None,
        exists_fn=lambda m: m.carrier is Carrier.ELECTRICITY and m.tariffs is not None,
    ),
    AnalyticsSensorDescription(
        key="consumption_month",
        translation_key="consumption_month",
        unit=CONSUMPTION,
        suggested_display_precision=3,
        value_fn=lambda m: _round(m.derived.month_so_far),
    ),
    AnalyticsSensorDescription(
        key="forecast_month",
        translation_key="forecast_month",
        unit=CONSUMPTION,
        suggested_display_precision=2,
        value_fn=lambda m: _round(f.total) if (f := m.derived.forecast) else None,
        attrs_fn=_forecast_attrs,
    ),
    AnalyticsSensorDescription(
        key="last_year_month",
        translation_key="last_year_month",
        unit=CONSUMPTION,
        suggested_display_precision=2,
        value_fn=lambda m: _round(p.total) if (p := m.derived.last_year) else None,
    ),
    AnalyticsSensorDescription(
        key="savings",
        translation_key="savings",
        unit=CONSUMPTION,
        suggested_display_precision=2,
        value_fn=lambda m: _round(r.saved) if (r := m.derived.savings) else None,
        attrs_fn=_savings_attrs,
        exists_fn=lambda m: m.settings.savings_since is not None,
    ),
    AnalyticsSensorDescription(
        key="vs_building_average",
        translation_key="vs_building_average",
        native_unit_of_measurement="%",
        suggested_display_precision=0,
        value_fn=lambda m: (
            _round(i.consumption_percent, 1) if (i := m.derived.indicators) else None
        ),
        attrs_fn=_comparison_attrs,
        exists_fn=lambda m: m.carrier in m.settings.building_averages,
    ),
    AnalyticsSensorDescription(
        key="co2_month",
        translation_key="co2_month",
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.KILOGRAMS,
        suggested_display_precision=1,
        value_fn=lambda m: _equivalent(m, "co2_kg"),
        attrs_fn=_co2_attrs,
    ),
    AnalyticsSensorDescription(
        key="trees",
        translation_key="trees",
        suggested_display_precision=1,
        value_fn=lambda m: _equivalent(m, "trees_per_year"),
    ),
)


def entities(manager: AnalyticsManager) -> list[SensorEntity]:
    out: list[SensorEntity] = []
    for meter in manager.meters.values():
        out.extend(AnalyticsSensor(manager, d, meter) for d in METER_SENSORS if d.exists_fn(meter))
        if meter.tariffs is not None:
            for zone in meter.tariffs.plan.zone_names:
                out.append(TariffSensor(manager, meter, zone, cost=False))
                out.append(TariffSensor(manager, meter, zone, cost=True))
            out.append(TariffSensor(manager, meter, None, cost=True))
    return out


async def async_setup_entry(
    hass: HomeAssistant,
    manager: AnalyticsManager,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities(entities(manager))


class AnalyticsSensor(AnalyticsEntity, SensorEntity):
    entity_description: AnalyticsSensorDescription
    meter: MeterAnalytics

    def __init__(
        self,
        manager: AnalyticsManager,
        description: AnalyticsSensorDescription,
        meter: MeterAnalytics,
    ) -> None:
        super().__init__(manager, description, meter)
        if description.unit == MONEY:
            self._attr_native_unit_of_measurement = manager.currency
        elif description.unit == CONSUMPTION:
            self._attr_native_unit_of_measurement = UNITS[meter.carrier]
            self._attr_device_class = DEVICE_CLASSES[meter.carrier]

    @property
    def native_value(self) -> float | None:
        return self.entity_description.value_fn(self.meter)

    @property
    def extra_state_attributes(self) -> Attributes:
        return self.entity_description.attrs_fn(self.meter)


class TariffSensor(AnalyticsEntity, SensorEntity):
    """Consumption or cost in one tariff zone (``zone`` None: the cost over all zones)."""

    _attr_state_class = SensorStateClass.TOTAL
    meter: MeterAnalytics

    def __init__(
        self, manager: AnalyticsManager, meter: MeterAnalytics, zone: str | None, *, cost: bool
    ) -> None:
        if zone is None:
            key, translation_key = "cost_total", "cost_total"
        else:
            key = f"tariff_{zone}_{'cost' if cost else 'consumption'}"
            translation_key = "tariff_cost" if cost else "tariff_consumption"
        super().__init__(
            manager, SensorEntityDescription(key=key, translation_key=translation_key), meter
        )
        self.zone = zone
        self.cost = cost
        if zone is not None:
            self._attr_translation_placeholders = {"zone": zone}
        if cost:
            self._attr_device_class = SensorDeviceClass.MONETARY
            self._attr_native_unit_of_measurement = manager.currency
            self._attr_suggested_display_precision = 2
        else:
            self._attr_device_class = DEVICE_CLASSES[meter.carrier]
            self._attr_native_unit_of_measurement = UNITS[meter.carrier]
            self._attr_suggested_display_precision = 3

    @property
    def native_value(self) -> float | None:
        tariffs = self.meter.tariffs
        if tariffs is None:
            return None
        if self.zone is None:
            return round(tariffs.total_cost, 4)
        total = tariffs.totals.get(self.zone)
        if total is None:
            return None
        return round(total.cost if self.cost else total.consumption, 4)
