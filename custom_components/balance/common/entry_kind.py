"""What one kind of config entry is: how to recognise it and what it brings.

The integration has several kinds of entry (a DMesh concentrator, meters already in Home
Assistant, a load manager, a utility VEN). HA's loader calls the top-level modules for every
entry; each of those asks :func:`..kinds.kind_of` for the entry's kind and hands over to it. A
kind's functions take the entry already narrowed to its own ``ConfigEntry[...]`` type, so no
caller needs a cast: :meth:`EntryKind.narrow` checks the predicate, a ``TypeGuard``, once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from homeassistant.config_entries import ConfigEntry, ConfigSubentryFlow, OptionsFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

type PlatformSetup[E] = Callable[
    [HomeAssistant, E, AddConfigEntryEntitiesCallback], Awaitable[None]
]


async def _nothing(hass: HomeAssistant, entry: Any) -> None:
    return None


def _keep_devices(hass: HomeAssistant, entry: Any, device: dr.DeviceEntry) -> bool:
    return False


@dataclass(frozen=True, kw_only=True)
class EntryKind[E: ConfigEntry[Any]]:
    """One kind of entry. ``E`` is its typed entry (``ConfigEntry[ItsRuntimeData]``)."""

    key: str
    """The config flow's menu option and step id for creating one."""
    matches: Callable[[ConfigEntry[Any]], TypeGuard[E]]
    prepare: Callable[[HomeAssistant, E], Awaitable[None]]
    """Before the platforms: build ``runtime_data``; raise ConfigEntryNotReady/AuthFailed."""
    platforms: Mapping[Platform, PlatformSetup[E]]
    options_flow: Callable[[], OptionsFlow]
    diagnostics: Callable[[HomeAssistant, E], Awaitable[dict[str, Any]]]
    start: Callable[[HomeAssistant, E], Awaitable[None]] = _nothing
    """After the platforms, when the entities (and their entity ids) exist."""
    remove: Callable[[HomeAssistant, E], Awaitable[None]] = _nothing
    """The entry is deleted: what it leaves behind (stores, switched-off sockets) goes too."""
    remove_device: Callable[[HomeAssistant, E, dr.DeviceEntry], bool] = _keep_devices
    subentry_flows: Mapping[str, type[ConfigSubentryFlow]] = field(default_factory=dict)

    def narrow(self, entry: ConfigEntry[Any]) -> E:
        if not self.matches(entry):
            raise TypeError(f"entry {entry.title!r} is not a {self.key} entry")
        return entry

    async def async_setup_entry(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
        typed = self.narrow(entry)
        await self.prepare(hass, typed)
        await hass.config_entries.async_forward_entry_setups(entry, list(self.platforms))
        await self.start(hass, typed)
        return True

    async def async_unload_entry(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
        return await hass.config_entries.async_unload_platforms(entry, list(self.platforms))

    async def async_setup_platform(
        self,
        platform: Platform,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        if (setup := self.platforms.get(platform)) is not None:
            await setup(hass, self.narrow(entry), async_add_entities)

    async def async_diagnostics(
        self, hass: HomeAssistant, entry: ConfigEntry[Any]
    ) -> dict[str, Any]:
        return await self.diagnostics(hass, self.narrow(entry))

    async def async_remove_entry(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        await self.remove(hass, self.narrow(entry))

    def can_remove_device(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], device: dr.DeviceEntry
    ) -> bool:
        return self.remove_device(hass, self.narrow(entry), device)
