"""Base entities: one device per radio module, one per meter behind it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..common.entry_kind import PlatformSetup
from ..const import DOMAIN, meter_key, module_key
from .coordinator import BalanceConfigEntry, BalanceCoordinator, ModuleData

type ModuleEntities = Callable[[BalanceCoordinator, ModuleData], Sequence[Entity]]


def module_platform(
    entities: ModuleEntities,
    concentrator: Callable[[BalanceCoordinator], Sequence[Entity]] | None = None,
) -> PlatformSetup[BalanceConfigEntry]:
    """A DMesh platform's set-up: ``entities`` of every module known now and of every module
    that joins the mesh later; ``concentrator``'s own entities once."""

    async def async_setup_entry(
        hass: HomeAssistant,
        entry: BalanceConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        coordinator = entry.runtime_data.coordinator
        initial = list(concentrator(coordinator)) if concentrator is not None else []
        for module in coordinator.modules.values():
            initial.extend(entities(coordinator, module))
        async_add_entities(initial)
        entry.async_on_unload(
            coordinator.async_add_module_listener(
                lambda module: async_add_entities(entities(coordinator, module))
            )
        )

    return async_setup_entry


class BalanceEntity(Entity):
    """An entity of one radio module; pushed, never polled."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        coordinator: BalanceCoordinator,
        module: ModuleData,
        description: EntityDescription,
        channel: int | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.module = module
        self.channel = channel
        self.entity_description = description
        key = module_key(module.serial) if channel is None else meter_key(module.serial, channel)
        self._attr_unique_id = f"{key}-{description.key}"
        # The coordinator registers the devices with their via links; entities only point at them.
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, key)})

    @property
    def available(self) -> bool:
        return self.coordinator.connected and self.module.info.online

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(
            self.coordinator.async_add_listener(
                self.module.serial, self.channel, self.async_write_ha_state
            )
        )
        self.async_on_remove(self.coordinator.async_add_global_listener(self.async_write_ha_state))
