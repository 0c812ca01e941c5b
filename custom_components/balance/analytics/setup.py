"""Where the analytics come from: a DMesh entry's meters, or meters already in Home Assistant.

Both kinds of entry get one :class:`AnalyticsManager`. An "existing meters" entry has nothing
else, so the manager is its ``runtime_data``; a DMesh entry's ``runtime_data`` belongs to the
concentrator, so its manager is kept under :data:`ANALYTICS` by entry id.
"""

from __future__ import annotations

import logging
from typing import Any, Final, TypeGuard

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from balance_analytics import Carrier
from dmesh_lib import MeterKind

from ..const import (
    CONF_ENTRY_TYPE,
    CONF_POWER_ENTITY,
    DOMAIN,
    ENTRY_TYPE_EXISTING_METERS,
    MANUFACTURER,
    meter_key,
)
from ..dmesh.coordinator import BalanceConfigEntry
from .manager import STORAGE_VERSION, AnalyticsManager, storage_key
from .meter import MeterSource
from .settings import AnalyticsSettings, parse_settings, settings_error

_LOGGER = logging.getLogger(__name__)

SOURCE_KEYS: Final = {c: f"{c.value}_entity" for c in Carrier}
"""Entry data of an "existing meters" entry: one cumulative sensor per carrier, all optional."""
ANALYTICS: HassKey[dict[str, AnalyticsManager]] = HassKey(f"{DOMAIN}_analytics")

type ExistingMetersConfigEntry = ConfigEntry[AnalyticsManager]

CARRIERS: Final = {
    MeterKind.ELECTRICITY: Carrier.ELECTRICITY,
    MeterKind.WATER: Carrier.WATER,
    MeterKind.GAS: Carrier.GAS,
    MeterKind.HEAT: Carrier.HEAT,
}


def entry_settings(entry: ConfigEntry[Any]) -> AnalyticsSettings:
    """The entry's analytics settings; unreadable ones (edited by hand) fall back to defaults
    with an error in the log rather than keeping the household's meters unwatched."""
    tz = dt_util.get_default_time_zone()
    if (error := settings_error(entry.options, tz)) is None:
        return parse_settings(entry.options)
    _LOGGER.error(
        "%s: the household analytics settings cannot be read (%s); using the defaults until "
        "they are saved again in the options",
        entry.title,
        error,
    )
    return AnalyticsSettings()


def is_existing_meters(entry: ConfigEntry[Any]) -> TypeGuard[ExistingMetersConfigEntry]:
    return entry.data.get(CONF_ENTRY_TYPE) == ENTRY_TYPE_EXISTING_METERS


def analytics_manager(hass: HomeAssistant, entry: ConfigEntry[Any]) -> AnalyticsManager | None:
    return hass.data.get(ANALYTICS, {}).get(entry.entry_id)


def existing_sources(entry: ConfigEntry[Any]) -> list[MeterSource]:
    sources: list[MeterSource] = []

    def device(key: str, name: str) -> DeviceInfo:
        return DeviceInfo(
            identifiers={(DOMAIN, f"{entry.entry_id}-{key}")},
            name=name,
            manufacturer=MANUFACTURER,
            model="Household analytics",
            entry_type=DeviceEntryType.SERVICE,
        )

    for carrier, conf in SOURCE_KEYS.items():
        if entity_id := entry.data.get(conf):
            name = f"{entry.title} {carrier.value}"
            sources.append(
                MeterSource(carrier.value, carrier, name, device(carrier.value, name), entity_id)
            )
    if (power := entry.data.get(CONF_POWER_ENTITY)) and not entry.data.get(
        SOURCE_KEYS[Carrier.ELECTRICITY]
    ):
        # without an energy meter, the power sensor integrated over time stands in for one
        name = f"{entry.title} electricity"
        sources.append(
            MeterSource(
                "electricity",
                Carrier.ELECTRICITY,
                name,
                device("electricity", name),
                power,
                power=True,
            )
        )
    return sources


def home_device(entry: ConfigEntry[Any]) -> DeviceInfo:
    return DeviceInfo(
        identifiers={(DOMAIN, f"{entry.entry_id}-home")},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model="Household analytics",
        entry_type=DeviceEntryType.SERVICE,
    )


def _register(hass: HomeAssistant, entry: ConfigEntry[Any], manager: AnalyticsManager) -> None:
    hass.data.setdefault(ANALYTICS, {})[entry.entry_id] = manager

    async def stop() -> None:
        hass.data.get(ANALYTICS, {}).pop(entry.entry_id, None)
        await manager.async_stop()

    entry.async_on_unload(stop)


async def async_prepare_existing_meters(
    hass: HomeAssistant, entry: ExistingMetersConfigEntry
) -> None:
    manager = AnalyticsManager(
        hass,
        entry.entry_id,
        existing_sources(entry),
        entry_settings(entry),
        home=home_device(entry),
        home_key=f"{entry.entry_id}-home",
    )
    entry.runtime_data = manager
    _register(hass, entry, manager)
    entry.async_on_unload(entry.add_update_listener(_async_reload))


async def async_start_existing_meters(
    hass: HomeAssistant, entry: ExistingMetersConfigEntry
) -> None:
    """After the platforms: the manager follows the source sensors from now on."""
    await entry.runtime_data.async_start()


async def _async_reload(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


def async_setup_dmesh_analytics(hass: HomeAssistant, entry: BalanceConfigEntry) -> None:
    """Before the platforms: they add the analytics entities of every known meter."""
    coordinator = entry.runtime_data.coordinator
    sources: list[MeterSource] = []
    for module in coordinator.modules.values():
        for channel, meter in module.meters.items():
            carrier = CARRIERS.get(meter.kind)
            if meter.config is None or carrier is None:
                continue
            key = meter_key(module.serial, channel)
            sources.append(
                MeterSource(
                    key,
                    carrier,
                    meter.name or key,
                    DeviceInfo(identifiers={(DOMAIN, key)}),
                    total_unique_id=f"{key}-total",
                )
            )
    home = coordinator.identity_key
    manager = AnalyticsManager(
        hass,
        entry.entry_id,
        sources,
        entry_settings(entry),
        home=DeviceInfo(identifiers={(DOMAIN, home)}),
        home_key=home,
    )
    _register(hass, entry, manager)


async def async_remove_analytics(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    await Store[dict[str, Any]](hass, STORAGE_VERSION, storage_key(entry.entry_id)).async_remove()


async def async_start_dmesh_analytics(hass: HomeAssistant, entry: BalanceConfigEntry) -> None:
    """After the platforms: the meter totals' entity ids exist by now."""
    if (manager := analytics_manager(hass, entry)) is not None:
        await manager.async_start()
