"""The load manager entry: DLM over any Home Assistant power sensor and switches."""

from __future__ import annotations

from typing import Any, TypeGuard

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from ..const import CONF_ENTRY_TYPE, ENTRY_TYPE_LOAD_MANAGER, SUBENTRY_SOCKET
from .manager import LoadManager, LoadManagerConfigEntry, async_release_all


def is_load_manager(entry: ConfigEntry[Any]) -> TypeGuard[LoadManagerConfigEntry]:
    return entry.data.get(CONF_ENTRY_TYPE) == ENTRY_TYPE_LOAD_MANAGER


async def async_prepare_load_manager(hass: HomeAssistant, entry: LoadManagerConfigEntry) -> None:
    manager = LoadManager(hass, entry)
    entry.runtime_data = manager
    # Listen before the first await: the manager read its sockets just now, and one added while
    # it restores its state would otherwise never get its entities (a script adding sockets
    # back to back lost the last one).
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await manager.async_start()
    entry.async_on_unload(manager.async_stop)


async def _async_entry_updated(hass: HomeAssistant, entry: LoadManagerConfigEntry) -> None:
    manager = entry.runtime_data
    sockets = {
        s.subentry_id for s in entry.subentries.values() if s.subentry_type == SUBENTRY_SOCKET
    }
    if sockets != manager.socket_ids or not manager.started:
        # Sockets came or went: their entities and devices too. The engine's state survives
        # the reload in the store; a removed socket it held is switched back on. A change made
        # while the manager was still starting is applied the same way: the reload waits for
        # this setup to finish.
        await hass.config_entries.async_reload(entry.entry_id)
        return
    manager.async_reconfigure()


async def async_remove_load_manager(hass: HomeAssistant, entry: LoadManagerConfigEntry) -> None:
    await async_release_all(hass, entry.entry_id)
