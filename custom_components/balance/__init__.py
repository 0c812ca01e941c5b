"""BALANCE: DMesh meters, sensors, relays and valves, household analytics, load management and
the utility's demand response in Home Assistant. Each kind of entry lives in its own subpackage;
this module only hands over to the entry's kind (kinds.py)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .analytics.services import async_setup_analytics_services
from .const import DOMAIN
from .dmesh.services import async_setup_services
from .kinds import kind_of, known_kind
from .load_manager.services import async_setup_load_manager_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    async_setup_services(hass)
    async_setup_load_manager_services(hass)
    async_setup_analytics_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    return await kind_of(entry).async_setup_entry(hass, entry)


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    return await kind_of(entry).async_unload_entry(hass, entry)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: ConfigEntry[Any], device: dr.DeviceEntry
) -> bool:
    return kind_of(entry).can_remove_device(hass, entry, device)


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    # an entry of a kind this version does not know never set anything up to clean away
    if (kind := known_kind(entry)) is not None:
        await kind.async_remove_entry(hass, entry)
