"""VEE before storage: what the head-end refuses to turn into consumption, and why.

Pure functions over a meter's position and what the network delivered, so every rule is tested
without sockets. A finding names the meter, the rule and the evidence; the worker counts it per
meter in the database (``headend_vee``), so counts survive restarts and are the same for every
replica. Nothing refused here is ever stored as a reading: the hour stays a gap, which only an
operator's request fills, with an estimate marked as one.

Rules (docs/aggregator-api.md, "VEE"):

- ``spike``: more units in an interval than the meter can physically pass (``max_per_hour`` of its
  kind times the hours elapsed);
- ``reverse_run``: a counter that went backwards (a step of 2**31 or more modulo 2**32);
- ``stale``: a live value older than one already applied for that meter;
- ``future``: a live value stamped more than an hour after the concentrator's clock;
- ``unknown_module``: a value from a module the concentrator's inventory does not list;
- ``unasked_hours`` / ``unasked_channel``: backlog records outside the hours or channels asked;
- ``conflicting_records``: two records for one hour that disagree (a page of another module);
- ``counter_mismatch``: a record for an hour already applied with another counter;
- ``gap``: hours the module itself no longer has (counted, not an error of the reading);
- ``stuck_register``: a counter that has not moved for ``stuck_days`` while most meters of its
  kind on the same concentrator (its street) did: flagged (counted, and an alarm), never
  rejected, since a meter may really stand still.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from balance_aggregator.storage.headend import HourValue, MeterRow, Position, VeeFinding
from dmesh_lib import HourlyCounter, MeterKind
from dmesh_lib.units import COUNTER_MODULO

REVERSE = COUNTER_MODULO // 2
#: what one meter of a kind can pass in an hour, in its unit: a 3 x 63 A supply (43.5 kW), a
#: DN20 water meter's Q4 (5 m³/h), a G10 gas meter's Qmax (16 m³/h), a house's heat (50 kW)
MAX_PER_HOUR: dict[MeterKind, float] = {
    MeterKind.ELECTRICITY: 45.0,
    MeterKind.WATER: 5.0,
    MeterKind.GAS: 16.0,
    MeterKind.HEAT: 50.0,
    MeterKind.UNKNOWN: 1e9,
}
KIND_NAMES: dict[MeterKind, str] = {
    MeterKind.ELECTRICITY: "electricity",
    MeterKind.WATER: "water",
    MeterKind.GAS: "gas",
    MeterKind.HEAT: "heat",
    MeterKind.UNKNOWN: "pulses",
}
#: the VTN's unit names (OpenADR spells kWh "KWH")
UNITS: dict[MeterKind, str] = {
    MeterKind.ELECTRICITY: "KWH",
    MeterKind.WATER: "M3",
    MeterKind.GAS: "M3",
    MeterKind.HEAT: "KWH",
    MeterKind.UNKNOWN: "PULSES",
}
FUTURE_SLACK_S = 3600


def delta(previous: int, current: int) -> int:
    return (current - previous) % COUNTER_MODULO


@dataclass(slots=True)
class BacklogOutcome:
    values: list[HourValue] = field(default_factory=list)
    position: Position | None = None
    findings: list[VeeFinding] = field(default_factory=list)


def _too_much(meter: MeterRow, pulses: int, hours: float) -> bool:
    # one pulse of slack: a counter snapshot may land just after a pulse
    return pulses > meter.max_per_hour * meter.pulses_per_unit * max(hours, 0.0) + 1


def apply_backlog(
    meter: MeterRow,
    records: Iterable[HourlyCounter],
    *,
    first_hour: int,
    last_hour: int,
    since_hour: int,
    at: float,
) -> BacklogOutcome:
    """Turn the hourly counters of one channel into the values of the hours not yet stored.

    Hour ``h``'s value is ``counter(h + 1) - counter(h)``; only consecutive counters make a value,
    so every stored value is exact and each hour is produced at most once (the position moves
    past it in the same transaction)."""
    out = BacklogOutcome()
    ch = meter.channel

    def find(rule: str, detail: str) -> None:
        out.findings.append(VeeFinding(meter.module_serial, ch, rule, detail, at))

    by_hour: dict[int, set[int]] = {}
    outside: list[int] = []
    for r in records:
        if not first_hour <= r.hour <= last_hour:
            outside.append(r.hour)
            continue
        by_hour.setdefault(r.hour, set()).add(r.counter)
    if outside:
        find(
            "unasked_hours",
            f"{len(outside)} records outside {first_hour}..{last_hour}: {sorted(outside)[:5]}",
        )
    conflicting = sorted(h for h, cs in by_hour.items() if len(cs) > 1)
    if conflicting:
        find("conflicting_records", f"hours with disagreeing counters: {conflicting[:5]}")
    clean = sorted((h, next(iter(cs))) for h, cs in by_hour.items() if len(cs) == 1)

    prev: tuple[int, int] | None = None
    if meter.counter_hour is not None and meter.counter is not None:
        prev = (meter.counter_hour, meter.counter)
    initial = (
        (meter.initial_hour, meter.initial_counter)
        if meter.initial_hour is not None and meter.initial_counter is not None
        else None
    )
    moved = False
    gaps: list[tuple[int, int]] = []
    for hour, counter in clean:
        if hour < since_hour:
            continue
        if prev is None:
            prev = (hour, counter)
            initial = initial or prev
            moved = True
            continue
        p_hour, p_counter = prev
        if hour <= p_hour:
            if hour == p_hour and counter != p_counter:
                find("counter_mismatch", f"hour {hour}: {counter} but {p_counter} was applied")
            continue
        step = delta(p_counter, counter)
        span = hour - p_hour
        if step >= REVERSE:
            find("reverse_run", f"hour {p_hour}->{hour}: {p_counter} -> {counter}")
        elif _too_much(meter, step, span):
            find(
                "spike",
                f"hour {p_hour}->{hour}: {step / meter.pulses_per_unit:g} {meter.unit}"
                f" > {meter.max_per_hour:g}/h",
            )
        elif span == 1:
            out.values.append(
                HourValue(meter.module_serial, ch, meter.kind, p_hour, step / meter.pulses_per_unit)
            )
        else:
            gaps.append((p_hour + 1, hour - 1))
        prev = (hour, counter)
        moved = True
    if gaps:
        find("gap", f"hours the module no longer has: {gaps[:5]}")
    if moved and prev is not None:
        assert initial is not None
        out.position = Position(meter.module_serial, ch, prev[0], prev[1], initial[0], initial[1])
    return out


def check_live(
    meter: MeterRow, timestamp: int, counter: int, now: int, at: float
) -> VeeFinding | None:
    """The finding that refuses a live value, or None when it may be applied."""
    ch = meter.channel

    def find(rule: str, detail: str) -> VeeFinding:
        return VeeFinding(meter.module_serial, ch, rule, detail, at)

    if meter.live_ts is not None and timestamp < meter.live_ts:
        return find("stale", f"frame of {timestamp} after one of {meter.live_ts} was applied")
    if meter.counter_hour is not None and timestamp < meter.counter_hour * 3600:
        return find("stale", f"frame of {timestamp} before hour {meter.counter_hour} was applied")
    if timestamp > now + FUTURE_SLACK_S:
        return find("future", f"frame of {timestamp}, concentrator time {now}")
    ref: tuple[int, int] | None = None
    if meter.live_ts is not None and meter.live_counter is not None:
        ref = (meter.live_ts, meter.live_counter)
    elif meter.counter_hour is not None and meter.counter is not None:
        ref = (meter.counter_hour * 3600, meter.counter)
    if ref is None or timestamp < ref[0]:
        return None
    step = delta(ref[1], counter)
    if step >= REVERSE:
        return find("reverse_run", f"{ref[1]} at {ref[0]} -> {counter} at {timestamp}")
    if _too_much(meter, step, (timestamp - ref[0]) / 3600):
        return find(
            "spike",
            f"{step / meter.pulses_per_unit:g} {meter.unit} in {timestamp - ref[0]} s",
        )
    return None


Key = tuple[int, int]


def stuck_registers(
    flat_since: Mapping[Key, int | None],
    kinds: Mapping[Key, str],
    now_hour: int,
    hours: int,
    *,
    min_neighbours: int = 2,
) -> set[Key]:
    """The meters whose counter has stood still for ``hours`` while their neighbours moved.

    ``flat_since`` is, per meter, the first hour of its current run of zero values (None: its last
    value was not zero; a meter not in it is unknown). A meter is stuck when that run is at least
    ``hours`` long and, of the other meters of its kind, at least ``min_neighbours`` are known and
    more than half of those moved within the run's last ``hours``."""
    stuck: set[Key] = set()
    for key, since in flat_since.items():
        if since is None or now_hour - since < hours:
            continue
        others = [
            other for k, other in flat_since.items() if k != key and kinds.get(k) == kinds.get(key)
        ]
        moving = sum(o is None or now_hour - o < hours for o in others)
        if len(others) >= min_neighbours and 2 * moving > len(others):
            stuck.add(key)
    return stuck


def estimate_hours(missing: Sequence[int], measured: dict[int, float]) -> dict[int, float]:
    """Values for ``missing`` hours (indices) from measured ones: the mean of the same hour of
    day in the week before, else of the nearest measured hours on both sides, else 0."""
    out: dict[int, float] = {}
    known = sorted(measured)
    for hour in missing:
        same = [measured[hour - 24 * d] for d in range(1, 8) if hour - 24 * d in measured]
        if same:
            out[hour] = sum(same) / len(same)
            continue
        before = [h for h in known if h < hour][-1:]
        after = [h for h in known if h > hour][:1]
        near = [measured[h] for h in before + after]
        out[hour] = sum(near) / len(near) if near else 0.0
    return out
