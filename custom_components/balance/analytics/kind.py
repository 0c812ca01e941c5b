"""The "meters already in Home Assistant" kind of entry: household analytics, no hardware."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant

from ..common.entry_kind import EntryKind
from ..const import ENTRY_TYPE_EXISTING_METERS
from .config_flow import AnalyticsOptionsFlow
from .diagnostics import analytics_diagnostics
from .platforms import EXISTING_METERS_PLATFORMS
from .setup import (
    ExistingMetersConfigEntry,
    async_prepare_existing_meters,
    async_remove_analytics,
    async_start_existing_meters,
    is_existing_meters,
)


async def _diagnostics(hass: HomeAssistant, entry: ExistingMetersConfigEntry) -> dict[str, object]:
    return analytics_diagnostics(entry.runtime_data)


EXISTING_METERS: Final = EntryKind[ExistingMetersConfigEntry](
    key=ENTRY_TYPE_EXISTING_METERS,
    matches=is_existing_meters,
    prepare=async_prepare_existing_meters,
    start=async_start_existing_meters,
    platforms=EXISTING_METERS_PLATFORMS,
    options_flow=AnalyticsOptionsFlow,
    diagnostics=_diagnostics,
    remove=async_remove_analytics,
)
