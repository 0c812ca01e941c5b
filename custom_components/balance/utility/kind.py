"""The utility kind of entry: Home Assistant as an OpenADR 3 VEN of the utility's VTN."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from ..common.entry_kind import EntryKind
from ..const import ENTRY_TYPE_UTILITY, TO_REDACT
from . import binary_sensor, sensor, switch
from .config_flow import UtilityOptionsFlow
from .setup import async_prepare_utility, async_remove_utility, is_utility
from .ven import UtilityConfigEntry


async def _diagnostics(hass: HomeAssistant, entry: UtilityConfigEntry) -> dict[str, Any]:
    return async_redact_data(entry.runtime_data.diagnostics(), TO_REDACT)


UTILITY: Final = EntryKind[UtilityConfigEntry](
    key=ENTRY_TYPE_UTILITY,
    matches=is_utility,
    prepare=async_prepare_utility,
    platforms={
        Platform.BINARY_SENSOR: binary_sensor.async_setup_entry,
        Platform.SENSOR: sensor.async_setup_entry,
        Platform.SWITCH: switch.async_setup_entry,
    },
    options_flow=UtilityOptionsFlow,
    diagnostics=_diagnostics,
    # a deleted utility entry ends the utility's requests, unless another VEN still runs
    remove=async_remove_utility,
)
