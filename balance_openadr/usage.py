"""Hourly meter usage as OpenADR 3.1 reports, built so that a re-send is byte-for-byte the same.

A VEN queues a batch (a ``UsageBatch``: some meters' hours) before sending it and sends exactly the
stored batch again after an outage or a restart; a VTN that deduplicates by content (BALANCE's
does) then stores it once, and any VTN sees the same stable ``reportName``. Conventions are those
of docs/aggregator-api.md: one resource per meter, one PT1H interval per hour, valuesMap types
``USAGE`` (electricity, the spec's own) and ``USAGE_GAS``/``USAGE_WATER``/``USAGE_HEAT``, units
in the report's payloadDescriptors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

HOUR_S: Final = 3600
PAYLOAD_TYPES: Final = {
    "electricity": "USAGE",
    "gas": "USAGE_GAS",
    "water": "USAGE_WATER",
    "heat": "USAGE_HEAT",
}
UNITS: Final = {"electricity": "KWH", "gas": "M3", "water": "M3", "heat": "KWH"}


@dataclass(frozen=True, slots=True)
class MeterHour:
    meter: str
    """The resourceName: a stable name of the meter (BALANCE uses the sensor's entity id)."""
    kind: str
    hour: int
    """Epoch seconds of the hour's start (a multiple of 3600)."""
    value: float


def iso_hour(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_name(client_name: str, first_hour: int, last_hour: int) -> str:
    return f"usage {client_name} {iso_hour(first_hour)}/{iso_hour(last_hour + HOUR_S)}"


def usage_batch(client_name: str, readings: Iterable[MeterHour]) -> dict[str, Any] | None:
    """The report body without its eventID (the VEN adds the event it reports to at send time),
    or None when there is nothing to send. Readings that are not finite or not hourly are left
    out, never sent as garbage."""
    by_meter: dict[str, dict[int, MeterHour]] = {}
    for reading in readings:
        if reading.kind not in PAYLOAD_TYPES or reading.hour % HOUR_S:
            continue
        if not math.isfinite(reading.value):
            continue
        by_meter.setdefault(reading.meter, {})[reading.hour] = reading
    if not by_meter:
        return None
    hours = [h for meter in by_meter.values() for h in meter]
    kinds = sorted({r.kind for meter in by_meter.values() for r in meter.values()})
    resources = []
    for meter in sorted(by_meter):
        readings_of = [by_meter[meter][h] for h in sorted(by_meter[meter])]
        resources.append(
            {
                "resourceName": meter,
                "intervals": [
                    {
                        "id": position,
                        # every interval carries its own hour: a meter may have gaps
                        "intervalPeriod": {"start": iso_hour(r.hour), "duration": "PT1H"},
                        "payloads": [{"type": PAYLOAD_TYPES[r.kind], "values": [r.value]}],
                    }
                    for position, r in enumerate(readings_of)
                ],
            }
        )
    return {
        "clientName": client_name,
        "reportName": batch_name(client_name, min(hours), max(hours)),
        "payloadDescriptors": [
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": PAYLOAD_TYPES[kind],
                "readingType": "DIRECT_READ",
                "units": UNITS[kind],
            }
            for kind in kinds
        ],
        "resources": resources,
    }


def with_event(batch: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    return {"eventID": event_id, **batch}
