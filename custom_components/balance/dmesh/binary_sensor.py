"""Alarms and states as binary sensors: flood, gas, door, phases, neutral, arcing, tamper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.helpers.device_registry import DeviceInfo

from dmesh_lib.messages import ChannelFault, SensorKind

from ..const import DOMAIN
from .coordinator import BalanceCoordinator, MeterData, ModuleData
from .entity import BalanceEntity, module_platform


@dataclass(frozen=True, kw_only=True)
class ModuleBinaryDescription(BinarySensorEntityDescription):
    value_fn: Callable[[ModuleData], bool | None]
    exists_fn: Callable[[ModuleData], bool]


@dataclass(frozen=True, kw_only=True)
class MeterBinaryDescription(BinarySensorEntityDescription):
    value_fn: Callable[[MeterData], bool | None]


def _alarm(kind: SensorKind, invert: bool = False) -> Callable[[ModuleData], bool | None]:
    def value(module: ModuleData) -> bool | None:
        v = module.sensors.get(kind)
        return None if v is None else bool(v) != invert

    return value


def _carries(kind: SensorKind) -> Callable[[ModuleData], bool]:
    return lambda module: kind in module.info.sensors.kinds()


MODULE_BINARY_SENSORS: tuple[ModuleBinaryDescription, ...] = (
    ModuleBinaryDescription(
        key="flood",
        device_class=BinarySensorDeviceClass.MOISTURE,
        value_fn=_alarm(SensorKind.FLOOD),
        exists_fn=_carries(SensorKind.FLOOD),
    ),
    ModuleBinaryDescription(
        key="gas",
        device_class=BinarySensorDeviceClass.GAS,
        value_fn=_alarm(SensorKind.GAS),
        exists_fn=_carries(SensorKind.GAS),
    ),
    ModuleBinaryDescription(
        key="door",
        device_class=BinarySensorDeviceClass.DOOR,
        value_fn=_alarm(SensorKind.DOOR),
        exists_fn=_carries(SensorKind.DOOR),
    ),
    *(
        ModuleBinaryDescription(
            key=f"phase_{phase.name[-2:].lower()}",
            translation_key=f"phase_{phase.name[-2:].lower()}",
            device_class=BinarySensorDeviceClass.POWER,
            value_fn=_alarm(phase),
            exists_fn=_carries(phase),
        )
        for phase in (SensorKind.PHASE_L1, SensorKind.PHASE_L2, SensorKind.PHASE_L3)
    ),
    ModuleBinaryDescription(
        key="neutral_fault",
        translation_key="neutral_fault",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=_alarm(SensorKind.NEUTRAL_FAULT),
        exists_fn=_carries(SensorKind.NEUTRAL_FAULT),
    ),
    ModuleBinaryDescription(
        key="arcing",
        translation_key="arcing",
        device_class=BinarySensorDeviceClass.SAFETY,
        value_fn=_alarm(SensorKind.ARCING),
        exists_fn=_carries(SensorKind.ARCING),
    ),
    ModuleBinaryDescription(
        key="online",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: m.info.online,
        exists_fn=lambda _: True,
    ),
)

METER_BINARY_SENSORS: tuple[MeterBinaryDescription, ...] = (
    MeterBinaryDescription(
        key="magnet",
        translation_key="magnet",
        device_class=BinarySensorDeviceClass.TAMPER,
        value_fn=lambda m: bool(m.faults & ChannelFault.MAGNET),
    ),
    MeterBinaryDescription(
        key="wire_break",
        translation_key="wire_break",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: bool(m.faults & ChannelFault.WIRE_BREAK),
    ),
    MeterBinaryDescription(
        key="short_circuit",
        translation_key="short_circuit",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: bool(m.faults & ChannelFault.SHORT_CIRCUIT),
    ),
)


def _entities(coordinator: BalanceCoordinator, module: ModuleData) -> list[BinarySensorEntity]:
    entities: list[BinarySensorEntity] = [
        ModuleBinarySensor(coordinator, module, d)
        for d in MODULE_BINARY_SENSORS
        if d.exists_fn(module)
    ]
    entities.extend(
        MeterBinarySensor(coordinator, module, d, channel)
        for channel in module.meters
        for d in METER_BINARY_SENSORS
    )
    return entities


async_setup_entry = module_platform(
    _entities, concentrator=lambda coordinator: [ConcentratorConnectivity(coordinator)]
)


class ModuleBinarySensor(BalanceEntity, BinarySensorEntity):
    entity_description: ModuleBinaryDescription

    @property
    def available(self) -> bool:
        if self.entity_description.key == "online":
            return self.coordinator.connected
        return super().available

    @property
    def is_on(self) -> bool | None:
        return self.entity_description.value_fn(self.module)


class MeterBinarySensor(BalanceEntity, BinarySensorEntity):
    entity_description: MeterBinaryDescription

    @property
    def is_on(self) -> bool | None:
        assert self.channel is not None
        return self.entity_description.value_fn(self.module.meters[self.channel])


class ConcentratorConnectivity(BinarySensorEntity):
    """Whether the concentrator answers; stays available so automations can watch it."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: BalanceCoordinator) -> None:
        self.coordinator = coordinator
        self._attr_unique_id = f"{coordinator.identity_key}-connected"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, coordinator.identity_key)})

    @property
    def is_on(self) -> bool:
        return self.coordinator.connected

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self.coordinator.async_add_global_listener(self.async_write_ha_state))
