"""Diagnostics of any entry: its kind says what it knows (kinds.py)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .kinds import kind_of


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ConfigEntry[Any]
) -> dict[str, Any]:
    return await kind_of(entry).async_diagnostics(hass, entry)
