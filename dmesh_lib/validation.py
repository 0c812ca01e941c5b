"""What the field may tell a host: the one place where DMesh events are checked before use.

A frame with a valid CRC proves only that its bytes were not damaged on the line; it says nothing
about whether a module really measured what it carries. :class:`ReadingGuard` admits an event
only when it fits what the host knows (docs/dmesh-protocol.md §7):

* the module is in the inventory (a module joins it by its MODULE_ANNOUNCE);
* its timestamp is neither 0 nor 0xFFFFFFFF, at most ``max_future_s`` ahead of the host clock and
  at most ``max_age_s`` behind it, and not older than one already applied for the same source;
* a counter moves forward only by what the meter behind it can physically count since the last
  accepted value: its kind's maximum rate (:data:`MAX_RATE_PER_HOUR`) times the elapsed time, in
  pulses through the meter constant, with the documented slack — never backwards;
* sensor values are within what the sensor can measure; alarms are 0 or 1.

A rejected value never moves a reference, so the next good value counts from the last good one.
Every rejection is counted per reason, per module and per meter, kept in a short list of recent
ones, and passed to listeners: the client's monitor, Home Assistant's diagnostics and a head-end
read the same counters.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .messages import (
    CHANNELS_PER_MODULE,
    BacklogRecords,
    ChannelKind,
    ChannelStatus,
    FetchBacklog,
    Message,
    MeterReading,
    ModuleAnnounce,
    ModuleHealth,
    ModuleInfo,
    ModuleLeave,
    RelayState,
    SensorKind,
    SensorReport,
    ValveState,
)
from .units import COUNTER_MODULO, MeterConfig, MeterKind

_HALF_RANGE = COUNTER_MODULO // 2
MAX_HOPS = 30


class Rejection(StrEnum):
    """Why an event, or a value in it, was not passed on."""

    UNKNOWN_MODULE = "unknown_module"
    """The module is not in the inventory and did not announce itself."""
    NOT_FITTED = "not_fitted"
    """The inventory says the module has no such input (a counter on a relay output, a sensor
    the module does not carry)."""
    BAD_TIMESTAMP = "bad_timestamp"
    """0, 0xFFFFFFFF, ahead of the host clock or older than any live report can be."""
    STALE = "stale"
    """Older than a value already applied for the same source: a replay or a late copy."""
    BACKWARDS = "backwards"
    """A counter below the reference; meters do not run backwards (a replaced module is
    re-referenced explicitly)."""
    TOO_FAST = "too_fast"
    """More pulses than the meter can count in the time since the reference."""
    OUT_OF_RANGE = "out_of_range"
    """A sensor or health value the hardware cannot produce."""
    UNREQUESTED = "unrequested"
    """A backlog record for a module, channel or hour that was not asked for."""
    CONFLICT = "conflict"
    """The same backlog hour twice with different counters."""


MAX_RATE_PER_HOUR: dict[MeterKind, float] = {
    MeterKind.ELECTRICITY: 50.0,
    # kWh/h = kW: a three-phase 63 A household connection is √3 · 400 V · 63 A ≈ 43.6 kW.
    MeterKind.WATER: 6.0,
    # m³/h: a DN20/DN25 service pipe; Q4 (overload flow) of a Q3 = 4 m³/h meter is 5 m³/h.
    MeterKind.GAS: 10.0,
    # m³/h: Qmax of a G6 diaphragm meter (G4: 6 m³/h).
    MeterKind.HEAT: 50.0,
    # kWh/h = kW: a flat's or a house's district-heating substation.
}
"""The most a meter of each kind can register per hour, in its unit."""

MAX_PULSE_RATE_HZ = 20.0
"""For a channel of unknown kind: an S0 output gives pulses of ≥ 30 ms with ≥ 30 ms pauses
(IEC 62053-31), at most ≈ 16.7 per second."""

SENSOR_RANGE: dict[SensorKind, tuple[int, int]] = {
    SensorKind.TEMPERATURE: (-400, 850),  # −40.0 … +85.0 °C, the sensor's rated range
    SensorKind.HUMIDITY: (0, 1000),  # 0 … 100.0 % RH
}
"""Raw value ranges; every other sensor kind is an alarm or presence flag, 0 or 1."""


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """The bounds and their slack (docs/dmesh-protocol.md §7)."""

    max_rate_per_hour: dict[MeterKind, float] = field(
        default_factory=lambda: dict(MAX_RATE_PER_HOUR)
    )
    max_pulse_rate_hz: float = MAX_PULSE_RATE_HZ
    rate_slack: float = 1.25
    """Multiplies every rate: meters are specified with tolerances, and installers round."""
    time_slack_s: float = 60.0
    """Added to every elapsed time: timestamps are whole seconds from a module's own clock,
    taken when the report is built, not when the pulses were counted."""
    pulse_slack: int = 10
    """Added to every bound: a pulse counted between snapshot and timestamp."""
    max_future_s: float = 7200.0
    """How far ahead of the host clock a timestamp may be. The host sets the concentrator's
    clock on connect, but a monitor does not, and firmware that keeps local time as UTC is two
    hours off in summer. Also bounds how long a clock corrected backwards rejects as stale."""
    max_age_s: float = 86_400.0
    """How far behind the host clock a live report may be; older hours come from the backlog."""
    unknown_elapsed_s: float = 45 * 86_400.0
    """Elapsed time assumed when a restored reference has no timestamp: the module's memory."""

    def max_pulses(self, config: MeterConfig | None, elapsed_s: float) -> int:
        """The most pulses the meter can count in ``elapsed_s`` seconds, slack included."""
        if config is None or config.kind not in self.max_rate_per_hour:
            per_second = self.max_pulse_rate_hz
        else:
            per_second = self.max_rate_per_hour[config.kind] / 3600.0 * config.pulses_per_unit
        seconds = max(0.0, elapsed_s) + self.time_slack_s
        return math.ceil(per_second * self.rate_slack * seconds) + self.pulse_slack


@dataclass(frozen=True, slots=True)
class RejectedValue:
    """One rejection, as counted and as shown in diagnostics and the monitor."""

    reason: Rejection
    module: int
    message: str
    """Message type name, e.g. ``MeterReading``."""
    channel: int | None = None
    value: int | None = None
    """The counter or sensor value that was refused, if there is one."""
    timestamp: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MeterReference:
    """The last accepted counter of a channel and its timestamp (None: restored without one)."""

    counter: int
    timestamp: int | None


@dataclass(slots=True)
class GuardStats:
    accepted: int = 0
    """Events passed on (a reading with some counters refused still counts as passed)."""
    rejected: Counter[Rejection] = field(default_factory=Counter)
    by_module: dict[int, Counter[Rejection]] = field(default_factory=dict)
    by_meter: dict[tuple[int, int], Counter[Rejection]] = field(default_factory=dict)
    recent: deque[RejectedValue] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())


class ReadingGuard:
    """Admits DMesh events that fit the inventory, the clock and the physics of the meters.

    ``lookup`` finds a module in the inventory (the client passes its own ``modules``); ``clock``
    is the host's unix time. The guard keeps a :class:`MeterReference` per channel and the time of
    the last applied event per source; :meth:`configure` and :meth:`reset` are the only ways to
    change a reference other than an accepted value.
    """

    def __init__(
        self,
        lookup: Callable[[int], ModuleInfo | None],
        *,
        clock: Callable[[], float] = time.time,
        limits: GuardLimits | None = None,
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self.limits = limits or GuardLimits()
        self.stats = GuardStats()
        self._configs: dict[tuple[int, int], MeterConfig] = {}
        self._references: dict[tuple[int, int], MeterReference] = {}
        self._last_applied: dict[tuple[int, str, int], int] = {}
        self._listeners: list[Callable[[RejectedValue], None]] = []

    # ------------------------------------------------------------------ configuration

    def configure(
        self,
        module: int,
        channel: int,
        config: MeterConfig,
        *,
        counter: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """The meter behind a channel: its kind and constant set the bound.

        With ``counter`` (restored state) that counter is the reference, at ``timestamp`` if
        known. Without it the reference already observed on this channel stays, or else the
        first value after the configuration becomes the reference.
        """
        self._configs[(module, channel)] = config
        if counter is not None:
            self._references[(module, channel)] = MeterReference(counter, timestamp)

    def reset(self, module: int, channel: int) -> None:
        """A replaced module or a reset counter: the next value becomes the reference."""
        self._references.pop((module, channel), None)

    def reference(self, module: int, channel: int) -> MeterReference | None:
        return self._references.get((module, channel))

    def on_rejection(self, listener: Callable[[RejectedValue], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ------------------------------------------------------------------ events

    def admit(self, message: Message) -> Message | None:
        """The event as it may be used — values that failed removed — or None if none may."""
        match message:
            case ModuleAnnounce(module=announced):
                if not 1 <= announced.hop <= MAX_HOPS:
                    self._reject(
                        Rejection.OUT_OF_RANGE,
                        announced.serial,
                        message,
                        detail=f"hop {announced.hop}",
                    )
                    return None
                return self._accept(message)
            case MeterReading():
                return self._reading(message)
            case SensorReport():
                return self._sensor_report(message)
            case ChannelStatus() | ModuleHealth():
                info = self._known(message.module, message)
                if info is None:
                    return None
                if isinstance(message, ModuleHealth) and (
                    message.battery_pct > 100 or not 1 <= message.hop <= MAX_HOPS
                ):
                    self._reject(
                        Rejection.OUT_OF_RANGE,
                        message.module,
                        message,
                        detail=f"battery {message.battery_pct} %, hop {message.hop}",
                    )
                    return None
                key = self._fresh(message)
                if key is None:
                    return None
                self._last_applied[key] = message.timestamp
                return self._accept(message)
            case RelayState(module=serial, output=output):
                info = self._known(serial, message)
                if info is None:
                    return None
                if output >= CHANNELS_PER_MODULE or info.channels[output].kind != ChannelKind.RELAY:
                    self._reject(Rejection.NOT_FITTED, serial, message, channel=output)
                    return None
                return self._accept(message)
            case ValveState(module=serial) | ModuleLeave(module=serial):
                if self._known(serial, message) is None:
                    return None
                return self._accept(message)
        return message

    def _known(self, serial: int, message: Message) -> ModuleInfo | None:
        info = self._lookup(serial)
        if info is None:
            self._reject(Rejection.UNKNOWN_MODULE, serial, message)
        return info

    def _timestamp_ok(self, serial: int, message: Message, timestamp: int) -> bool:
        now = self._clock()
        if (
            timestamp in (0, 0xFFFFFFFF)
            or timestamp > now + self.limits.max_future_s
            or timestamp < now - self.limits.max_age_s
        ):
            self._reject(
                Rejection.BAD_TIMESTAMP,
                serial,
                message,
                timestamp=timestamp,
                detail=f"host clock {int(now)}",
            )
            return False
        return True

    def _fresh(
        self, message: ChannelStatus | ModuleHealth | SensorReport
    ) -> tuple[int, str, int] | None:
        """The source's key if the timestamp may be applied; the caller applies it."""
        serial, timestamp = message.module, message.timestamp
        if not self._timestamp_ok(serial, message, timestamp):
            return None
        channel = message.channel if isinstance(message, ChannelStatus) else -1
        key = (serial, type(message).__name__, channel)
        last = self._last_applied.get(key)
        if last is not None and timestamp < last:
            self._reject(
                Rejection.STALE,
                serial,
                message,
                channel=None if channel < 0 else channel,
                timestamp=timestamp,
                detail=f"after {last}",
            )
            return None
        return key

    def _reading(self, message: MeterReading) -> MeterReading | None:
        serial, ts = message.module, message.timestamp
        info = self._known(serial, message)
        if info is None or not self._timestamp_ok(serial, message, ts):
            return None
        kept: list[tuple[int, int]] = []
        for channel, counter in message.counters:
            if self._counter_ok(info, message, channel, counter):
                kept.append((channel, counter))
        if not kept:
            return None
        self.stats.accepted += 1
        return (
            message
            if len(kept) == len(message.counters)
            else replace(message, counters=tuple(kept))
        )

    def _counter_ok(
        self, info: ModuleInfo, message: MeterReading, channel: int, counter: int
    ) -> bool:
        serial, ts = message.module, message.timestamp
        if info.channels[channel].kind != ChannelKind.PULSE:
            self._reject(Rejection.NOT_FITTED, serial, message, channel=channel, value=counter)
            return False
        key = (serial, channel)
        ref = self._references.get(key)
        if ref is None:
            self._references[key] = MeterReference(counter, ts)
            return True
        if ref.timestamp is not None and ts < ref.timestamp:
            self._reject(
                Rejection.STALE,
                serial,
                message,
                channel=channel,
                value=counter,
                timestamp=ts,
                detail=f"after {ref.timestamp}",
            )
            return False
        delta = (counter - ref.counter) % COUNTER_MODULO
        if delta >= _HALF_RANGE:
            self._reject(
                Rejection.BACKWARDS,
                serial,
                message,
                channel=channel,
                value=counter,
                timestamp=ts,
                detail=f"{COUNTER_MODULO - delta} below {ref.counter}",
            )
            return False
        elapsed = (
            self.limits.unknown_elapsed_s if ref.timestamp is None else float(ts - ref.timestamp)
        )
        bound = self.limits.max_pulses(self._config(info, channel), elapsed)
        if delta > bound:
            self._reject(
                Rejection.TOO_FAST,
                serial,
                message,
                channel=channel,
                value=counter,
                timestamp=ts,
                detail=f"{delta} pulses in {elapsed:.0f} s, at most {bound}",
            )
            return False
        self._references[key] = MeterReference(counter, ts)
        return True

    def _config(self, info: ModuleInfo, channel: int) -> MeterConfig | None:
        config = self._configs.get((info.serial, channel))
        if config is not None:
            return config
        hint = info.channels[channel]
        if hint.meter_kind is MeterKind.UNKNOWN or hint.pulses_per_unit == 0:
            return None
        return MeterConfig(hint.meter_kind, hint.pulses_per_unit)

    def _sensor_report(self, message: SensorReport) -> SensorReport | None:
        serial = message.module
        info = self._known(serial, message)
        key = None if info is None else self._fresh(message)
        if info is None or key is None:
            return None
        kept: list[tuple[SensorKind, int]] = []
        for kind, value in message.values:
            low, high = SENSOR_RANGE.get(kind, (0, 1))
            if not info.sensors & (1 << (kind - 1)):
                self._reject(Rejection.NOT_FITTED, serial, message, value=value, detail=kind.name)
            elif not low <= value <= high:
                self._reject(Rejection.OUT_OF_RANGE, serial, message, value=value, detail=kind.name)
            else:
                kept.append((kind, value))
        if not kept and message.values:
            return None
        self._last_applied[key] = message.timestamp
        self.stats.accepted += 1
        return message if len(kept) == len(message.values) else replace(message, values=tuple(kept))

    # ------------------------------------------------------------------ backlog

    def admit_backlog(
        self, request: FetchBacklog, pages: Iterable[BacklogRecords]
    ) -> dict[int, dict[int, int]]:
        """Counters per channel and hour from the pages, only for what ``request`` asked for.

        Two records of one hour that disagree are both dropped: nothing says which is the
        module's, and an hour the network cannot vouch for is a gap, never consumption."""
        out: dict[int, dict[int, int]] = {}
        conflicted: dict[int, set[int]] = {}
        for page in pages:
            if page.module != request.module or not request.channel_mask & (1 << page.channel):
                self._reject(
                    Rejection.UNREQUESTED,
                    page.module,
                    page,
                    channel=page.channel,
                    detail="another module or channel than asked for",
                )
                continue
            hours = out.setdefault(page.channel, {})
            for offset, counter in enumerate(page.counters):
                hour = page.first_hour + offset
                if not request.first_hour <= hour <= request.last_hour:
                    self._reject(
                        Rejection.UNREQUESTED,
                        page.module,
                        page,
                        channel=page.channel,
                        value=counter,
                        detail=f"hour {hour} outside {request.first_hour}..{request.last_hour}",
                    )
                elif hours.setdefault(hour, counter) != counter:
                    conflicted.setdefault(page.channel, set()).add(hour)
                    self._reject(
                        Rejection.CONFLICT,
                        page.module,
                        page,
                        channel=page.channel,
                        value=counter,
                        detail=f"hour {hour} already {hours[hour]}",
                    )
        for channel, bad in conflicted.items():
            for hour in bad:
                out[channel].pop(hour, None)
        return {channel: hours for channel, hours in out.items() if hours}

    # ------------------------------------------------------------------ counting

    def _accept[M: Message](self, message: M) -> M:
        self.stats.accepted += 1
        return message

    def _reject(
        self,
        reason: Rejection,
        module: int,
        message: Message,
        *,
        channel: int | None = None,
        value: int | None = None,
        timestamp: int | None = None,
        detail: str = "",
    ) -> None:
        rejected = RejectedValue(
            reason, module, type(message).__name__, channel, value, timestamp, detail
        )
        stats = self.stats
        stats.rejected[reason] += 1
        stats.by_module.setdefault(module, Counter())[reason] += 1
        if channel is not None:
            stats.by_meter.setdefault((module, channel), Counter())[reason] += 1
        stats.recent.append(rejected)
        for listener in list(self._listeners):
            listener(rejected)

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain JSON (modules as 8-digit hex, as everywhere in DMesh tools)."""
        stats = self.stats
        return {
            "accepted": stats.accepted,
            "rejected": stats.total_rejected,
            "by_reason": {r.value: n for r, n in sorted(stats.rejected.items())},
            "by_module": {
                f"{m:08X}": {r.value: n for r, n in sorted(c.items())}
                for m, c in sorted(stats.by_module.items())
            },
            "by_meter": {
                f"{m:08X}/{ch + 1}": {r.value: n for r, n in sorted(c.items())}
                for (m, ch), c in sorted(stats.by_meter.items())
            },
            "recent": [
                {
                    "reason": r.reason.value,
                    "module": f"{r.module:08X}",
                    "message": r.message,
                    "channel": r.channel,
                    "value": r.value,
                    "timestamp": r.timestamp,
                    "detail": r.detail,
                }
                for r in stats.recent
            ],
        }
