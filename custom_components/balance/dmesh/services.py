"""Actions: read now, fetch backlog, relays, valves, meter readings and group broadcasts."""

from __future__ import annotations

from datetime import datetime

import probatio as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from dmesh_lib.messages import GroupAction

from ..common.services import ENTRY, loaded_entry
from ..const import DOMAIN, MAX_BACKFILL_HOURS
from .commands import command
from .coordinator import BalanceCoordinator, MeterData, ModuleData
from .setup import is_concentrator

ATTR_MODULE = "module"
ATTR_CHANNEL = "channel"


def _serial(value: object) -> int:
    try:
        return int(str(value), 16)
    except ValueError as err:
        raise vol.Invalid("module serial must be hexadecimal, e.g. 10000100") from err


MODULE = {**ENTRY, vol.Required(ATTR_MODULE): _serial}

SCHEMAS: dict[str, vol.Schema] = {
    "read_now": vol.Schema(MODULE),
    "fetch_backlog": vol.Schema(
        {
            **MODULE,
            vol.Required("start"): cv.datetime,
            vol.Optional("end"): cv.datetime,
        }
    ),
    "set_relay": vol.Schema({**MODULE, vol.Required("on"): cv.boolean}),
    "set_valve": vol.Schema({**MODULE, vol.Required("open"): cv.boolean}),
    "set_meter_reading": vol.Schema(
        {
            **MODULE,
            vol.Required(ATTR_CHANNEL): vol.All(vol.Coerce(int), vol.Range(min=1, max=3)),
            vol.Required("reading"): vol.All(vol.Coerce(float), vol.Range(min=0)),
        }
    ),
    "broadcast_group": vol.Schema(
        {
            **ENTRY,
            vol.Required("group"): vol.All(vol.Coerce(int), vol.Range(min=0, max=0xFFFF)),
            vol.Required("action"): vol.In(["shed", "restore"]),
            vol.Optional("level", default=1): vol.All(vol.Coerce(int), vol.Range(min=0, max=255)),
            vol.Optional("duration", default=0): vol.All(
                vol.Coerce(int), vol.Range(min=0, max=7 * 86400)
            ),
        }
    ),
}


def _coordinator(hass: HomeAssistant, call: ServiceCall) -> BalanceCoordinator:
    entry = loaded_entry(call, is_concentrator, "not_a_concentrator")
    return entry.runtime_data.coordinator


def _module(coordinator: BalanceCoordinator, call: ServiceCall) -> ModuleData:
    serial: int = call.data[ATTR_MODULE]
    module = coordinator.modules.get(serial)
    if module is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_module",
            translation_placeholders={"module": f"{serial:08X}"},
        )
    return module


def _meter(coordinator: BalanceCoordinator, call: ServiceCall) -> MeterData:
    module = _module(coordinator, call)
    channel = call.data[ATTR_CHANNEL] - 1
    meter = module.meters.get(channel)
    if meter is None or meter.totalizer is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_meter",
            translation_placeholders={
                "module": f"{module.serial:08X}",
                "channel": str(channel + 1),
            },
        )
    return meter


async def _read_now(call: ServiceCall) -> None:
    coordinator = _coordinator(call.hass, call)
    module = _module(coordinator, call)
    await command(module.serial, coordinator.client.read_now(module.serial))


async def _fetch_backlog(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    module = _module(coordinator, call)
    start: datetime = dt_util.as_utc(call.data["start"])
    end: datetime = dt_util.as_utc(call.data.get("end") or dt_util.utcnow())
    first, last = int(start.timestamp()) // 3600, int(end.timestamp()) // 3600
    if last < first or last - first > MAX_BACKFILL_HOURS:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="bad_range")
    per_channel = await command(
        module.serial, coordinator.async_backfill_module(module.serial, first, last)
    )
    # Per meter as well as in total: each meter's import depends on its own recorder rows.
    meters: dict[str, JsonValueType] = {
        entity_id: hours
        for channel, hours in per_channel.items()
        if (entity_id := module.meters[channel].entity_id) is not None
    }
    return {"imported_hours": sum(per_channel.values()), "meters": meters}


async def _set_relay(call: ServiceCall) -> None:
    coordinator = _coordinator(call.hass, call)
    module = _module(coordinator, call)
    await command(module.serial, coordinator.client.set_relay(module.serial, call.data["on"]))


async def _set_valve(call: ServiceCall) -> None:
    coordinator = _coordinator(call.hass, call)
    module = _module(coordinator, call)
    await command(module.serial, coordinator.client.set_valve(module.serial, call.data["open"]))


async def _set_meter_reading(call: ServiceCall) -> None:
    coordinator = _coordinator(call.hass, call)
    coordinator.set_meter_reading(_meter(coordinator, call), call.data["reading"])


async def _broadcast(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    action = GroupAction.SHED if call.data["action"] == "shed" else GroupAction.RESTORE
    outcome = await command(
        0,
        coordinator.client.broadcast(
            call.data["group"], action, call.data["level"], call.data["duration"]
        ),
    )
    return {
        "reached": outcome.reached,
        "modules": [f"{ack.module:08X}" for ack in outcome.acks],
        "latency_s": round(outcome.latency_s, 3),
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    hass.services.async_register(DOMAIN, "read_now", _read_now, SCHEMAS["read_now"])
    hass.services.async_register(
        DOMAIN,
        "fetch_backlog",
        _fetch_backlog,
        SCHEMAS["fetch_backlog"],
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(DOMAIN, "set_relay", _set_relay, SCHEMAS["set_relay"])
    hass.services.async_register(DOMAIN, "set_valve", _set_valve, SCHEMAS["set_valve"])
    hass.services.async_register(
        DOMAIN, "set_meter_reading", _set_meter_reading, SCHEMAS["set_meter_reading"]
    )
    hass.services.async_register(
        DOMAIN,
        "broadcast_group",
        _broadcast,
        SCHEMAS["broadcast_group"],
        supports_response=SupportsResponse.OPTIONAL,
    )
