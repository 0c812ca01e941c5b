"""Constants of the BALANCE integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

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

TO_REDACT: Final = {CONF_URL, "serial", "title", "unique_id"}
"""Diagnostics leave these out: serial numbers identify a household's hardware, a URL may carry
a host name."""

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


# -- the load manager: a second kind of entry that runs the DLM engine over any HA power sensor
# and switches (DMesh's or not).

CONF_ENTRY_TYPE: Final = "entry_type"
"""Which kind of entry this is (kinds.py); a DMesh concentrator, the first kind, has none."""
ENTRY_TYPE_LOAD_MANAGER: Final = "load_manager"
ENTRY_TYPE_EXISTING_METERS: Final = "existing_meters"
ENTRY_TYPE_UTILITY: Final = "utility"
SUBENTRY_SOCKET: Final = "socket"

CONF_POWER_ENTITY: Final = "power_entity"
CONF_LIMIT_W: Final = "limit_w"
CONF_CONTRACT_W: Final = "contract_power_w"
CONF_NIGHT_START: Final = "night_start"
CONF_NIGHT_END: Final = "night_end"
CONF_NIGHT_LIMIT_W: Final = "night_limit_w"
CONF_STALE_AFTER_S: Final = "stale_after_s"

CONF_SWITCH_ENTITY: Final = "switch_entity"
CONF_COLOUR: Final = "colour"
CONF_POWER_W: Final = "power_w"
CONF_MAX_OFF_MIN: Final = "max_off_min"
CONF_RUN_MIN: Final = "run_min"
CONF_DEADLINE: Final = "deadline"
CONF_PRIORITY: Final = "priority"
CONF_NIGHT_DELAY_MIN: Final = "night_delay_min"

COLOURS: Final = ["red", "yellow", "green"]
MODES: Final = ["off", "advise", "active"]
DEFAULT_STALE_AFTER_S: Final = 120.0
