"""Number entities; only the load manager has any."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .load_manager import LoadManagerConfigEntry
from .load_manager_number import async_setup_entry as async_setup_load_manager_entry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LoadManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    await async_setup_load_manager_entry(hass, entry, async_add_entities)
