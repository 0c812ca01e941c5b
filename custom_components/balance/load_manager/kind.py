"""The load manager kind of entry: DLM over any power sensor and switches, sockets as subentries."""

from __future__ import annotations

from typing import Final

from homeassistant.const import Platform

from ..common.entry_kind import EntryKind
from ..const import ENTRY_TYPE_LOAD_MANAGER, SUBENTRY_SOCKET
from . import binary_sensor, number, select, sensor, switch
from .config_flow import LoadManagerOptionsFlow, SocketSubentryFlow
from .diagnostics import async_get_load_manager_diagnostics
from .manager import LoadManagerConfigEntry
from .setup import async_prepare_load_manager, async_remove_load_manager, is_load_manager

LOAD_MANAGER: Final = EntryKind[LoadManagerConfigEntry](
    key=ENTRY_TYPE_LOAD_MANAGER,
    matches=is_load_manager,
    prepare=async_prepare_load_manager,
    platforms={
        Platform.BINARY_SENSOR: binary_sensor.async_setup_entry,
        Platform.NUMBER: number.async_setup_entry,
        Platform.SELECT: select.async_setup_entry,
        Platform.SENSOR: sensor.async_setup_entry,
        Platform.SWITCH: switch.async_setup_entry,
    },
    options_flow=LoadManagerOptionsFlow,
    diagnostics=async_get_load_manager_diagnostics,
    # a deleted load manager switches back on whatever it still holds
    remove=async_remove_load_manager,
    subentry_flows={SUBENTRY_SOCKET: SocketSubentryFlow},
)
