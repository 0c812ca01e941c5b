"""What a VEN report carries for BALANCE: hourly meter usage and answers to DR events.

Conventions (documented in docs/aggregator-api.md):
- hourly usage: valuesMap type ``USAGE`` (electricity, the spec's own type) or the private types
  ``USAGE_GAS``, ``USAGE_WATER``, ``USAGE_HEAT``; units from the report's payloadDescriptor for that
  payload type (KWH, M3, GCAL, ...); one interval per hour (duration PT1H), resourceName = meter.
- acknowledgement: type ``ACKNOWLEDGED`` with values [time the VEN received the event (RFC 3339),
  channel ("MQTT", "POLL", "WEBHOOK")]; opt-out: type ``OPT_OUT`` with values [true | false].
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from balance_aggregator.storage import Delivery, ReadingRow
from balance_openadr.models import ReportRequest
from balance_openadr.times import parse_datetime, parse_duration

USAGE_KINDS = {
    "USAGE": "electricity",
    "USAGE_ELECTRICITY": "electricity",
    "USAGE_GAS": "gas",
    "USAGE_WATER": "water",
    "USAGE_HEAT": "heat",
}
DEFAULT_UNITS = {"electricity": "KWH", "gas": "M3", "water": "M3", "heat": "GCAL"}
HOUR = timedelta(hours=1)


def extract_readings(report: ReportRequest, ven_id: str, report_id: str) -> list[ReadingRow]:
    units = {
        d.payload_type: d.units for d in report.payload_descriptors or () if d.units is not None
    }
    rows: list[ReadingRow] = []
    for resource in report.resources:
        default = resource.interval_period
        for position, interval in enumerate(resource.intervals):
            period = interval.interval_period or default
            if period is None or period.start is None:
                continue
            duration = parse_duration(period.duration or "PT1H")
            if duration != HOUR:
                continue
            start = parse_datetime(period.start)
            if interval.interval_period is None or interval.interval_period.start is None:
                start += position * HOUR
            epoch = int(start.timestamp())
            if epoch % 3600:
                continue
            for payload in interval.payloads:
                kind = USAGE_KINDS.get(payload.type)
                if kind is None or not payload.values:
                    continue
                value = payload.values[0]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                rows.append(
                    ReadingRow(
                        ven_id=ven_id,
                        resource_name=resource.resource_name,
                        kind=kind,
                        unit=units.get(payload.type) or DEFAULT_UNITS[kind],
                        hour=epoch,
                        value=float(value),
                        report_id=report_id,
                    )
                )
    return rows


def extract_deliveries(
    report: ReportRequest,
    *,
    ven_id: str,
    client_id: str,
    event_created_at: float,
    now: float,
) -> list[Delivery]:
    status: str | None = None
    received_at = now
    channel: str | None = None
    for resource in report.resources:
        for interval in resource.intervals:
            for payload in interval.payloads:
                values: list[Any] = list(payload.values)
                if payload.type == "ACKNOWLEDGED":
                    status = status or "ACK"
                    if values and isinstance(values[0], str):
                        try:
                            received_at = parse_datetime(values[0]).timestamp()
                        except ValueError:
                            received_at = now
                    if len(values) > 1 and isinstance(values[1], str):
                        channel = values[1][:16]
                elif payload.type == "OPT_OUT" and values:
                    status = "OPT_OUT" if values[0] is True else "OPT_IN"
    if status is None:
        return []
    latency = received_at - event_created_at if status == "ACK" else None
    return [
        Delivery(
            event_id=report.event_id,
            ven_id=ven_id,
            client_id=client_id,
            status=status,
            received_at=received_at,
            latency_s=latency,
            channel=channel,
        )
    ]
