"""Alarms as event entities, so automations and blueprints trigger on them."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import callback

from dmesh_lib.messages import ModuleType

from .coordinator import (
    ALARM_SENSORS,
    FAULT_EVENTS,
    PHASES,
    BalanceCoordinator,
    ModuleData,
)
from .entity import BalanceEntity, module_platform

ALARM = EventEntityDescription(key="alarm", translation_key="alarm")


def event_types(module: ModuleData) -> list[str]:
    kinds = module.info.sensors.kinds()
    types = [name for kind, name in ALARM_SENSORS.items() if kind in kinds]
    if any(phase in kinds for phase in PHASES):
        types.append("phase_lost")
    if module.meters:
        types.extend(FAULT_EVENTS.values())
    if module.info.module_type is ModuleType.AD220:
        types.append("relay_fault")
    if module.info.module_type is ModuleType.VALVE:
        types.append("valve_fault")
    if module.info.module_type in (ModuleType.D100FC, ModuleType.SENSOR, ModuleType.VALVE):
        types.append("low_battery")
    return types


def _entities(coordinator: BalanceCoordinator, module: ModuleData) -> list[EventEntity]:
    if not event_types(module):
        return []
    return [AlarmEvent(coordinator, module, ALARM)]


async_setup_entry = module_platform(_entities)


class AlarmEvent(BalanceEntity, EventEntity):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._attr_event_types = event_types(self.module)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_add_alarm_listener(self.module.serial, self._fire)
        )

    @callback
    def _fire(self, event_type: str, attributes: dict[str, Any]) -> None:
        self._trigger_event(event_type, attributes)
        self.async_write_ha_state()
