"""Setting up and tearing down the utility (OpenADR 3 VEN) entry."""

from __future__ import annotations

from typing import Any, TypeGuard

import aiohttp
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.util import dt as dt_util

from balance_openadr.client import VtnError
from dlm import DR_SOURCE_UTILITY

from ..const import CONF_ENTRY_TYPE, CONF_URL, DOMAIN, ENTRY_TYPE_UTILITY
from .ven import AuthFailed, UtilityConfigEntry, UtilityVen, load_managers


def is_utility(entry: ConfigEntry[Any]) -> TypeGuard[UtilityConfigEntry]:
    return entry.data.get(CONF_ENTRY_TYPE) == ENTRY_TYPE_UTILITY


async def async_prepare_utility(hass: HomeAssistant, entry: UtilityConfigEntry) -> None:
    ven = UtilityVen(hass, entry)
    # Listen before the first await: an options change made while the entry starts is applied.
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    try:
        await ven.async_start()
    except AuthFailed as err:
        await ven.async_stop()
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="vtn_auth_failed",
            translation_placeholders={"url": entry.data[CONF_URL]},
        ) from err
    except (VtnError, aiohttp.ClientError, TimeoutError, OSError, ValueError, KeyError) as err:
        await ven.async_stop()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="vtn_unreachable",
            translation_placeholders={"url": entry.data[CONF_URL], "error": str(err)},
        ) from err
    entry.runtime_data = ven
    entry.async_on_unload(ven.async_stop)


async def _async_options_updated(hass: HomeAssistant, entry: UtilityConfigEntry) -> None:
    # the meter list is read on every collection; nothing else needs restarting
    await entry.runtime_data.reporter.async_collect_and_flush(entry.runtime_data.events)


async def async_remove_utility(hass: HomeAssistant, entry: UtilityConfigEntry) -> None:
    """A deleted utility entry ends the utility's requests, unless another VEN still runs."""
    if any(
        is_utility(e) and e.state is ConfigEntryState.LOADED
        for e in hass.config_entries.async_entries(DOMAIN)
    ):
        return
    for manager in load_managers(hass):
        current = manager.engine.limits.demand_response
        if current is not None and current.source == DR_SOURCE_UTILITY:
            manager.async_demand_response(expires_at=dt_util.utcnow(), level=0, limit_w=None)
