"""BALANCE: DMesh meters, sensors, relays and valves in Home Assistant."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from dmesh_lib import ConcentratorClient, ConnectError

from .analytics_services import async_setup_analytics_services
from .analytics_setup import (
    async_remove_analytics,
    async_setup_dmesh_analytics,
    async_setup_existing_meters,
    async_start_dmesh_analytics,
    async_unload_existing_meters,
    is_existing_meters,
)
from .const import CONF_URL, DOMAIN, PLATFORMS
from .coordinator import BalanceConfigEntry, BalanceCoordinator, BalanceRuntimeData
from .load_manager_setup import (
    async_remove_load_manager,
    async_setup_load_manager,
    async_unload_load_manager,
    is_load_manager,
)
from .services import async_setup_services
from .ven_setup import (
    async_remove_utility,
    async_setup_utility,
    async_unload_utility,
    is_utility,
)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    async_setup_services(hass)
    async_setup_analytics_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BalanceConfigEntry) -> bool:
    if is_load_manager(entry):
        return await async_setup_load_manager(hass, entry)  # type: ignore[arg-type]
    if is_utility(entry):
        return await async_setup_utility(hass, entry)  # type: ignore[arg-type]
    if is_existing_meters(entry):
        return await async_setup_existing_meters(hass, entry)  # type: ignore[arg-type]
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
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await async_start_dmesh_analytics(hass, entry)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: BalanceConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: BalanceConfigEntry) -> bool:
    if is_load_manager(entry):
        return await async_unload_load_manager(hass, entry)  # type: ignore[arg-type]
    if is_utility(entry):
        return await async_unload_utility(hass, entry)  # type: ignore[arg-type]
    if is_existing_meters(entry):
        return await async_unload_existing_meters(hass, entry)  # type: ignore[arg-type]
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: BalanceConfigEntry, device: dr.DeviceEntry
) -> bool:
    """A module the concentrator no longer lists may be deleted by hand."""
    if is_load_manager(entry) or is_existing_meters(entry) or is_utility(entry):
        return False  # its devices go with their socket subentries or their meters
    coordinator = entry.runtime_data.coordinator
    keys = {i for d, i in device.identifiers if d == DOMAIN}
    if coordinator.identity_key in keys:
        return False
    return not any(
        key.split("-")[0] == f"{serial:08X}" and module.info.online
        for key in keys
        for serial, module in coordinator.modules.items()
    )


async def async_remove_entry(hass: HomeAssistant, entry: BalanceConfigEntry) -> None:
    """A deleted load manager switches back on whatever it still holds."""
    if is_load_manager(entry):
        await async_remove_load_manager(hass, entry)
    else:
        await async_remove_analytics(hass, entry)  # the household's saved readings go too
    if is_utility(entry):
        async_remove_utility(hass)
