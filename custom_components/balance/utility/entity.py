"""Base entity of the utility entry: one service device per VTN connection."""

from __future__ import annotations

from urllib.parse import urlsplit

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from ..const import CONF_URL, DOMAIN, MANUFACTURER
from .ven import UtilityVen


class UtilityEntity(Entity):
    """Pushed by the VEN after every evaluation; never polled."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, ven: UtilityVen, description: EntityDescription) -> None:
        self.ven = ven
        self.entity_description = description
        entry = ven.entry
        self._attr_unique_id = f"{entry.entry_id}-{description.key}"
        url = entry.data[CONF_URL]
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"utility-{entry.entry_id}")},
            name=entry.title,
            manufacturer=MANUFACTURER,
            model="OpenADR 3 VEN",
            entry_type=DeviceEntryType.SERVICE,
            configuration_url=url if urlsplit(url).scheme in ("http", "https") else None,
        )

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self.ven.async_add_listener(self.async_write_ha_state))
