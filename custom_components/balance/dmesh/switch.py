"""AD220 contactor adapters as switches.

A command travels the mesh hop by hop; the switch keeps showing the state the module last
confirmed until the new one is confirmed, and the action call lasts as long as that takes.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.components.switch.const import SwitchDeviceClass

from dmesh_lib.messages import ModuleType

from .commands import command
from .coordinator import BalanceCoordinator, ModuleData
from .entity import BalanceEntity, module_platform

RELAY = SwitchEntityDescription(
    key="relay", translation_key="relay", device_class=SwitchDeviceClass.OUTLET
)


def _entities(coordinator: BalanceCoordinator, module: ModuleData) -> list[SwitchEntity]:
    if module.info.module_type is not ModuleType.AD220:
        return []
    return [RelaySwitch(coordinator, module, RELAY)]


async_setup_entry = module_platform(_entities)


class RelaySwitch(BalanceEntity, SwitchEntity):
    @property
    def is_on(self) -> bool | None:
        relay = self.module.relay
        return None if relay is None else relay.on

    async def async_turn_on(self, **kwargs: Any) -> None:
        await command(
            self.module.serial, self.coordinator.client.set_relay(self.module.serial, True)
        )

    async def async_turn_off(self, **kwargs: Any) -> None:
        await command(
            self.module.serial, self.coordinator.client.set_relay(self.module.serial, False)
        )
