"""Diagnostics: what the integration knows of the concentrator, its modules and the link."""

from __future__ import annotations

from collections import Counter
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from dmesh_lib.validation import Rejection

from ..const import TO_REDACT, module_key
from .coordinator import BalanceConfigEntry


async def async_get_concentrator_diagnostics(
    hass: HomeAssistant, entry: BalanceConfigEntry
) -> dict[str, Any]:
    coordinator = entry.runtime_data.coordinator
    client = entry.runtime_data.client
    identity = client.identity
    guard = client.guard.stats
    modules: list[dict[str, Any]] = []
    indices = {serial: index for index, serial in enumerate(coordinator.modules)}
    for index, module in enumerate(coordinator.modules.values()):
        info = module.info
        modules.append(
            {
                "index": index,
                "type": info.module_type.name,
                "firmware": info.firmware,
                "hop": info.hop,
                "online": info.online,
                "group": info.group,
                "sensors": [k.name for k in info.sensors.kinds()],
                "health": None
                if module.health is None
                else {
                    "battery_pct": module.health.battery_pct,
                    "battery_mv": module.health.battery_mv,
                    "rssi": module.health.rssi,
                    "lqi": module.health.lqi,
                },
                "meters": [
                    {
                        "channel": channel + 1,
                        "kind": meter.kind.name,
                        "pulses_per_unit": meter.config.pulses_per_unit if meter.config else None,
                        "configured": meter.totalizer is not None,
                        "faults": meter.faults.name if meter.faults else None,
                        "rejected": _counts(guard.by_meter.get((module.serial, channel))),
                    }
                    for channel, meter in module.meters.items()
                ],
                "rejected": _counts(guard.by_module.get(module.serial)),
            }
        )
    return async_redact_data(
        {
            "entry": {
                "data": dict(entry.data),
                "options": dict(entry.options),
                "title": entry.title,
            },
            "concentrator": None
            if identity is None
            else {
                "serial": module_key(identity.serial),
                "firmware": identity.firmware,
                "max_modules": identity.max_modules,
                "power_source": identity.power_source.name,
            },
            "connected": coordinator.connected,
            "reconnects": client.reconnects,
            "link": {k: v for k, v in client.link_stats.items() if k != "timeout_s"},
            "modules": modules,
            # What the client refused (dmesh_lib.validation): modules by their index above,
            # "unknown" for serials outside the inventory; serials themselves are not shown.
            "rejections": {
                "accepted": guard.accepted,
                "total": guard.total_rejected,
                "by_reason": _counts(guard.rejected),
                "unknown_modules": sum(
                    sum(c.values())
                    for serial, c in guard.by_module.items()
                    if serial not in indices
                ),
                "recent": [
                    {
                        "reason": r.reason.value,
                        "module": indices.get(r.module, "unknown"),
                        "message": r.message,
                        "channel": None if r.channel is None else r.channel + 1,
                        "value": r.value,
                        "timestamp": r.timestamp,
                        "detail": r.detail,
                    }
                    for r in guard.recent
                ],
            },
            "backfill": [
                {
                    "hours": result.hours,
                    "deferred": result.deferred_from is not None,
                    "skipped_reason": result.skipped_reason,
                }
                for _, result in sorted(coordinator.last_backfill.items())
            ],
        },
        TO_REDACT,
    )


def _counts(counter: Counter[Rejection] | None) -> dict[str, int]:
    return {} if counter is None else {r.value: n for r, n in sorted(counter.items())}
