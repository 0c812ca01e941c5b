"""Meter totals (Energy dashboard), derived power and flow, module health and room sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfVolume,
    UnitOfVolumeFlowRate,
)
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from dmesh_lib import MeterKind
from dmesh_lib.messages import ModuleType, SensorKind

from ..const import BACKFILL_AFTER, module_key
from .coordinator import BalanceCoordinator, MeterData, ModuleData
from .entity import BalanceEntity, module_platform

BATTERY_TYPES = (ModuleType.D100FC, ModuleType.SENSOR, ModuleType.VALVE)


@dataclass(frozen=True, kw_only=True)
class ModuleSensorDescription(SensorEntityDescription):
    value_fn: Callable[[ModuleData], StateType | datetime]
    exists_fn: Callable[[ModuleData], bool] = lambda _: True


@dataclass(frozen=True, kw_only=True)
class MeterSensorDescription(SensorEntityDescription):
    value_fn: Callable[[MeterData], float | None]


def _sensor(kind: SensorKind) -> Callable[[ModuleData], StateType]:
    def value(module: ModuleData) -> StateType:
        v = module.sensors.get(kind)
        return None if v is None else round(float(v), 1)

    return value


MODULE_SENSORS: tuple[ModuleSensorDescription, ...] = (
    ModuleSensorDescription(
        key="battery",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: m.health.battery_pct if m.health else None,
        exists_fn=lambda m: m.info.module_type in BATTERY_TYPES,
    ),
    ModuleSensorDescription(
        key="battery_voltage",
        translation_key="battery_voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.MILLIVOLT,
        suggested_unit_of_measurement=UnitOfElectricPotential.VOLT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda m: m.health.battery_mv if m.health else None,
        exists_fn=lambda m: m.info.module_type in BATTERY_TYPES,
    ),
    ModuleSensorDescription(
        key="rssi",
        translation_key="rssi",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda m: m.health.rssi if m.health else None,
    ),
    ModuleSensorDescription(
        key="lqi",
        translation_key="lqi",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda m: m.health.lqi if m.health else None,
    ),
    ModuleSensorDescription(
        key="hop",
        translation_key="hop",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: m.info.hop,
    ),
    ModuleSensorDescription(
        key="parent",
        translation_key="parent",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda m: module_key(m.info.parent) if m.info.parent else "concentrator",
    ),
    ModuleSensorDescription(
        key="last_seen",
        translation_key="last_seen",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda m: m.last_seen,
    ),
    ModuleSensorDescription(
        key="temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_sensor(SensorKind.TEMPERATURE),
        exists_fn=lambda m: SensorKind.TEMPERATURE in m.info.sensors.kinds(),
    ),
    ModuleSensorDescription(
        key="humidity",
        device_class=SensorDeviceClass.HUMIDITY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_sensor(SensorKind.HUMIDITY),
        exists_fn=lambda m: SensorKind.HUMIDITY in m.info.sensors.kinds(),
    ),
)

TOTALS: dict[MeterKind, MeterSensorDescription] = {
    MeterKind.ELECTRICITY: MeterSensorDescription(
        key="total",
        translation_key="electricity_total",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=lambda m: m.total,
    ),
    MeterKind.HEAT: MeterSensorDescription(
        key="total",
        translation_key="heat_total",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=lambda m: m.total,
    ),
    MeterKind.WATER: MeterSensorDescription(
        key="total",
        translation_key="water_total",
        device_class=SensorDeviceClass.WATER,
        native_unit_of_measurement=UnitOfVolume.CUBIC_METERS,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=lambda m: m.total,
    ),
    MeterKind.GAS: MeterSensorDescription(
        key="total",
        translation_key="gas_total",
        device_class=SensorDeviceClass.GAS,
        native_unit_of_measurement=UnitOfVolume.CUBIC_METERS,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=lambda m: m.total,
    ),
}

_POWER = MeterSensorDescription(
    key="power",
    device_class=SensorDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.KILO_WATT,
    suggested_unit_of_measurement=UnitOfPower.WATT,
    state_class=SensorStateClass.MEASUREMENT,
    value_fn=lambda m: m.rate,
)
_FLOW = MeterSensorDescription(
    key="flow",
    translation_key="flow",
    device_class=SensorDeviceClass.VOLUME_FLOW_RATE,
    native_unit_of_measurement=UnitOfVolumeFlowRate.CUBIC_METERS_PER_HOUR,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=3,
    value_fn=lambda m: m.rate,
)
RATES: dict[MeterKind, MeterSensorDescription] = {
    MeterKind.ELECTRICITY: _POWER,
    MeterKind.HEAT: _POWER,
    MeterKind.WATER: _FLOW,
    MeterKind.GAS: _FLOW,
}


def _entities(coordinator: BalanceCoordinator, module: ModuleData) -> list[SensorEntity]:
    entities: list[SensorEntity] = [
        ModuleSensor(coordinator, module, d) for d in MODULE_SENSORS if d.exists_fn(module)
    ]
    for channel, meter in module.meters.items():
        if meter.config is None or meter.kind is MeterKind.UNKNOWN:
            continue
        entities.append(MeterTotalSensor(coordinator, module, TOTALS[meter.kind], channel))
        entities.append(MeterSensor(coordinator, module, RATES[meter.kind], channel))
    return entities


async_setup_entry = module_platform(_entities)


class ModuleSensor(BalanceEntity, SensorEntity):
    entity_description: ModuleSensorDescription

    @property
    def native_value(self) -> StateType | datetime:
        return self.entity_description.value_fn(self.module)


class MeterSensor(BalanceEntity, SensorEntity):
    entity_description: MeterSensorDescription

    @property
    def meter(self) -> MeterData:
        assert self.channel is not None
        return self.module.meters[self.channel]

    @property
    def native_value(self) -> float | None:
        return self.entity_description.value_fn(self.meter)


@dataclass
class MeterExtraStoredData(SensorExtraStoredData):
    """The sensor's value plus the totalizer, so a restart continues the count exactly."""

    totalizer: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        data["totalizer"] = self.totalizer
        return data

    @classmethod
    def from_dict(cls, restored: dict[str, Any]) -> Self | None:
        sensor = SensorExtraStoredData.from_dict(restored)
        if sensor is None:
            return None
        return cls(
            sensor.native_value, sensor.native_unit_of_measurement, restored.get("totalizer")
        )


class MeterTotalSensor(MeterSensor, RestoreSensor):
    """The meter's reading: what the dial shows, in kWh or m³, never decreasing."""

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        restored: dict[str, Any] | None = None
        if (last := await self.async_get_last_extra_data()) is not None:
            extra = MeterExtraStoredData.from_dict(last.as_dict())
            if extra is not None:
                restored = extra.totalizer
        meter = self.meter
        meter.entity_id = self.entity_id
        self.coordinator.configure_meter(meter, restored)
        # Hours the meter was silent (HA stopped, radio out of reach) are in the module's backlog.
        last_ts = restored.get("last_ts") if restored is not None else None
        if last_ts is not None and (
            dt_util.utcnow().timestamp() - last_ts > BACKFILL_AFTER.total_seconds()
        ):
            self.coordinator.request_backfill(meter.serial, meter.channel, int(last_ts) // 3600)

    @property
    def extra_restore_state_data(self) -> MeterExtraStoredData:
        meter = self.meter
        totalizer = meter.totalizer
        state: dict[str, Any] | None = None
        if totalizer is not None:
            config = totalizer.config
            state = {
                "kind": int(config.kind),
                "pulses_per_unit": config.pulses_per_unit,
                "initial_reading": config.initial_reading,
                "initial_counter": config.initial_counter,
                "last_counter": totalizer.last_counter,
                "pulses": totalizer.pulses,
                "last_ts": meter.last_ts,
                "configured_reading": meter.config.initial_reading if meter.config else None,
            }
        return MeterExtraStoredData(self.native_value, self.native_unit_of_measurement, state)
