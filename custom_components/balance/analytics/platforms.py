"""The household analytics' entities on each platform, for the two kinds of entry that have them.

An "existing meters" entry has nothing else; a DMesh entry adds them next to its modules' own
entities. Either way each platform module of this package takes the entry's manager.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..common.entry_kind import PlatformSetup
from ..dmesh.coordinator import BalanceConfigEntry
from . import binary_sensor, event, sensor, switch
from .manager import AnalyticsManager
from .setup import ExistingMetersConfigEntry, analytics_manager

type ManagerPlatformSetup = Callable[
    [HomeAssistant, AnalyticsManager, AddConfigEntryEntitiesCallback], Awaitable[None]
]

ANALYTICS_PLATFORMS: Final[Mapping[Platform, ManagerPlatformSetup]] = {
    Platform.BINARY_SENSOR: binary_sensor.async_setup_entry,
    Platform.EVENT: event.async_setup_entry,
    Platform.SENSOR: sensor.async_setup_entry,
    Platform.SWITCH: switch.async_setup_entry,
}


def _from_runtime_data(setup: ManagerPlatformSetup) -> PlatformSetup[ExistingMetersConfigEntry]:
    async def async_setup_entry(
        hass: HomeAssistant,
        entry: ExistingMetersConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        await setup(hass, entry.runtime_data, async_add_entities)

    return async_setup_entry


EXISTING_METERS_PLATFORMS: Final[Mapping[Platform, PlatformSetup[ExistingMetersConfigEntry]]] = {
    platform: _from_runtime_data(setup) for platform, setup in ANALYTICS_PLATFORMS.items()
}


def _both(
    analytics: ManagerPlatformSetup | None, own: PlatformSetup[BalanceConfigEntry] | None
) -> PlatformSetup[BalanceConfigEntry]:
    async def async_setup_entry(
        hass: HomeAssistant,
        entry: BalanceConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        if analytics is not None and (manager := analytics_manager(hass, entry)) is not None:
            await analytics(hass, manager, async_add_entities)
        if own is not None:
            await own(hass, entry, async_add_entities)

    return async_setup_entry


def with_analytics(
    platforms: Mapping[Platform, PlatformSetup[BalanceConfigEntry]],
) -> dict[Platform, PlatformSetup[BalanceConfigEntry]]:
    """A DMesh entry's platforms, each also adding the analytics entities of its meters."""
    return {
        platform: _both(ANALYTICS_PLATFORMS.get(platform), platforms.get(platform))
        for platform in (*platforms, *(p for p in ANALYTICS_PLATFORMS if p not in platforms))
    }
