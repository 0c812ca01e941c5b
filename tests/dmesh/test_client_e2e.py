"""The client against the real simulator over a real TCP socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import replace
from itertools import pairwise

import pytest

from dmesh_lib import (
    CommandFailed,
    CommandRejected,
    CommandTimeout,
    ConcentratorClient,
    ConcentratorNotResponding,
    ConnectionState,
    HostUnreachable,
    InvalidAddress,
    MeterKind,
    MeterValue,
    PortNotFound,
    meter_config_hint,
)
from dmesh_lib.client import Event
from dmesh_lib.messages import (
    AnnounceReason,
    CommandStatus,
    GroupAction,
    MeterReading,
    ModuleAnnounce,
    ModuleLeave,
    ModuleType,
    RejectReason,
    ValvePosition,
)
from dmesh_lib.simulator.network import HISTORY_HOURS
from dmesh_lib.simulator.scenarios import Scenario, ScenarioName
from dmesh_lib.transport import Endpoint
from dmesh_lib.units import COUNTER_MODULO

from .conftest import wait_for


async def connected(url: str, **kwargs: object) -> ConcentratorClient:
    client = ConcentratorClient(url, **kwargs)  # type: ignore[arg-type]
    await client.connect()
    return client


async def test_connect_reads_identity_and_full_inventory(start_simulator) -> None:
    sim = await start_simulator(meter_modules=20)
    client = await connected(sim.url, clock=sim.clock)
    try:
        assert client.identity is not None
        assert client.identity.serial == sim.network.serial
        assert client.identity.firmware == "1.4.2"
        assert set(client.modules) == set(sim.network.modules)
        types = {m.module_type for m in client.modules.values()}
        assert {ModuleType.D100FC, ModuleType.SENSOR, ModuleType.AD220, ModuleType.VALVE} <= types
        topology = await client.get_topology()
        assert {e.serial for e in topology} == set(sim.network.modules)
        status = await client.get_status()
        assert status.modules == status.online == len(sim.network.modules)
    finally:
        await client.close()


async def test_meter_values_in_engineering_units(start_simulator) -> None:
    sim = await start_simulator(meter_modules=3, speed=600)
    client = await connected(sim.url, clock=sim.clock)
    module = sim.network.meter_modules[1]
    values: list[Event] = []
    client.subscribe(values.append)
    config = meter_config_hint(client.modules[module.serial], 2)
    assert config is not None and config.kind in (MeterKind.GAS, MeterKind.HEAT)
    client.configure_meter(module.serial, 2, replace(config, initial_reading=1000.0))
    try:
        await client.read_now(module.serial)
        await wait_for(lambda: sum(isinstance(v, MeterValue) for v in values) >= 3)
        meter_values = [v for v in values if isinstance(v, MeterValue)]
        assert meter_values[0].total == pytest.approx(1000.0)
        assert [v.total for v in meter_values] == sorted(v.total for v in meter_values)
        last = meter_values[-1]
        assert last.total == pytest.approx(
            1000.0 + (last.counter - meter_values[0].counter) % COUNTER_MODULO / 100
        )
    finally:
        await client.close()


async def test_relay_valve_and_group_broadcast(start_simulator) -> None:
    sim = await start_simulator(meter_modules=2)
    client = await connected(sim.url, clock=sim.clock)
    relays = {m.shed_level: m for m in sim.network.modules.values() if m.role.name == "RELAY"}
    valve = next(m for m in sim.network.modules.values() if m.role.name == "VALVE")
    try:
        state = await client.set_relay(relays[0].serial, on=False)
        assert state is not None and state.on is False and not relays[0].relay_on
        await client.set_relay(relays[0].serial, on=True)

        closed = await client.set_valve(valve.serial, open_=False)
        assert closed is not None and closed.position is ValvePosition.CLOSED

        # DR level 1 sheds green only; red (level 0) is never touched.
        outcome = await client.broadcast(1, GroupAction.SHED, level=1, duration_s=900)
        assert outcome.reached == 3 and len(outcome.acks) == 3
        assert not relays[1].relay_on and relays[2].relay_on and relays[0].relay_on
        await client.broadcast(1, GroupAction.SHED, level=2, duration_s=900)
        assert not relays[2].relay_on and relays[0].relay_on
        await client.broadcast(1, GroupAction.RESTORE)
        assert all(r.relay_on for r in relays.values())
    finally:
        await client.close()


async def test_unknown_module_is_rejected_and_wrong_target_refused(start_simulator) -> None:
    sim = await start_simulator(meter_modules=1)
    client = await connected(sim.url, clock=sim.clock)
    try:
        with pytest.raises(CommandRejected) as err:
            await client.set_relay(0xDEADBEEF, on=False)
        assert err.value.reason is RejectReason.UNKNOWN_MODULE
        with pytest.raises(CommandFailed) as failed:
            await client.set_relay(sim.network.meter_modules[0].serial, on=False)
        assert failed.value.status is CommandStatus.REFUSED
    finally:
        await client.close()


async def test_timeout_grows_with_hop_count(start_simulator) -> None:
    sim = await start_simulator(meter_modules=1, hop_latency=0.05)
    module = sim.network.meter_modules[0]
    module.info = replace(module.info, hop=12)  # 1.2 s there and back
    patient = await connected(sim.url, clock=sim.clock, request_timeout=0.4, per_hop_timeout=0.1)
    impatient = await connected(sim.url, clock=sim.clock, request_timeout=0.4, per_hop_timeout=0.0)
    try:
        result = await patient.read_now(module.serial)
        assert result.hops == 12
        with pytest.raises(CommandTimeout):
            await impatient.read_now(module.serial)
    finally:
        await patient.close()
        await impatient.close()


async def test_offline_module_is_unreachable_then_rejoins(start_simulator) -> None:
    sim = await start_simulator(meter_modules=2, speed=3600, report_interval=300)
    client = await connected(sim.url, clock=sim.clock)
    events: list[Event] = []
    client.subscribe(events.append)
    target = sim.network.meter_modules[1]
    try:
        sim.network.apply(Scenario.parse(f"offline:hours=2,module={target.serial}"))
        with pytest.raises(CommandFailed) as err:
            await client.read_now(target.serial)
        assert err.value.status is CommandStatus.UNREACHABLE
        await wait_for(
            lambda: any(isinstance(e, ModuleLeave) and e.module == target.serial for e in events)
        )
        assert client.modules[target.serial].online is False
        await wait_for(
            lambda: any(
                isinstance(e, ModuleAnnounce)
                and e.module.serial == target.serial
                and e.reason is AnnounceReason.REJOINED
                for e in events
            )
        )
        assert client.modules[target.serial].online is True
    finally:
        await client.close()


async def test_disconnect_then_backlog_recovers_every_hour_once(start_simulator) -> None:
    # One simulated hour per real second: a 3-second outage is a 3-hour radio gap.
    sim = await start_simulator(meter_modules=3, speed=3600, report_interval=600)
    client = await connected(sim.url, clock=sim.clock, reconnect_min=0.05)
    states: list[ConnectionState] = []
    client.on_connection_state(states.append)
    module = sim.network.meter_modules[0]
    readings: list[MeterReading] = []
    client.subscribe(
        lambda e: (
            readings.append(e)
            if isinstance(e, MeterReading) and e.module == module.serial
            else None
        )
    )
    try:
        first_hour = int(sim.network.now // 3600)
        sim.concentrator.drop_hosts()
        await wait_for(lambda: ConnectionState.DISCONNECTED in states)
        # While the host is away the simulator keeps counting and the module keeps its hours.
        await wait_for(lambda: client.state is ConnectionState.CONNECTED and client.reconnects >= 1)
        sim.concentrator.drop_hosts()
        await asyncio.sleep(2.0)
        await wait_for(lambda: client.connected and client.reconnects >= 2)
        last_hour = int(sim.network.now // 3600)
        assert last_hour - first_hour >= 2
        backlog = await client.fetch_backlog(module.serial, first_hour - 5, last_hour)
        for channel, records in backlog.items():
            hours = [r.hour for r in records]
            assert hours == list(range(first_hour - 5, last_hour + 1)), "an hour lost or doubled"
            truth = [
                int(sim.network.history[module.row, channel, h % HISTORY_HOURS]) for h in hours
            ]
            assert [r.counter for r in records] == truth
            steps = [(b.counter - a.counter) % COUNTER_MODULO for a, b in pairwise(records)]
            assert all(step < COUNTER_MODULO // 2 for step in steps)
        # Live readings before and after the outage agree with the hourly record.
        counters = [dict(r.counters)[0] for r in readings]
        assert all((b - a) % COUNTER_MODULO < COUNTER_MODULO // 2 for a, b in pairwise(counters))
    finally:
        await client.close()


async def test_backlog_keeps_45_days(start_simulator) -> None:
    sim = await start_simulator(meter_modules=1, speed=1)
    client = await connected(sim.url, clock=sim.clock)
    module = sim.network.meter_modules[0]
    try:
        now_hour = int(sim.network.now // 3600)
        backlog = await client.fetch_backlog(module.serial, now_hour - 45 * 24, now_hour, [1])
        assert len(backlog[1]) == 45 * 24 + 1
    finally:
        await client.close()


async def test_noisy_line_loses_and_corrupts_nothing(start_simulator) -> None:
    sim = await start_simulator(meter_modules=4, speed=1200, report_interval=60)
    sim.network.apply(Scenario(ScenarioName.LINE_NOISE, params={"p": 0.25}))
    client = await connected(sim.url, clock=sim.clock)
    readings: list[MeterReading] = []
    client.subscribe(lambda e: readings.append(e) if isinstance(e, MeterReading) else None)
    try:
        await wait_for(lambda: len(readings) >= 60, within=20)
        stats = client.link_stats
        assert stats["crc_errors"] + stats["garbage_bytes"] > 0
        assert stats["naks_sent"] > 0
        by_module: dict[int, list[int]] = {}
        for r in readings:
            by_module.setdefault(r.module, []).append(dict(r.counters)[1])
        for serial, counters in by_module.items():
            assert serial in sim.network.modules
            # Never a corrupted value: every water counter moves forward by a plausible step.
            steps = [(b - a) % COUNTER_MODULO for a, b in pairwise(counters)]
            assert all(step < 10_000 for step in steps)
    finally:
        await client.close()


async def test_refused_port_is_reported_clearly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ConcentratorClient(f"socket://127.0.0.1:{port}")
    with pytest.raises(HostUnreachable, match="refused"):
        await client.connect()
    assert client.state is ConnectionState.DISCONNECTED


async def test_missing_serial_port_is_reported_clearly() -> None:
    client = ConcentratorClient("/dev/serial/by-id/usb-DMesh_J100UC_missing-if00")
    with pytest.raises(PortNotFound, match="no such serial port"):
        await client.connect()


async def test_silent_peer_is_not_a_concentrator() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = ConcentratorClient(f"socket://127.0.0.1:{port}", request_timeout=0.3)
    try:
        with pytest.raises(ConcentratorNotResponding):
            await client.connect()
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_garbage_on_the_line_is_survived(start_simulator) -> None:
    """A proxy sprays garbage between the simulator's bytes; the client keeps going."""
    sim = await start_simulator(meter_modules=2, speed=1200)

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", sim.port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, junk: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(4096):
                    dst.write((b"\xff\x13garbage\x00" if junk else b"") + data)
            dst.close()

        await asyncio.gather(pump(reader, up_w, False), pump(up_r, writer, True))

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await connected(f"socket://127.0.0.1:{port}", clock=sim.clock)
    readings: list[MeterReading] = []
    client.subscribe(lambda e: readings.append(e) if isinstance(e, MeterReading) else None)
    try:
        await wait_for(lambda: len(readings) >= 5)
        assert client.link_stats["garbage_bytes"] > 0
        assert len(await client.get_inventory()) == len(sim.network.modules)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_unsupported_url_is_a_connect_error() -> None:
    # serialx's loop:// does not work with asyncio transports; say so instead of hanging.
    with pytest.raises(ValueError, match="unsupported URL"):
        Endpoint.parse("loop://")
    client = ConcentratorClient("loop://")
    with pytest.raises(InvalidAddress):
        await client.connect()
    assert client.state is ConnectionState.DISCONNECTED


async def test_modules_are_known_when_their_cached_state_arrives(start_simulator) -> None:
    sim = await start_simulator(meter_modules=3)
    client = ConcentratorClient(sim.url, clock=sim.clock)
    unknown_at_event: list[int] = []
    client.subscribe(
        lambda e: (
            unknown_at_event.append(e.module)
            if isinstance(e, MeterReading) and e.module not in client.modules
            else None
        )
    )
    try:
        await client.connect()
        await client.read_now(sim.network.meter_modules[0].serial)
        assert unknown_at_event == []
    finally:
        await client.close()


async def test_time_sync_sets_the_clock_and_never_recounts(start_simulator) -> None:
    sim = await start_simulator(meter_modules=1, speed=1)
    client = await connected(sim.url, clock=sim.clock, sync_time=False)
    try:
        sim.concentrator.tick()
        counters_before = sim.network.counters.copy()
        result = await client.time_sync(int(sim.network.now) - 7200)  # two hours back
        assert result.new_time == pytest.approx(result.previous_time - 7200, abs=2)
        sim.concentrator.tick()
        # The meters wait for the clock to catch up instead of counting the two hours again.
        assert (sim.network.counters == counters_before).all()
        forward = await client.time_sync(int(sim.network.now) + 3600)
        assert forward.new_time >= sim.network.now + 3590
    finally:
        await client.close()


async def test_real_households_are_never_refused(start_simulator) -> None:
    """The physical bounds leave room for every simulated household, its wraps and backlog."""
    sim = await start_simulator(meter_modules=8, speed=3600, report_interval=300)
    client = await connected(sim.url, clock=sim.clock)
    values: list[MeterValue] = []
    client.subscribe(lambda e: values.append(e) if isinstance(e, MeterValue) else None)
    for module in sim.network.meter_modules:
        for channel in range(3):
            config = meter_config_hint(client.modules[module.serial], channel)
            assert config is not None
            client.configure_meter(module.serial, channel, config)
    try:
        await wait_for(lambda: len({v.timestamp for v in values}) >= 8, within=20)
        hour = int(sim.network.now // 3600)
        backlog = await client.fetch_backlog(sim.network.meter_modules[0].serial, hour - 48, hour)
        assert all(len(records) == 49 for records in backlog.values())
        assert client.guard.stats.total_rejected == 0, client.guard.snapshot()
        assert client.guard.stats.accepted > 0
    finally:
        await client.close()
