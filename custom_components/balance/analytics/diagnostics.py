"""Diagnostics of the household analytics: settings, what each meter has seen, current findings."""

from __future__ import annotations

import math
from typing import Any

from homeassistant.components.diagnostics import async_redact_data

from .manager import AnalyticsManager

# entity ids name the household's devices; nothing else here identifies it
TO_REDACT = {"entity_id"}


def analytics_diagnostics(manager: AnalyticsManager) -> dict[str, Any]:
    meters: dict[str, Any] = {}
    for key, meter in manager.meters.items():
        series = meter.journal.series()
        known = sum(1 for v in series.values.tolist() if math.isfinite(v))
        meters[key] = {
            "entity_id": meter.entity_id,
            "carrier": meter.carrier.value,
            "power_source": meter.source.power,
            "hours": len(series),
            "known_hours": known,
            "last_reading": meter.journal.last_time,
            "findings": {k.value: f.as_attributes() for k, f in meter.findings.items()},
            "tariff_zones": list(meter.tariffs.plan.zone_names) if meter.tariffs else None,
        }
    return async_redact_data(
        {"away_since": manager.away_since, "currency": manager.currency, "meters": meters},
        TO_REDACT,
    )
