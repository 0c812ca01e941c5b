"""The switch platform: each kind of entry adds its own (see kinds.py)."""

from homeassistant.const import Platform

from .kinds import platform_setup

PARALLEL_UPDATES = 1

async_setup_entry = platform_setup(Platform.SWITCH)
