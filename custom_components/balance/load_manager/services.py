"""The load manager's actions: shed now, restore all, a temporary limit, a demand response."""

from __future__ import annotations

from datetime import timedelta

import probatio as vol
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from ..common.services import ENTRY, loaded_entry
from ..const import DOMAIN
from .manager import LoadManager
from .setup import is_load_manager

DURATION = vol.All(cv.time_period, cv.positive_timedelta)
LOAD_MANAGER_SCHEMAS: dict[str, vol.Schema] = {
    "shed_now": vol.Schema(
        {
            **ENTRY,
            vol.Optional("level", default=2): vol.All(vol.Coerce(int), vol.Range(min=1, max=2)),
            vol.Optional("duration", default=timedelta(minutes=15)): DURATION,
        }
    ),
    "restore_all": vol.Schema(ENTRY),
    "set_limit": vol.Schema(
        {
            **ENTRY,
            vol.Required("limit_w"): vol.All(vol.Coerce(float), vol.Range(min=100)),
            vol.Required("duration"): DURATION,
        }
    ),
    "demand_response": vol.Schema(
        {
            **ENTRY,
            vol.Optional("level", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=3)),
            vol.Optional("limit_w"): vol.All(vol.Coerce(float), vol.Range(min=100)),
            vol.Required("duration"): DURATION,
        }
    ),
}


def _load_manager(call: ServiceCall) -> LoadManager:
    return loaded_entry(call, is_load_manager, "not_a_load_manager").runtime_data


async def _shed_now(call: ServiceCall) -> None:
    _load_manager(call).async_shed_now(call.data["level"], call.data["duration"])


async def _restore_all(call: ServiceCall) -> None:
    _load_manager(call).async_restore_all()


async def _set_limit(call: ServiceCall) -> None:
    _load_manager(call).async_set_temporary_limit(call.data["limit_w"], call.data["duration"])


async def _demand_response(call: ServiceCall) -> None:
    manager = _load_manager(call)
    manager.async_demand_response(
        expires_at=dt_util.now() + call.data["duration"],
        level=call.data["level"],
        limit_w=call.data.get("limit_w"),
    )


@callback
def async_setup_load_manager_services(hass: HomeAssistant) -> None:
    for name, handler in (
        ("shed_now", _shed_now),
        ("restore_all", _restore_all),
        ("set_limit", _set_limit),
        ("demand_response", _demand_response),
    ):
        hass.services.async_register(DOMAIN, name, handler, LOAD_MANAGER_SCHEMAS[name])
