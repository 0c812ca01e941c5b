"""Motorised shut-off valves: opening and closing show while the ball turns."""

from __future__ import annotations

from homeassistant.components.valve.const import ValveDeviceClass, ValveEntityFeature
from homeassistant.components.valve.entity import ValveEntity, ValveEntityDescription

from dmesh_lib.messages import ModuleType, ValvePosition

from .commands import command
from .coordinator import BalanceCoordinator, ModuleData
from .entity import BalanceEntity, module_platform

SHUTOFF = ValveEntityDescription(
    key="valve", translation_key="shutoff", device_class=ValveDeviceClass.WATER
)


def _entities(coordinator: BalanceCoordinator, module: ModuleData) -> list[ValveEntity]:
    if module.info.module_type is not ModuleType.VALVE:
        return []
    return [ShutoffValve(coordinator, module, SHUTOFF)]


async_setup_entry = module_platform(_entities)


class ShutoffValve(BalanceEntity, ValveEntity):
    _attr_reports_position = False
    _attr_supported_features = ValveEntityFeature.OPEN | ValveEntityFeature.CLOSE

    def _position(self) -> ValvePosition | None:
        valve = self.module.valve
        return None if valve is None else valve.position

    @property
    def is_closed(self) -> bool | None:
        position = self._position()
        if position in (None, ValvePosition.UNKNOWN):
            return None
        return position is ValvePosition.CLOSED

    @property
    def is_opening(self) -> bool:
        return self._position() is ValvePosition.OPENING

    @property
    def is_closing(self) -> bool:
        return self._position() is ValvePosition.CLOSING

    async def async_open_valve(self) -> None:
        await command(
            self.module.serial, self.coordinator.client.set_valve(self.module.serial, True)
        )

    async def async_close_valve(self) -> None:
        await command(
            self.module.serial, self.coordinator.client.set_valve(self.module.serial, False)
        )
