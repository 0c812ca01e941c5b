"""What OpenADR 3 events ask of a house, at a given moment: a VEN's reading of its events.

HA-free and typed, so the Home Assistant VEN stays a thin adapter and any other VEN can reuse it.
Works on the JSON objects any 3.0.1 or 3.1 VTN returns:

- ``SIMPLE`` (level 0-3: 1 = green loads off, 2 = yellow too, 3 = all but red),
  ``IMPORT_CAPACITY_LIMIT`` (a house limit, in the units of the event's payloadDescriptor, KW by
  default) and ``PRICE`` (currency and units from the payloadDescriptor); other payloads are
  ignored, as the spec lets a VEN do.
- Intervals take their period from their own ``intervalPeriod`` or from the event's; an interval
  without a start of its own follows the previous one (the User Guide's "sequential intervals").
  A start of 0001-01-01 means "now" (when the VEN received the event), ``P9999Y`` means open-ended.
- Targets: 3.1 target strings or 3.0.1 valuesMaps; an event with targets applies only when one
  of them is the VEN's (when the VEN knows its targets: a VTN that hides targets has filtered).

Malformed parts never raise: an interval that cannot be read is skipped and named in
``EventSlots.problems`` so the caller can log it; a whole event that cannot be read has no slots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .times import parse_datetime, parse_duration

NOW_START = datetime(1, 1, 1, tzinfo=UTC)
"""The spec's "start now" marker."""
MAX_LEVEL = 3
_WATTS_PER_UNIT = {"W": 1.0, "KW": 1000.0, "MW": 1_000_000.0}


@dataclass(frozen=True, slots=True)
class Slot:
    """One interval of one event: what it asks for from ``start`` until ``end`` (None: no end)."""

    event_id: str
    start: datetime
    end: datetime | None
    level: int | None = None
    limit_w: float | None = None
    price: float | None = None

    def active(self, now: datetime) -> bool:
        return self.start <= now and (self.end is None or now < self.end)

    @property
    def asks_anything(self) -> bool:
        return self.level is not None or self.limit_w is not None or self.price is not None


@dataclass(frozen=True, slots=True)
class EventSlots:
    event_id: str
    name: str | None
    priority: int | None
    currency: str | None
    price_units: str | None
    slots: tuple[Slot, ...]
    problems: tuple[str, ...] = ()

    @property
    def start(self) -> datetime | None:
        return min((s.start for s in self.slots), default=None)

    @property
    def end(self) -> datetime | None:
        """End of the last interval; None while any interval is open-ended or there are none."""
        if not self.slots or any(s.end is None for s in self.slots):
            return None
        return max(s.end for s in self.slots if s.end is not None)


@dataclass(frozen=True, slots=True)
class Signal:
    """Everything in force at one moment, combined over the events that apply."""

    active_events: tuple[str, ...] = ()
    level: int = 0
    limit_w: float | None = None
    price: float | None = None
    currency: str | None = None
    price_units: str | None = None
    dr_until: datetime | None = None
    """When the level and limit stop (the earliest end of the slots that set them)."""
    next_start: datetime | None = None
    """Start of the next slot that asks for something, after now."""
    next_change: datetime | None = None
    """The next moment the signal may differ: the caller re-evaluates then."""
    event_names: dict[str, str] = field(default_factory=dict)

    @property
    def dr_active(self) -> bool:
        return self.level > 0 or self.limit_w is not None


def target_strings(targets: object) -> set[str]:
    """3.1 target strings, or the values of 3.0.1 valuesMaps (``{"type", "values"}``)."""
    found: set[str] = set()
    if not isinstance(targets, list):
        return found
    for target in targets:
        if isinstance(target, str):
            found.add(target)
        elif isinstance(target, Mapping):
            found.update(v for v in _list(target.get("values")) if isinstance(v, str))
    return found


def applies_to(event: Mapping[str, Any], own_targets: Iterable[str]) -> bool:
    wanted = target_strings(event.get("targets"))
    mine = set(own_targets)
    return not wanted or not mine or bool(wanted & mine)


def _period(raw: object) -> tuple[datetime | None, timedelta | None, bool]:
    """(start, duration, open-ended) of an intervalPeriod; missing parts are None."""
    if not isinstance(raw, Mapping):
        return None, None, False
    start = parse_datetime(raw["start"]) if isinstance(raw.get("start"), str) else None
    duration: timedelta | None = None
    open_ended = False
    if isinstance(raw.get("duration"), str):
        duration = parse_duration(raw["duration"])
        open_ended = duration is None
        if duration is not None and duration < timedelta(0):
            raise ValueError(f"negative duration {raw['duration']!r}")
    return start, duration, open_ended


def _number(values: object) -> float | None:
    if not isinstance(values, list) or not values:
        return None
    value = values[0]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _descriptors(event: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for descriptor in _list(event.get("payloadDescriptors")):
        if isinstance(descriptor, Mapping) and isinstance(descriptor.get("payloadType"), str):
            found[descriptor["payloadType"]] = descriptor
    return found


def _payloads(
    payloads: object, watts_per_unit: float
) -> tuple[int | None, float | None, float | None]:
    level: int | None = None
    limit: float | None = None
    price: float | None = None
    for payload in _list(payloads):
        if not isinstance(payload, Mapping):
            continue
        kind, values = payload.get("type"), payload.get("values")
        if kind == "SIMPLE":
            number = _number(values)
            if number is not None:
                if number != int(number) or not 0 <= number <= MAX_LEVEL:
                    raise ValueError(f"SIMPLE level must be 0-{MAX_LEVEL}, got {number}")
                level = int(number)
        elif kind == "IMPORT_CAPACITY_LIMIT":
            number = _number(values)
            if number is not None:
                if number < 0:
                    raise ValueError(f"negative capacity limit {number}")
                limit = number * watts_per_unit
        elif kind == "PRICE":
            price = _number(values)
    return level, limit, price


def read_event(event: Mapping[str, Any], received_at: datetime) -> EventSlots:
    """The slots of one event object; ``received_at`` stands in for a start of "now"."""
    event_id = str(event.get("id", ""))
    problems: list[str] = []
    descriptors = _descriptors(event)
    units = descriptors.get("IMPORT_CAPACITY_LIMIT", {}).get("units")
    watts_per_unit = _WATTS_PER_UNIT.get(str(units).upper(), 1000.0) if units else 1000.0
    price_descriptor = descriptors.get("PRICE", {})
    try:
        default_start, default_duration, default_open = _period(event.get("intervalPeriod"))
    except (ValueError, KeyError, TypeError) as err:
        return EventSlots(event_id, None, None, None, None, (), (f"intervalPeriod: {err}",))
    slots: list[Slot] = []
    previous_end: datetime | None = default_start
    for position, interval in enumerate(_list(event.get("intervals"))):
        try:
            if not isinstance(interval, Mapping):
                raise ValueError("not an object")
            start, duration, open_ended = _period(interval.get("intervalPeriod"))
            start = start or previous_end
            if duration is None and not open_ended:
                duration, open_ended = default_duration, default_open
            if start is None:
                raise ValueError("no start in the interval or the event")
            if start == NOW_START:
                start = received_at
            end = None if open_ended or duration is None else start + duration
        except (ValueError, KeyError, TypeError, OverflowError) as err:
            problems.append(f"interval {position}: {err}")
            previous_end = None  # the intervals after it have no start to follow
            continue
        previous_end = end
        try:
            level, limit, price = _payloads(interval.get("payloads"), watts_per_unit)
        except (ValueError, TypeError) as err:
            problems.append(f"interval {position}: {err}")
            continue
        slots.append(Slot(event_id, start, end, level, limit, price))
    name = event.get("eventName")
    priority = event.get("priority")
    currency = price_descriptor.get("currency")
    price_units = price_descriptor.get("units")
    return EventSlots(
        event_id,
        name if isinstance(name, str) else None,
        priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
        currency if isinstance(currency, str) else None,
        price_units if isinstance(price_units, str) else None,
        tuple(slots),
        tuple(problems),
    )


def _rank(event: EventSlots) -> tuple[int, str]:
    # A lower number is a higher priority (3.1 eventRequest.priority); none ranks last.
    return (event.priority if event.priority is not None else 1 << 30, event.event_id)


def signal_at(events: Sequence[EventSlots], now: datetime) -> Signal:
    """Combine the events in force at ``now``: the highest level, the lowest limit, and the price
    of the highest-priority event that has one."""
    level = 0
    limit: float | None = None
    dr_ends: list[datetime | None] = []
    price: tuple[tuple[int, str], float, EventSlots] | None = None
    active: list[str] = []
    changes: list[datetime] = []
    next_start: datetime | None = None
    for event in events:
        for slot in event.slots:
            if slot.start > now:
                changes.append(slot.start)
                if slot.asks_anything and (next_start is None or slot.start < next_start):
                    next_start = slot.start
                continue
            if not slot.active(now):
                continue
            if slot.end is not None:
                changes.append(slot.end)
            if event.event_id not in active:
                active.append(event.event_id)
            if slot.level is not None and slot.level > 0:
                level = max(level, slot.level)
                dr_ends.append(slot.end)
            if slot.limit_w is not None:
                limit = slot.limit_w if limit is None else min(limit, slot.limit_w)
                dr_ends.append(slot.end)
            if slot.price is not None and (price is None or _rank(event) < price[0]):
                price = (_rank(event), slot.price, event)
    # An open-ended request holds until the VTN ends it: then there is no "until".
    finite = [end for end in dr_ends if end is not None]
    dr_until = min(finite) if finite and len(finite) == len(dr_ends) else None
    return Signal(
        active_events=tuple(active),
        level=level,
        limit_w=limit,
        price=None if price is None else price[1],
        currency=None if price is None else price[2].currency,
        price_units=None if price is None else price[2].price_units,
        dr_until=dr_until,
        next_start=next_start,
        next_change=min(changes, default=None),
        event_names={e.event_id: e.name for e in events if e.name and e.event_id in active},
    )


def usage_event(events: Iterable[Mapping[str, Any]], payload_types: Iterable[str]) -> str | None:
    """The event that asks for hourly usage: its reportDescriptors name one of ``payload_types``.
    OpenADR ties every report to an event, so a utility that wants meter data publishes one (a
    long-running "metering" event); the newest such event wins."""
    wanted = set(payload_types)
    found: list[tuple[str, str]] = []
    for event in events:
        for descriptor in _list(event.get("reportDescriptors")):
            if isinstance(descriptor, Mapping) and descriptor.get("payloadType") in wanted:
                found.append((str(event.get("createdDateTime", "")), str(event["id"])))
                break
    return max(found)[1] if found else None
