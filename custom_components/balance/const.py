"""Constants of the BALANCE integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "balance"
MANUFACTURER: Final = "BALANCE"

CONF_URL: Final = "url"
CONF_DEVICE: Final = "device"
CONF_METERS: Final = "meters"
CONF_METER: Final = "meter"
CONF_KIND: Final = "kind"
CONF_CONSTANT: Final = "constant"
CONF_INITIAL_READING: Final = "initial_reading"
CONF_NAME: Final = "name"
MANUAL_ENTRY: Final = "manual"

PLATFORMS: Final = [
    Platform.BINARY_SENSOR,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.VALVE,
]

UNREACHABLE_REPAIR_DELAY: Final = timedelta(minutes=15)
"""A concentrator gone this long is worth a repair issue; shorter outages heal on their own."""
TAMPER_REPAIR_DELAY: Final = timedelta(minutes=30)
"""A tamper flag that stays this long is not a glitch of the pulse input."""
LOW_BATTERY_PCT: Final = 10
STATISTICS_SETTLE: Final = timedelta(minutes=15)
"""The recorder compiles an hour's statistics a few minutes after it ends; importing that hour
before then would collide with its own row, so such hours wait for a follow-up import."""
BACKFILL_AFTER: Final = timedelta(minutes=30)
"""A meter silent for longer than this on start-up has hours worth fetching from the backlog."""
MAX_BACKFILL_HOURS: Final = 45 * 24
"""Modules keep 45 days of hourly counters."""


def module_key(serial: int) -> str:
    """How a module serial appears in identifiers, options and services."""
    return f"{serial:08X}"


def meter_key(serial: int, channel: int) -> str:
    return f"{serial:08X}-{channel}"
