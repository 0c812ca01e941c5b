"""Base entity of the load manager: one device for the manager, one per socket."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from ..const import DOMAIN, MANUFACTURER
from .manager import LoadManager


def manager_device_id(manager: LoadManager) -> str:
    return f"load_manager-{manager.entry.entry_id}"


class LoadManagerEntity(Entity):
    """Pushed by the manager after every step; never polled."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        manager: LoadManager,
        description: EntityDescription,
        socket_id: str | None = None,
    ) -> None:
        self.manager = manager
        self.socket_id = socket_id
        self.entity_description = description
        device = manager_device_id(manager)
        if socket_id is None:
            self._attr_unique_id = f"{manager.entry.entry_id}-{description.key}"
            self._attr_device_info = DeviceInfo(
                identifiers={(DOMAIN, device)},
                name=manager.entry.title,
                manufacturer=MANUFACTURER,
                model="Load manager",
                entry_type=DeviceEntryType.SERVICE,
            )
        else:
            self._attr_unique_id = f"{manager.entry.entry_id}-{socket_id}-{description.key}"
            self._attr_device_info = DeviceInfo(
                identifiers={(DOMAIN, f"{device}-{socket_id}")},
                name=manager.socket_name(socket_id),
                manufacturer=MANUFACTURER,
                model="Managed socket",
                entry_type=DeviceEntryType.SERVICE,
            )

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self.manager.async_add_listener(self.async_write_ha_state))
