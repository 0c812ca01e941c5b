"""AD220 contactor adapters as switches.

A command travels the mesh hop by hop; the switch keeps showing the state the module last
confirmed until the new one is confirmed, and the action call lasts as long as that takes.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.components.switch.const import SwitchDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from dmesh_lib.messages import ModuleType

from . import analytics_switch, load_manager_switch, ven_switch
from .analytics_setup import analytics_manager, is_existing_meters
from .coordinator import BalanceConfigEntry, BalanceCoordinator, ModuleData
from .entity import BalanceEntity
from .helpers import command
from .load_manager_setup import is_load_manager
from .ven_setup import is_utility

PARALLEL_UPDATES = 1

RELAY = SwitchEntityDescription(
    key="relay", translation_key="relay", device_class=SwitchDeviceClass.OUTLET
)


def _entities(coordinator: BalanceCoordinator, module: ModuleData) -> list[SwitchEntity]:
    if module.info.module_type is not ModuleType.AD220:
        return []
    return [RelaySwitch(coordinator, module, RELAY)]


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if is_load_manager(entry):
        await load_manager_switch.async_setup_entry(hass, entry, async_add_entities)  # type: ignore[arg-type]
        return
    if is_utility(entry):
        await ven_switch.async_setup_entry(hass, entry, async_add_entities)  # type: ignore[arg-type]
        return
    if (manager := analytics_manager(hass, entry)) is not None:
        # household analytics over the meters; an "existing meters" entry has nothing else
        await analytics_switch.async_setup_entry(hass, manager, async_add_entities)
        if is_existing_meters(entry):
            return
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        e for module in coordinator.modules.values() for e in _entities(coordinator, module)
    )
    entry.async_on_unload(
        coordinator.async_add_module_listener(
            lambda module: async_add_entities(_entities(coordinator, module))
        )
    )


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
