"""The client trusts nothing it did not ask for: valid-CRC hostile frames against the real link.

Frames are built with the real codec and fed as bytes through the client's real link layer, as a
concentrator (or whoever sits on the line) would send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmesh_lib import ConcentratorClient, MeterConfig, MeterKind, MeterValue
from dmesh_lib.client import Event
from dmesh_lib.framer import Frame, FrameFlag
from dmesh_lib.messages import (
    BacklogRecords,
    ChannelInfo,
    ChannelKind,
    FetchBacklog,
    Message,
    MeterReading,
    ModuleAnnounce,
    ModuleHealth,
    ModuleInfo,
    ModuleType,
    SensorKind,
    SensorReport,
    SensorSet,
)
from dmesh_lib.validation import MAX_RATE_PER_HOUR, GuardLimits, ReadingGuard, Rejection

NOW = 1_796_000_000
METER = 0x10000100
SENSOR = 0x10000001
PULSE = ChannelInfo(ChannelKind.PULSE, MeterKind.WATER, 1000)
INVENTORY = {
    METER: ModuleInfo(
        METER,
        ModuleType.D100FC,
        3,
        1,
        0,
        True,
        0,
        SensorSet.NONE,
        (
            ChannelInfo(ChannelKind.PULSE, MeterKind.ELECTRICITY, 1000),
            PULSE,
            ChannelInfo(ChannelKind.PULSE, MeterKind.GAS, 100),
        ),
    ),
    SENSOR: ModuleInfo(
        SENSOR, ModuleType.SENSOR, 2, 1, 0, True, 0, SensorSet.TEMPERATURE | SensorSet.FLOOD
    ),
}


class _Wire(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


@dataclass
class Line:
    """A client whose link is fed frame bytes directly; the clock is the test's."""

    now: list[int] = field(default_factory=lambda: [NOW])
    events: list[Event] = field(default_factory=list)
    seq: int = 0

    def __post_init__(self) -> None:
        self.client = ConcentratorClient(
            "socket://127.0.0.1:9", auto_reconnect=False, clock=lambda: self.now[0]
        )
        self.client.modules = dict(INVENTORY)
        self.client._connection_made(_Wire())
        self.client.subscribe(self.events.append)

    def send(self, message: Message) -> None:
        frame = message.to_frame(src=0x4A100010, seq=self.seq, flags=FrameFlag.ACK_REQUESTED)
        self.seq = (self.seq + 1) % 256
        self.client._link_data(frame.encode())

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def guard(self) -> ReadingGuard:
        return self.client.guard


def on_loop(test: Callable[[], None]) -> None:
    async def body() -> None:
        test()

    asyncio.run(body())


def water(counter: int, ts: int) -> MeterReading:
    return MeterReading(METER, ts, ((1, counter),))


def test_the_attack_findings_are_refused_and_counted() -> None:
    def run() -> None:
        line = Line()
        line.client.configure_meter(METER, 1, MeterConfig(MeterKind.WATER, 1000))
        line.send(water(5_000, NOW - 600))
        line.send(water(5_100, NOW - 300))
        line.send(water(5_100 + 10**9, NOW - 200))  # 10⁹ pulses: a million m³
        line.send(water(5_000, NOW - 100))  # one lower than the reference... and older counters
        line.send(water(5_099, NOW - 90))  # a counter one lower
        line.send(water(5_000, NOW - 600))  # replay of the first frame
        line.send(MeterReading(0xDEADBEEF, NOW, ((0, 1),)))  # not in the inventory
        line.send(water(5_200, 0xFFFFFFFF))
        line.send(SensorReport(SENSOR, NOW, ((SensorKind.TEMPERATURE, 32767),)))
        line.send(water(5_300, NOW))  # a good value still counts from the last good one
        totals = [v.total for v in line.of(MeterValue)]
        assert totals == pytest.approx([0.0, 0.1, 0.3])
        assert [r.timestamp for r in line.of(MeterReading)] == [NOW - 600, NOW - 300, NOW]
        assert line.of(SensorReport) == []
        rejected = line.guard.stats.rejected
        assert rejected[Rejection.TOO_FAST] == 1
        assert rejected[Rejection.BACKWARDS] == 2
        assert rejected[Rejection.STALE] == 1
        assert rejected[Rejection.UNKNOWN_MODULE] == 1
        assert rejected[Rejection.BAD_TIMESTAMP] == 1
        assert rejected[Rejection.OUT_OF_RANGE] == 1
        snapshot = line.guard.snapshot()
        assert snapshot["by_meter"][f"{METER:08X}/2"] == {"backwards": 2, "stale": 1, "too_fast": 1}
        assert snapshot["by_module"]["DEADBEEF"] == {"unknown_module": 1}
        assert snapshot["recent"][-1]["reason"] == "out_of_range"

    on_loop(run)


def test_bound_follows_kind_constant_and_elapsed_time() -> None:
    limits = GuardLimits()
    gas = MeterConfig(MeterKind.GAS, 100)
    # A G6 meter: 10 m³/h · 100 imp/m³ = 1000 imp/h, with 25 % and one minute of slack.
    assert limits.max_pulses(gas, 3600) == 1000 * 1.25 * 3660 // 3600 + 1 + 10
    assert limits.max_pulses(gas, 7200) > 2 * limits.max_pulses(gas, 3600) - 100
    assert limits.max_pulses(None, 10) == 20 * 1.25 * 70 + 10
    assert MAX_RATE_PER_HOUR[MeterKind.ELECTRICITY] == 50.0


def test_sensor_values_out_of_range_are_dropped_alone() -> None:
    def run() -> None:
        line = Line()
        line.send(
            SensorReport(
                SENSOR,
                NOW,
                ((SensorKind.FLOOD, 1), (SensorKind.TEMPERATURE, 32767), (SensorKind.GAS, 1)),
            )
        )
        (report,) = line.of(SensorReport)
        assert report.values == ((SensorKind.FLOOD, 1),)  # a broken thermometer keeps the alarm
        assert line.guard.stats.rejected == {Rejection.OUT_OF_RANGE: 1, Rejection.NOT_FITTED: 1}
        line.send(SensorReport(SENSOR, NOW - 60, ((SensorKind.FLOOD, 0),)))
        assert len(line.of(SensorReport)) == 1  # older than the one applied

    on_loop(run)


def test_health_and_announce_are_checked_and_an_announce_joins_the_inventory() -> None:
    def run() -> None:
        line = Line()
        line.send(ModuleHealth(METER, 3600, 180, -70, 200, 0, 1, NOW))
        assert line.of(ModuleHealth) == []
        newcomer = ModuleInfo(
            0x10000200,
            ModuleType.D100FC,
            3,
            2,
            METER,
            True,
            0,
            SensorSet.NONE,
            (PULSE, PULSE, PULSE),
        )
        line.send(MeterReading(newcomer.serial, NOW, ((0, 7),)))
        assert line.of(MeterReading) == []
        line.send(ModuleAnnounce(newcomer))
        line.send(MeterReading(newcomer.serial, NOW, ((0, 7),)))
        assert [r.module for r in line.of(MeterReading)] == [newcomer.serial]
        assert newcomer.serial in line.client.modules

    on_loop(run)


def test_replaced_module_is_re_referenced_by_an_explicit_call() -> None:
    def run() -> None:
        line = Line()
        line.client.configure_meter(METER, 1, MeterConfig(MeterKind.WATER, 1000, 10.0))
        line.send(water(900_000, NOW - 3700))
        line.send(water(901_000, NOW - 60))
        line.send(water(3, NOW - 30))  # the new module starts near zero
        assert line.guard.stats.rejected == {Rejection.BACKWARDS: 1}
        line.client.replace_meter(METER, 1)
        line.send(water(3, NOW - 20))
        line.send(water(103, NOW))
        assert [v.total for v in line.of(MeterValue)] == pytest.approx([10.0, 11.0, 11.0, 11.1])

    on_loop(run)


def test_restored_reference_bounds_the_first_reading() -> None:
    def run() -> None:
        line = Line()
        config = MeterConfig(MeterKind.ELECTRICITY, 1000, initial_reading=100.0)
        line.client.configure_meter(
            METER, 0, config, last_counter=1_000, pulses=0, last_timestamp=NOW - 3600
        )
        line.send(MeterReading(METER, NOW, ((0, 1_000 + 200_000),)))  # 200 kWh in an hour
        assert line.of(MeterValue) == []
        line.send(MeterReading(METER, NOW, ((0, 1_000 + 5_000),)))  # 5 kWh: a household's hour
        assert [v.total for v in line.of(MeterValue)] == pytest.approx([105.0])

    on_loop(run)


def test_backlog_keeps_only_what_was_asked_for() -> None:
    guard = ReadingGuard(INVENTORY.get)
    request = FetchBacklog(7, METER, 0b010, 1000, 1003)
    pages = [
        BacklogRecords(7, METER, 1, 998, (1, 2, 3, 4, 5)),  # 998, 999 were not asked for
        BacklogRecords(7, METER, 0, 1000, (9, 9)),  # another channel
        BacklogRecords(7, 0x10000999, 1, 1000, (9, 9)),  # another module's page
        BacklogRecords(7, METER, 1, 1002, (6, 7, 8)),  # 1002 conflicts, 1004 was not asked for
    ]
    # 1002's two records disagree: neither is trusted, the hour stays a gap
    assert guard.admit_backlog(request, pages) == {1: {1000: 3, 1001: 4, 1003: 7}}
    assert guard.stats.rejected == {Rejection.UNREQUESTED: 5, Rejection.CONFLICT: 1}


# --------------------------------------------------------------------------- property


@dataclass(frozen=True)
class Step:
    seconds: int
    pulses_fraction: float


true_steps = st.lists(
    st.builds(Step, st.integers(1, 1800), st.floats(0.0, 1.0)), min_size=2, max_size=12
)
hostile = st.one_of(
    st.tuples(st.just("jump"), st.integers(1, 2**32 - 1)),
    st.tuples(st.just("replay"), st.integers(0, 100)),
    st.tuples(st.just("stranger"), st.integers(0, 2**32 - 1)),
    st.tuples(
        st.just("timestamp"),
        st.sampled_from([0, 0xFFFFFFFF, NOW + 10**6, NOW - 10**6, NOW + 7201, 1]),
    ),
    st.tuples(st.just("sensor"), st.integers(-(2**15), 2**15 - 1)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=true_steps,
    attacks=st.lists(st.tuples(st.integers(0, 11), hostile), max_size=25),
    start=st.integers(0, 2**32 - 1),
)
def test_no_accepted_reading_the_meter_did_not_produce(
    steps: list[Step], attacks: list[tuple[int, tuple[str, int]]], start: int
) -> None:
    """A true water meter, within its physical rate, among valid-CRC hostile frames."""
    per_second = MAX_RATE_PER_HOUR[MeterKind.WATER] / 3600 * 1000
    limits = GuardLimits()

    def run() -> None:
        line = Line()
        line.now[0] = NOW - 86_000
        line.client.configure_meter(METER, 1, MeterConfig(MeterKind.WATER, 1000))
        ts, counter = line.now[0] - 10, start
        truth = [(ts, counter)]
        line.send(water(counter, ts))
        for index, step in enumerate(steps):
            for when, (kind, value) in attacks:
                if when != index:
                    continue
                ref_ts, ref_counter = truth[-1]
                match kind:
                    case "jump":
                        # Beyond what the meter could count even at the same timestamp, or back.
                        least = limits.max_pulses(MeterConfig(MeterKind.WATER, 1000), 0) + 1
                        delta = least + value % (2**32 - least)
                        line.send(water((ref_counter + delta) % 2**32, ref_ts))
                    case "replay":
                        old_ts, old_counter = truth[value % len(truth)]
                        if (old_ts, old_counter) != truth[-1]:
                            line.send(water((old_counter + value) % 2**32, old_ts - 1))
                        line.send(water(old_counter, old_ts))
                    case "stranger":
                        line.send(MeterReading(0x20000000 | value & 0xFFFF, ref_ts, ((1, value),)))
                    case "timestamp":
                        bad = value if value in (0, 0xFFFFFFFF, 1) else value - NOW + line.now[0]
                        line.send(water((ref_counter + 5) % 2**32, bad))
                    case "sensor":
                        if not -400 <= value <= 850:
                            line.send(
                                SensorReport(SENSOR, ref_ts, ((SensorKind.TEMPERATURE, value),))
                            )
            ts += step.seconds
            counter = (counter + int(step.pulses_fraction * per_second * step.seconds)) % 2**32
            line.now[0] = ts + 5
            truth.append((ts, counter))
            line.send(water(counter, ts))
        produced = set(truth)
        for reading in line.of(MeterReading):
            assert (reading.timestamp, dict(reading.counters)[1]) in produced
        assert line.of(SensorReport) == []
        values = line.of(MeterValue)
        assert all((v.timestamp, v.counter) in produced for v in values)
        # And every true reading counted: nothing the meter did was refused.
        assert values[-1].counter == truth[-1][1]
        assert values[-1].total == pytest.approx(((truth[-1][1] - truth[0][1]) % 2**32) / 1000)

    on_loop(run)


def test_frames_are_acknowledged_even_when_refused() -> None:
    def run() -> None:
        line = Line()
        wire = line.client._transport
        assert isinstance(wire, _Wire)
        line.send(MeterReading(0xDEADBEEF, NOW, ((0, 1),)))
        assert Frame(msg_type=0x01, seq=0).encode() in bytes(wire.sent)

    on_loop(run)
