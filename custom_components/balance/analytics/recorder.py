"""Hourly history from the recorder's long-term statistics, in the analytics' units.

A house that already has history (a fresh set-up on an old meter, a restart after the saved
state was lost) detects at once: the recorder keeps every hour of a ``total_increasing`` sensor,
and its ``change`` per hour is exactly the consumption the detectors want.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance

from balance_analytics import HourlySeries

SECONDS_PER_HOUR = 3600
UNITS = {"energy": "kWh", "volume": "m³"}


async def async_hourly_history(
    hass: HomeAssistant, entity_id: str, start: datetime, end: datetime | None = None
) -> tuple[HourlySeries, float | None] | None:
    """Consumption per hour (NaN where the recorder has no row) and the total at the end.

    None without a recorder or without a single row.
    """
    if "recorder" not in hass.config.components:
        return None
    types: set[Any] = {"change", "state"}
    stats: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, start, end, {entity_id}, "hour", UNITS, types
    )
    rows = stats.get(entity_id) or []
    if not rows:
        return None
    first = int(rows[0]["start"])
    last = int(rows[-1]["start"])
    values = np.full((last - first) // SECONDS_PER_HOUR + 1, np.nan)
    for row in rows:
        change = row.get("change")
        if change is None:
            continue
        # a meter reset shows as a negative change: that hour is unknown, not negative use
        if change >= 0:
            values[(int(row["start"]) - first) // SECONDS_PER_HOUR] = float(change)
    state = rows[-1].get("state")
    return HourlySeries.from_values(first, values), None if state is None else float(state)
