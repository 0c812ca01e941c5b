"""Setting up and tearing down a DMesh concentrator entry."""

from __future__ import annotations

from typing import Any, TypeGuard

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from dmesh_lib import ConcentratorClient, ConnectError

from ..analytics.setup import async_setup_dmesh_analytics
from ..const import CONF_ENTRY_TYPE, CONF_URL, DOMAIN
from .coordinator import BalanceConfigEntry, BalanceCoordinator, BalanceRuntimeData


def is_concentrator(entry: ConfigEntry[Any]) -> TypeGuard[BalanceConfigEntry]:
    """The first kind of entry, from before there were others: it has no entry type."""
    return CONF_ENTRY_TYPE not in entry.data


async def async_prepare_concentrator(hass: HomeAssistant, entry: BalanceConfigEntry) -> None:
    # The concentrator's clock follows Home Assistant's, so its backlog hours are the hours the
    # recorder files statistics under.
    client = ConcentratorClient(entry.data[CONF_URL], clock=lambda: dt_util.utcnow().timestamp())
    coordinator = BalanceCoordinator(hass, entry, client)
    # Listen before the first await: an options change made while the entry starts would
    # otherwise be saved but never applied.
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    try:
        await coordinator.async_start()
    except ConnectError as err:
        await coordinator.async_stop()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"url": entry.data[CONF_URL], "error": str(err)},
        ) from err
    entry.runtime_data = BalanceRuntimeData(client, coordinator)
    entry.async_on_unload(coordinator.async_stop)
    coordinator.remove_stale_devices()
    async_setup_dmesh_analytics(hass, entry)


async def _async_options_updated(hass: HomeAssistant, entry: BalanceConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


def can_remove_module_device(
    hass: HomeAssistant, entry: BalanceConfigEntry, device: dr.DeviceEntry
) -> bool:
    """A module the concentrator no longer lists may be deleted by hand."""
    coordinator = entry.runtime_data.coordinator
    keys = {i for d, i in device.identifiers if d == DOMAIN}
    if coordinator.identity_key in keys:
        return False
    return not any(
        key.split("-")[0] == f"{serial:08X}" and module.info.online
        for key in keys
        for serial, module in coordinator.modules.items()
    )
