"""A simulated DMesh sub-network: modules, meters, sensors, relays, valves and their radio tree.

Pure state and logic, no I/O: :meth:`SimulatedNetwork.advance` moves simulated time forward and
returns the messages the concentrator would pass to its host; command handlers return what the
module answers. The concentrator (``concentrator.py``) adds sockets, the link layer and the
real-time mesh latency. Counters are numpy arrays over all meters, so 720 meters cost one vector
operation per tick, not 720.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np
import numpy.typing as npt

from dmesh_lib.messages import (
    CHANNELS_PER_MODULE,
    AnnounceReason,
    BroadcastStatus,
    ChannelFault,
    ChannelInfo,
    ChannelKind,
    ChannelStatus,
    GroupAction,
    LeaveReason,
    Message,
    MeterReading,
    ModuleAnnounce,
    ModuleHealth,
    ModuleInfo,
    ModuleLeave,
    ModuleType,
    RelayFault,
    RelayState,
    SensorKind,
    SensorReport,
    SensorSet,
    TopologyEntry,
    ValveFault,
    ValvePosition,
    ValveState,
)
from dmesh_lib.units import COUNTER_MODULO, DEFAULT_PULSES_PER_UNIT, MeterKind

from .scenarios import Scenario, ScenarioName

HISTORY_HOURS = 60 * 24
"""Modules keep at least 45 days of hourly counters; the simulator keeps 60."""
MAX_MODULES = 240
HOME_KIT_SIZE = 5
"""The demo home: a sensor module, three AD220 relays (red, yellow, green) and a water valve."""
MAX_HOPS = 30
HEALTH_INTERVAL = 6 * 3600.0
SENSOR_INTERVAL = 600.0
MISSED_REPORTS_BEFORE_LOST = 3
DEMO_GROUP = 1
"""DR group of the demo home's relays."""

HomeRole = Enum("HomeRole", "METER SENSOR RELAY VALVE")

_EXTRA_RATE: dict[ScenarioName, tuple[int, Callable[[Scenario], float]]] = {
    # scenario: (channel of the D100FC it flows through, extra units per hour)
    ScenarioName.DRIPPING_TAP: (1, lambda s: s.param("rate_m3_h")),
    ScenarioName.RUNNING_TOILET: (1, lambda s: s.param("rate_m3_h")),
    ScenarioName.GAS_LEAK: (2, lambda s: s.param("rate_m3_day") / 24),
    ScenarioName.STANDBY_VAMPIRES: (0, lambda s: s.param("watts") / 1000),
}

ALL_SENSORS = (
    SensorSet.FLOOD
    | SensorSet.GAS
    | SensorSet.DOOR
    | SensorSet.TEMPERATURE
    | SensorSet.HUMIDITY
    | SensorSet.PHASE_L1
    | SensorSet.PHASE_L2
    | SensorSet.PHASE_L3
    | SensorSet.NEUTRAL_FAULT
    | SensorSet.ARCING
)


class ConsumptionSource:
    """What the network needs of a consumption model (see ``consumption.ConsumptionModel``)."""

    def consumption(self, t0: float, t1: float) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def hourly_history(self, first_hour: int, hours: int) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def set_extra_rate(self, meter: int, per_hour: float) -> None:
        raise NotImplementedError

    def indoor_temperature(self, household: int, t: float) -> float:
        raise NotImplementedError

    def indoor_humidity(self, household: int, t: float) -> float:
        raise NotImplementedError


@dataclass(slots=True)
class SimModule:
    info: ModuleInfo
    role: HomeRole
    household: int
    row: int = -1
    """Row in the meter arrays for pulse modules."""
    battery_mv: int = 3600
    battery_pct: int = 100
    rssi: int = -70
    lqi: int = 200
    online: bool = True
    lost_reported: bool = False
    offline_since: float = 0.0
    offline_until: float | None = None
    next_report: float = 0.0
    next_health: float = 0.0
    faults: list[ChannelFault] = field(
        default_factory=lambda: [ChannelFault.NONE] * CHANNELS_PER_MODULE
    )
    relay_on: bool = True
    shed_level: int = 0
    """For relays: the lowest DR level that sheds this output (1 green, 2 yellow; 0 never: red)."""
    shed_until: float | None = None
    valve_position: ValvePosition = ValvePosition.OPEN
    sensors: dict[SensorKind, int] = field(default_factory=dict)

    @property
    def serial(self) -> int:
        return self.info.serial


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What a module does with a relayed command: messages now, and messages after ``delay_s``."""

    delivered: bool
    messages: tuple[Message, ...] = ()
    later: tuple[Message, ...] = ()
    delay_s: float = 0.0


class SimulatedNetwork:
    """All modules of one concentrator, advanced in simulated time."""

    def __init__(
        self,
        *,
        meter_modules: int,
        home: bool = True,
        seed: int = 1,
        start: float,
        concentrator_index: int = 0,
        report_interval: float = 60.0,
        consumption_factory: Callable[[Sequence[MeterKind], int, Sequence[int]], ConsumptionSource]
        | None = None,
    ) -> None:
        total = meter_modules + (HOME_KIT_SIZE if home else 0)
        if meter_modules < 0 or not 1 <= total <= MAX_MODULES:
            raise ValueError(
                f"a concentrator serves 1 to {MAX_MODULES} modules; asked for {total}"
                + (f" (the demo home kit takes {HOME_KIT_SIZE})" if home else "")
            )
        self.rng = np.random.default_rng(seed + 7919 * concentrator_index)
        self.serial = 0x4A100000 + (seed % 0x1000) * 0x10 + concentrator_index
        self.subnet_id = 0x100 + concentrator_index
        self.report_interval = report_interval
        self.now = start
        self.packet_loss = 0.0
        self.line_noise = 0.0
        self.power_cut_households: set[int] = set()
        self.scenarios: dict[ScenarioName, Scenario] = {}
        self._extra_rates: dict[int, dict[ScenarioName, float]] = {}
        self.modules: dict[int, SimModule] = {}
        base = 0x10000000 + concentrator_index * 0x10000
        kinds: list[MeterKind] = []
        households: list[int] = []
        meters: list[SimModule] = []
        for i in range(meter_modules):
            third = MeterKind.HEAT if i % 4 == 3 else MeterKind.GAS
            channel_kinds = (MeterKind.ELECTRICITY, MeterKind.WATER, third)
            info = ModuleInfo(
                serial=base + 0x100 + i,
                module_type=ModuleType.D100FC,
                firmware=3,
                hop=1,
                parent=0,
                online=True,
                group=0,
                sensors=SensorSet.NONE,
                channels=tuple(  # type: ignore[arg-type]
                    ChannelInfo(ChannelKind.PULSE, k, DEFAULT_PULSES_PER_UNIT[k])
                    for k in channel_kinds
                ),
            )
            module = SimModule(info, HomeRole.METER, household=i, row=i)
            meters.append(module)
            kinds.extend(channel_kinds)
            households.extend([i] * CHANNELS_PER_MODULE)
        self.meter_modules = meters
        others: list[SimModule] = []
        if home:
            others = self._home_kit(base)
        for m in [*meters, *others]:
            self.modules[m.serial] = m
        self._build_tree()
        n = len(meters)
        self.kinds = kinds
        if consumption_factory is None:
            from .consumption import ConsumptionModel

            def consumption_factory(
                k: Sequence[MeterKind], s: int, h: Sequence[int]
            ) -> ConsumptionSource:
                return ConsumptionModel(k, seed=s, household_of=h)  # type: ignore[return-value]

        self.model = consumption_factory(kinds, seed + 104729 * concentrator_index, households)
        self._modelled_households = set(households)
        self.ppu = np.array(
            [[DEFAULT_PULSES_PER_UNIT[k] for k in kinds[3 * i : 3 * i + 3]] for i in range(n)],
            dtype=np.float64,
        ).reshape(n, CHANNELS_PER_MODULE)
        self.registration = np.ones((n, CHANNELS_PER_MODULE))
        self.electric_mask = np.zeros((n, CHANNELS_PER_MODULE), dtype=bool)
        self.electric_mask[:, 0] = True
        self.fraction = np.zeros((n, CHANNELS_PER_MODULE))
        # Meters have been running for years: counters start anywhere, one of them close to the
        # 32-bit wrap so that every client meets a wrap early.
        self.counters = self.rng.integers(0, 2**31, size=(n, CHANNELS_PER_MODULE), dtype=np.int64)
        if n:
            self.counters[0, 0] = COUNTER_MODULO - 5_000
        self.history = np.zeros((n, CHANNELS_PER_MODULE, HISTORY_HOURS), dtype=np.int64)
        self.history_hour = np.full(HISTORY_HOURS, -1, dtype=np.int64)
        self._prefill_history()
        # Spread reports over the interval, as real modules wake at their own phase.
        for m in self.modules.values():
            m.next_report = self.now + float(self.rng.uniform(0, report_interval))
            m.next_health = self.now + float(self.rng.uniform(0, HEALTH_INTERVAL))

    # ------------------------------------------------------------------ composition

    def _home_kit(self, base: int) -> list[SimModule]:
        sensor = SimModule(
            ModuleInfo(base + 0x01, ModuleType.SENSOR, 2, 1, 0, True, 0, ALL_SENSORS),
            HomeRole.SENSOR,
            household=0,
        )
        sensor.sensors = {
            SensorKind.FLOOD: 0,
            SensorKind.GAS: 0,
            SensorKind.DOOR: 0,
            SensorKind.TEMPERATURE: 215,
            SensorKind.HUMIDITY: 450,
            SensorKind.PHASE_L1: 1,
            SensorKind.PHASE_L2: 1,
            SensorKind.PHASE_L3: 1,
            SensorKind.NEUTRAL_FAULT: 0,
            SensorKind.ARCING: 0,
        }
        relay_channels = (ChannelInfo(ChannelKind.RELAY), ChannelInfo(), ChannelInfo())
        relays = []
        # red (never shed), yellow (shed from DR level 2), green (shed from level 1)
        for offset, level in ((0x02, 0), (0x03, 2), (0x04, 1)):
            relay = SimModule(
                ModuleInfo(
                    base + offset,
                    ModuleType.AD220,
                    2,
                    1,
                    0,
                    True,
                    DEMO_GROUP,
                    SensorSet.NONE,
                    relay_channels,
                ),
                HomeRole.RELAY,
                household=0,
                battery_mv=0,
                battery_pct=0,
            )
            relay.shed_level = level
            relays.append(relay)
        valve = SimModule(
            ModuleInfo(
                base + 0x05,
                ModuleType.VALVE,
                1,
                1,
                0,
                True,
                0,
                SensorSet.NONE,
                (ChannelInfo(ChannelKind.VALVE, MeterKind.WATER), ChannelInfo(), ChannelInfo()),
            ),
            HomeRole.VALVE,
            household=0,
        )
        return [sensor, *relays, valve]

    def _build_tree(self) -> None:
        """A random radio tree: most modules within a few hops, a long tail up to 30."""
        placed: list[SimModule] = []
        for module in self.modules.values():
            if not placed or self.rng.random() < 0.3:
                parent, hop = 0, 1
            else:
                candidate = placed[int(self.rng.integers(0, len(placed)))]
                if candidate.info.hop >= MAX_HOPS:
                    parent, hop = 0, 1
                else:
                    parent, hop = candidate.serial, candidate.info.hop + 1
            module.info = replace(module.info, parent=parent, hop=hop)
            module.rssi = int(self.rng.integers(-98, -55))
            module.lqi = int(self.rng.integers(120, 255))
            if module.role is not HomeRole.RELAY:
                module.battery_pct = int(self.rng.integers(55, 101))
                module.battery_mv = 3300 + 4 * module.battery_pct
            placed.append(module)

    def _prefill_history(self) -> None:
        """45+ days of hourly counters before ``start``, so a backlog request has something real."""
        n = len(self.meter_modules)
        if n == 0:
            return
        current_hour = int(self.now // 3600)
        first = current_hour - HISTORY_HOURS + 1
        per_hour = self.model.hourly_history(first, HISTORY_HOURS).reshape(
            n, CHANNELS_PER_MODULE, HISTORY_HOURS
        )
        pulses = np.floor(per_hour * self.ppu[:, :, None]).astype(np.int64)
        # Counters at each whole hour, ending with the counter at the start of the current hour;
        # the counter "now" is that plus the part of the current hour already gone.
        cumulative = np.cumsum(pulses[:, :, ::-1], axis=2)[:, :, ::-1]
        end = self.counters.copy()
        starts = (end[:, :, None] - cumulative) % COUNTER_MODULO
        for i, hour in enumerate(range(first, current_hour + 1)):
            slot = hour % HISTORY_HOURS
            self.history[:, :, slot] = starts[:, :, i] if i < HISTORY_HOURS else end
            self.history_hour[slot] = hour
        fraction_of_hour = (self.now % 3600) / 3600
        already = np.floor(pulses[:, :, -1] * fraction_of_hour).astype(np.int64)
        self.history[:, :, current_hour % HISTORY_HOURS] = (end - already) % COUNTER_MODULO

    # ------------------------------------------------------------------ time

    def advance(self, t: float) -> list[Message]:
        """Move simulated time to ``t``; return the messages modules sent meanwhile."""
        if t <= self.now:
            return []
        out: list[Message] = []
        while self.now < t:
            boundary = (math.floor(self.now / 3600) + 1) * 3600.0
            step_end = min(t, boundary, self.now + 3600.0)
            if step_end - self.now >= 1e-3:
                self._count(self.now, step_end)
            self.now = step_end
            if step_end == boundary:
                self._snapshot_hour(int(boundary // 3600))
        self._timers(out)
        self._reports(out)
        return out

    def _count(self, t0: float, t1: float) -> None:
        n = len(self.meter_modules)
        if n == 0:
            return
        true = self.model.consumption(t0, t1).reshape(n, CHANNELS_PER_MODULE)
        registered = true * self.registration
        if self.power_cut_households:
            cut = np.array([m.household in self.power_cut_households for m in self.meter_modules])
            registered[cut[:, None] & self.electric_mask] = 0.0
        self.fraction += registered * self.ppu
        whole = np.floor(self.fraction)
        self.fraction -= whole
        self.counters = (self.counters + whole.astype(np.int64)) % COUNTER_MODULO

    def _snapshot_hour(self, hour: int) -> None:
        slot = hour % HISTORY_HOURS
        self.history[:, :, slot] = self.counters
        self.history_hour[slot] = hour

    def _timers(self, out: list[Message]) -> None:
        now = self.now
        for m in self.modules.values():
            if m.offline_until is not None and now >= m.offline_until:
                m.offline_until = None
                m.online = True
                m.lost_reported = False
                m.info = replace(m.info, online=True)
                out.append(ModuleAnnounce(m.info, AnnounceReason.REJOINED))
                out.extend(self._module_state(m))
            if m.shed_until is not None and now >= m.shed_until:
                m.shed_until = None
                if not m.relay_on:
                    m.relay_on = True
                    out.append(self._relay_state(m))

    def _reports(self, out: list[Message]) -> None:
        now = self.now
        ts = int(now)
        for m in self.modules.values():
            if m.next_health <= now:
                m.next_health = now + HEALTH_INTERVAL
                if m.online:
                    out.append(self._health(m))
            if m.next_report > now:
                continue
            interval = self.report_interval if m.role is HomeRole.METER else SENSOR_INTERVAL
            missed = math.floor((now - m.next_report) / interval) + 1
            m.next_report += missed * interval
            if not m.online:
                if (
                    not m.lost_reported
                    and now - m.offline_since >= interval * MISSED_REPORTS_BEFORE_LOST
                ):
                    m.lost_reported = True
                    m.info = replace(m.info, online=False)
                    out.append(ModuleLeave(m.serial, LeaveReason.LOST))
                continue
            if self.packet_loss and self.rng.random() < self.packet_loss:
                continue  # lost in the radio; the hourly backlog still has it
            if m.role is HomeRole.METER:
                out.append(self.reading(m, ts))
            elif m.role is HomeRole.SENSOR:
                out.append(self._sensor_report(m, ts))

    # ------------------------------------------------------------------ module messages

    def reading(self, m: SimModule, ts: int) -> MeterReading:
        row = self.counters[m.row]
        return MeterReading(m.serial, ts, tuple((ch, int(row[ch])) for ch in range(3)))

    def _sensor_report(self, m: SimModule, ts: int) -> SensorReport:
        if m.household in self._modelled_households:
            temperature = self.model.indoor_temperature(m.household, self.now)
            humidity = self.model.indoor_humidity(m.household, self.now)
        else:
            # A home kit without meter modules has no heating model: it holds its setpoint.
            temperature, humidity = 21.0, 45.0
        m.sensors[SensorKind.TEMPERATURE] = round(10 * temperature)
        m.sensors[SensorKind.HUMIDITY] = round(10 * humidity)
        return SensorReport(m.serial, ts, tuple(sorted(m.sensors.items())))

    def _health(self, m: SimModule) -> ModuleHealth:
        return ModuleHealth(
            m.serial,
            m.battery_mv,
            m.battery_pct,
            m.rssi,
            m.lqi,
            m.info.parent,
            m.info.hop,
            int(self.now),
        )

    def _relay_state(self, m: SimModule, request_id: int = 0) -> RelayState:
        fault = (
            RelayFault.NO_SUPPLY if m.household in self.power_cut_households else RelayFault.NONE
        )
        return RelayState(m.serial, 0, m.relay_on, fault, request_id)

    def _module_state(self, m: SimModule) -> list[Message]:
        ts = int(self.now)
        if m.role is HomeRole.METER:
            status = [ChannelStatus(m.serial, ch, f, ts) for ch, f in enumerate(m.faults) if f]
            return [self.reading(m, ts), *status, self._health(m)]
        if m.role is HomeRole.SENSOR:
            return [self._sensor_report(m, ts), self._health(m)]
        if m.role is HomeRole.RELAY:
            return [self._relay_state(m)]
        return [ValveState(m.serial, m.valve_position, ValveFault.NONE), self._health(m)]

    def initial_state(self) -> list[Message]:
        """What a host hears right after connecting: the current state of every online module."""
        out: list[Message] = []
        for m in self.modules.values():
            if m.online:
                out.extend(self._module_state(m))
        return out

    # ------------------------------------------------------------------ queries

    def inventory(self) -> list[ModuleInfo]:
        return [m.info for m in self.modules.values()]

    def topology(self) -> list[TopologyEntry]:
        return [
            TopologyEntry(m.serial, m.info.parent, m.info.hop, m.rssi, m.lqi)
            for m in self.modules.values()
        ]

    def reachable(self, serial: int) -> bool:
        m = self.modules.get(serial)
        return m is not None and m.online

    def hops(self, serial: int) -> int:
        return self.modules[serial].info.hop

    def backlog(
        self, serial: int, channel: int, first_hour: int, last_hour: int
    ) -> list[tuple[int, list[int]]]:
        """Runs of consecutive hours (first hour, counters) the module still keeps."""
        m = self.modules[serial]
        if m.role is not HomeRole.METER:
            return []
        runs: list[tuple[int, list[int]]] = []
        current: list[int] = []
        run_start = first_hour
        for hour in range(first_hour, last_hour + 1):
            slot = hour % HISTORY_HOURS
            if self.history_hour[slot] == hour:
                if not current:
                    run_start = hour
                current.append(int(self.history[m.row, channel, slot]))
            elif current:
                runs.append((run_start, current))
                current = []
        if current:
            runs.append((run_start, current))
        return runs

    # ------------------------------------------------------------------ commands

    def set_relay(self, serial: int, on: bool, request_id: int) -> CommandOutcome:
        m = self.modules.get(serial)
        if m is None or m.role is not HomeRole.RELAY:
            return CommandOutcome(False)
        m.relay_on = on
        m.shed_until = None
        return CommandOutcome(True, (self._relay_state(m, request_id),))

    def set_valve(self, serial: int, open_: bool, request_id: int) -> CommandOutcome:
        m = self.modules.get(serial)
        if m is None or m.role is not HomeRole.VALVE:
            return CommandOutcome(False)
        target = ValvePosition.OPEN if open_ else ValvePosition.CLOSED
        if m.valve_position is target:
            return CommandOutcome(True, (ValveState(serial, target, ValveFault.NONE, request_id),))
        moving = ValvePosition.OPENING if open_ else ValvePosition.CLOSING
        m.valve_position = target
        # A closed water valve stops every draw behind it, leaks included.
        self._set_valve_flow(m.household, open_)
        return CommandOutcome(
            True,
            (ValveState(serial, moving, ValveFault.NONE, request_id),),
            (ValveState(serial, target, ValveFault.NONE, request_id),),
            delay_s=3.0,
        )

    def _set_valve_flow(self, household: int, open_: bool) -> None:
        for m in self.meter_modules:
            if m.household == household:
                self.registration[m.row, 1] = 1.0 if open_ else 0.0

    def set_group(self, serial: int, group: int) -> CommandOutcome:
        m = self.modules.get(serial)
        if m is None:
            return CommandOutcome(False)
        m.info = replace(m.info, group=group)
        return CommandOutcome(True)

    def broadcast(
        self, group: int, action: GroupAction, level: int, duration_s: int
    ) -> list[tuple[SimModule, BroadcastStatus, list[Message]]]:
        """Every reachable member's answer and the state changes the command caused."""
        out: list[tuple[SimModule, BroadcastStatus, list[Message]]] = []
        for m in self.modules.values():
            if m.info.group != group or not m.online:
                continue
            changes: list[Message] = []
            if m.role is HomeRole.RELAY:
                if action is GroupAction.SHED and m.shed_level and level >= m.shed_level:
                    if m.relay_on:
                        m.relay_on = False
                        changes.append(self._relay_state(m))
                    m.shed_until = self.now + duration_s if duration_s else None
                elif action is GroupAction.RESTORE and not m.relay_on:
                    m.relay_on = True
                    m.shed_until = None
                    changes.append(self._relay_state(m))
            out.append((m, BroadcastStatus.APPLIED, changes))
        return out

    # ------------------------------------------------------------------ scenarios

    def default_target(self, name: ScenarioName) -> SimModule:
        if name in (ScenarioName.POWER_CUT, ScenarioName.FLOOD):
            for m in self.modules.values():
                if m.role is HomeRole.SENSOR:
                    return m
        if name is ScenarioName.GAS_LEAK:
            for m in self.meter_modules:
                if m.info.channels[2].meter_kind is MeterKind.GAS:
                    return m
        if not self.meter_modules:
            raise ValueError("this network has no meter module")
        return self.meter_modules[0]

    def apply(self, scenario: Scenario, on: bool = True) -> list[Message]:
        """Switch a scenario on or off; return what the modules report because of it."""
        name = scenario.name
        target = (
            self.modules[scenario.module]
            if scenario.module is not None
            else self.default_target(name)
        )
        if scenario.module is not None and scenario.module not in self.modules:
            raise ValueError(f"no module {scenario.module:08X}")
        if on:
            self.scenarios[name] = scenario
        else:
            self.scenarios.pop(name, None)
        ts = int(self.now)
        out: list[Message] = []
        if name in (
            ScenarioName.DRIPPING_TAP,
            ScenarioName.RUNNING_TOILET,
            ScenarioName.GAS_LEAK,
            ScenarioName.STANDBY_VAMPIRES,
        ):
            channel, rate_of = _EXTRA_RATE[name]
            self._require_meter(target, name)
            meter = target.row * CHANNELS_PER_MODULE + channel
            rates = self._extra_rates.setdefault(meter, {})
            if on:
                rates[name] = rate_of(scenario)
            else:
                rates.pop(name, None)
            self.model.set_extra_rate(meter, sum(rates.values()))
        elif name in (ScenarioName.MAGNET, ScenarioName.CUT_WIRE):
            self._require_meter(target, name)
            channel = int(scenario.param("channel"))
            fault = ChannelFault.MAGNET if name is ScenarioName.MAGNET else ChannelFault.WIRE_BREAK
            registration = scenario.param("registration") if name is ScenarioName.MAGNET else 0.0
            target.faults[channel] = (
                target.faults[channel] | fault if on else target.faults[channel] & ~fault
            )
            self.registration[target.row, channel] = registration if on else 1.0
            out.append(ChannelStatus(target.serial, channel, target.faults[channel], ts))
        elif name is ScenarioName.OFFLINE:
            if on:
                target.online = False
                target.offline_since = self.now
                target.offline_until = self.now + scenario.param("hours") * 3600.0
            else:
                target.offline_until = self.now
                out.extend(self.advance_timers_only())
        elif name is ScenarioName.LOW_BATTERY:
            target.battery_pct, target.battery_mv = (4, 2950) if on else (80, 3620)
            out.append(self._health(target))
        elif name is ScenarioName.POWER_CUT:
            household = target.household
            if on:
                self.power_cut_households.add(household)
            else:
                self.power_cut_households.discard(household)
            for m in self.modules.values():
                if m.household != household:
                    continue
                if m.role is HomeRole.SENSOR:
                    for phase in (SensorKind.PHASE_L1, SensorKind.PHASE_L2, SensorKind.PHASE_L3):
                        m.sensors[phase] = 0 if on else 1
                    out.append(self._sensor_report(m, ts))
                elif m.role is HomeRole.RELAY:
                    out.append(self._relay_state(m))
        elif name is ScenarioName.FLOOD:
            if target.role is not HomeRole.SENSOR:
                raise ValueError("flood needs a sensor module")
            target.sensors[SensorKind.FLOOD] = 1 if on else 0
            out.append(self._sensor_report(target, ts))
        elif name is ScenarioName.PACKET_LOSS:
            self.packet_loss = scenario.param("p") if on else 0.0
        elif name is ScenarioName.LINE_NOISE:
            self.line_noise = scenario.param("p") if on else 0.0
        return out

    def advance_timers_only(self) -> list[Message]:
        out: list[Message] = []
        self._timers(out)
        return out

    @staticmethod
    def _require_meter(m: SimModule, name: ScenarioName) -> None:
        if m.role is not HomeRole.METER:
            raise ValueError(f"{name} needs a meter module, {m.serial:08X} is a {m.role.name}")

    def describe(self) -> dict[str, object]:
        return {
            "concentrator": f"{self.serial:08X}",
            "modules": len(self.modules),
            "meters": 3 * len(self.meter_modules),
            "sim_time": int(self.now),
            "scenarios": {
                s.name.value: {
                    "module": f"{self.default_target(s.name).serial:08X}"
                    if s.module is None
                    else f"{s.module:08X}",
                    **s.params,
                }
                for s in self.scenarios.values()
            },
        }


def serials(modules: Iterable[SimModule]) -> list[int]:
    return [m.serial for m in modules]
