"""Base entities: one device per radio module, one per meter behind it."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from ..const import DOMAIN, meter_key, module_key
from .coordinator import BalanceCoordinator, ModuleData


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
