"""Diagnostics of a load manager: its configuration, the engine's state and the latency."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .manager import LoadManagerConfigEntry


async def async_get_load_manager_diagnostics(
    hass: HomeAssistant, entry: LoadManagerConfigEntry
) -> dict[str, Any]:
    manager = entry.runtime_data
    status = manager.engine.status
    return {
        "entry": {"data": dict(entry.data), "options": dict(entry.options)},
        "sockets": [
            {
                "socket_id": socket.socket_id,
                "entity_id": socket.entity_id,
                "colour": socket.config.colour.name.lower(),
                "power_w": socket.config.power_w,
                "max_off_s": socket.config.max_off_s,
                "run_s": socket.run_s,
                "deadline": None if socket.deadline is None else socket.deadline.isoformat(),
            }
            for socket in manager.sockets.values()
        ],
        "status": {
            "mode": status.mode.value,
            "limit_w": status.limit.watts if status.limit.watts != float("inf") else None,
            "limit_source": status.limit.source.value,
            "dr_level": status.dr_level,
            "total_w": status.total_w,
            "effective_w": status.effective_w,
            "headroom_w": status.headroom_w,
            "reading_stale": status.reading_stale,
            "shedding": status.shedding,
            "held": list(status.held),
            "unmet": status.unmet,
        },
        "engine_state": manager.engine.to_dict(),
        "restored_from_storage": manager.restored_from_storage,
        "next_wake": None
        if (wake := manager.next_wake(dt_util.now())) is None
        else wake.isoformat(),
        "decisions": [
            {
                "socket_id": d.socket_id,
                "action": d.action.value,
                "cause": d.cause.name.lower(),
                "reason": d.reason,
                "advisory": d.advisory,
                "at": d.at.isoformat(),
            }
            for d in manager.decisions
        ],
        "reaction": {
            **manager.reaction_stats(),
            "recent": [
                {
                    "trigger": r.trigger,
                    "socket_id": r.socket_id,
                    "cause": r.cause.name.lower(),
                    "call_ms": round(r.call_ms, 3),
                    "done_ms": None if r.done_ms is None else round(r.done_ms, 3),
                }
                for r in list(manager.reactions)[-10:]
            ],
        },
        "command_errors": manager.command_errors,
    }
