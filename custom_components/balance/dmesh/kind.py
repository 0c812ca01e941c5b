"""The DMesh concentrator kind of entry: modules, meters, sensors, relays and valves."""

from __future__ import annotations

from typing import Final

from homeassistant.const import Platform

from ..analytics.platforms import with_analytics
from ..analytics.setup import async_remove_analytics, async_start_dmesh_analytics
from ..common.entry_kind import EntryKind
from . import binary_sensor, event, sensor, switch, valve
from .config_flow import ConcentratorOptionsFlow
from .coordinator import BalanceConfigEntry
from .diagnostics import async_get_concentrator_diagnostics
from .setup import async_prepare_concentrator, can_remove_module_device, is_concentrator

CONCENTRATOR: Final = EntryKind[BalanceConfigEntry](
    key="concentrator",
    matches=is_concentrator,
    prepare=async_prepare_concentrator,
    # the meter totals' entity ids exist once the platforms are set up
    start=async_start_dmesh_analytics,
    platforms=with_analytics(
        {
            Platform.BINARY_SENSOR: binary_sensor.async_setup_entry,
            Platform.EVENT: event.async_setup_entry,
            Platform.SENSOR: sensor.async_setup_entry,
            Platform.SWITCH: switch.async_setup_entry,
            Platform.VALVE: valve.async_setup_entry,
        }
    ),
    options_flow=ConcentratorOptionsFlow,
    diagnostics=async_get_concentrator_diagnostics,
    remove=async_remove_analytics,  # the household's saved readings go with it
    remove_device=can_remove_module_device,
)
