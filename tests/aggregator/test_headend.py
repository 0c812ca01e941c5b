"""The head-end against the real simulator over real sockets, on SQLite and PostgreSQL.

Simulated time is set by the test (the simulator's clock runs at speed 0); every meter-hour stored
is compared with the module's own hourly counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from balance_aggregator.services.headend import ConcentratorWorker, WorkerSettings
from balance_aggregator.storage import Storage
from balance_aggregator.storage.headend import Concentrator, meter_name
from balance_grid.hierarchy import GridMeter, GridNode
from dmesh_lib.messages import MeterReading
from dmesh_lib.simulator.scenarios import Scenario, ScenarioName

from .headend_harness import HOUR, START, SimStreet, street, until

START_HOUR = int(START // HOUR)
SINCE_HOUR = START_HOUR - 6
PROCESS = "test-process"
SETTINGS = WorkerSettings(
    sync_time=False, catchup_s=3600, flush_s=0.05, reconnect_min_s=0.05, reconnect_max_s=0.2
)


@pytest.fixture
async def sim() -> AsyncIterator[SimStreet]:
    s = street(modules=4)
    await s.up()
    yield s
    await s.down()


async def _register(storage: Storage, sim: SimStreet, name: str = "c1") -> Concentrator:
    store = storage.headend()
    c = Concentrator(name, sim.url, None, 0.0, SINCE_HOUR)
    assert await store.add_concentrator(c)
    # a lease for the whole test: the lease loop itself is tested on its own
    assert await store.claim(PROCESS, 1.0, 10**9, 1) == [name]
    return c


@contextlib.asynccontextmanager
async def _worker(
    storage: Storage, c: Concentrator, sim: SimStreet
) -> AsyncIterator[ConcentratorWorker]:
    # the concentrator's timestamps are checked against the simulated time, not the wall clock
    settings = dataclasses.replace(SETTINGS, host_clock=sim.clock.now)
    worker = ConcentratorWorker(storage.headend(), c, PROCESS, settings, clock=lambda: 2.0)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _stored(storage: Storage, sim: SimStreet) -> dict[tuple[int, int, int], float]:
    store = storage.headend()
    out: dict[tuple[int, int, int], float] = {}
    for serial in sim.meter_serials():
        for ch in range(3):
            for row in await store.meter_hours(serial, ch, SINCE_HOUR - 100, START_HOUR + 100):
                out[(serial, ch, row.hour // HOUR)] = row.value
    return out


async def _caught_up(storage: Storage, sim: SimStreet, hour: int) -> bool:
    meters = await storage.headend().list_meters("c1")
    return len(meters) == 3 * len(sim.meter_serials()) and all(
        m.counter_hour is not None and m.counter_hour >= hour for m in meters
    )


def _check_exact(sim: SimStreet, stored: dict[tuple[int, int, int], float], hours: range) -> None:
    expected = {
        (serial, ch, h): sim.expected(serial, ch, h)
        for serial in sim.meter_serials()
        for ch in range(3)
        for h in hours
    }
    assert set(stored) == set(expected), "every meter-hour once, no gap, nothing extra"
    for key, value in expected.items():
        assert value is not None
        assert stored[key] == pytest.approx(value, abs=1e-9), key


async def test_inventory_backlog_and_an_outage_deliver_every_meter_hour_once(
    storage: Storage, sim: SimStreet
) -> None:
    c = await _register(storage, sim)
    async with _worker(storage, c, sim):
        await until(lambda: _caught_up(storage, sim, START_HOUR))
        _check_exact(sim, await _stored(storage, sim), range(SINCE_HOUR, START_HOUR))
        modules = await storage.headend().list_modules("c1")
        assert len(modules) == 4 + 5  # the meters and the demo home kit

        # one live value of the next hour is what makes the worker fetch the hour that ended
        sim.set_time(START + HOUR)
        await until(lambda: _caught_up(storage, sim, START_HOUR + 1))

        # the concentrator is unplugged for five hours, then back: the backlog fills them
        await sim.down()
        sim.set_time(START + 6 * HOUR)
        await sim.up()
        await until(lambda: _caught_up(storage, sim, START_HOUR + 6), within=90)
        _check_exact(sim, await _stored(storage, sim), range(SINCE_HOUR, START_HOUR + 6))

    # a second worker (a restart) asks again from the stored positions: nothing doubles
    before = await storage.count_readings()
    async with _worker(storage, c, sim) as again:
        await until(lambda: _passes(again))
    assert await storage.count_readings() == before


async def _passes(worker: ConcentratorWorker) -> bool:
    return worker.passes >= 1


async def test_a_module_out_of_reach_is_filled_when_it_returns(
    storage: Storage, sim: SimStreet
) -> None:
    target = sim.meter_serials()[1]
    sim.network.apply(Scenario(ScenarioName.OFFLINE, target, {"hours": 3.0}))
    c = await _register(storage, sim)
    async with _worker(storage, c, sim):
        await until(lambda: _caught_up_except(storage, target, START_HOUR))
        stored = await _stored(storage, sim)
        assert not any(k[0] == target for k in stored)
        for hour in range(1, 5):
            sim.set_time(START + hour * HOUR)
        await until(lambda: _caught_up(storage, sim, START_HOUR + 4), within=90)
        _check_exact(sim, await _stored(storage, sim), range(SINCE_HOUR, START_HOUR + 4))


async def _caught_up_except(storage: Storage, module: int, hour: int) -> bool:
    meters = await storage.headend().list_meters("c1")
    others = [m for m in meters if m.module_serial != module]
    return bool(others) and all(m.counter_hour == hour for m in others)


async def test_hostile_frames_with_a_valid_crc_reach_no_reading(
    storage: Storage, sim: SimStreet
) -> None:
    c = await _register(storage, sim)
    serial = sim.meter_serials()[0]
    async with _worker(storage, c, sim):
        await until(lambda: _caught_up(storage, sim, START_HOUR))
        before = await _stored(storage, sim)
        row = sim.network.counters[sim.network.modules[serial].row]
        now = int(START)
        counter = int(row[1])
        sim.concentrator.fan_out(
            [
                MeterReading(0x0BADBEEF, now, ((0, 5),)),  # not in the inventory
                MeterReading(serial, now, ((1, (counter - 500) % 2**32),)),  # runs backwards
                MeterReading(serial, now + 60, ((1, counter + 10**7),)),  # 10,000 m³ in a minute
                MeterReading(serial, now - 3600, ((1, counter),)),  # older than one applied
            ]
        )

        async def findings() -> bool:
            rules = {(v.module_serial, v.rule) for v in await storage.headend().vee_counts()}
            return {
                (0x0BADBEEF, "unknown_module"),
                (serial, "reverse_run"),
                (serial, "spike"),
                (serial, "stale"),
            } <= rules

        await until(findings)
        assert await _stored(storage, sim) == before
        alarms = await storage.headend().alarms(kind="unknown_module")
        assert [a.module_serial for a in alarms] == [0x0BADBEEF]


async def test_backlog_records_that_were_not_asked_for_are_refused(
    storage: Storage, sim: SimStreet, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sim.network.backlog
    serial = sim.meter_serials()[2]

    def hostile(module: int, channel: int, first: int, last: int) -> list[tuple[int, list[int]]]:
        runs = real(module, channel, first, last)
        if module != serial:
            return runs
        # hours before the ones asked, and a second page for asked hours that disagrees
        forged = [(first - 5, [1, 2, 3]), (first, [c + 7 for c in runs[0][1][:2]])]
        return runs + forged

    monkeypatch.setattr(sim.network, "backlog", hostile)
    c = await _register(storage, sim)
    wanted = {(serial, "unasked_hours"), (serial, "conflicting_records")}

    async def counted() -> bool:
        rules = {(v.module_serial, v.rule) for v in await storage.headend().vee_counts()}
        return wanted <= rules

    async with _worker(storage, c, sim):
        await until(lambda: _caught_up(storage, sim, START_HOUR))
        # the field client refused the forged records; their counts arrive with one of the
        # worker's batches of findings, written in the background
        await until(counted)
    stored = await _stored(storage, sim)
    # the forged hours reach nothing; the other hours of that module are exact
    for (module, ch, hour), value in stored.items():
        assert value == pytest.approx(sim.expected(module, ch, hour)), (module, ch, hour)
    assert not any(k[0] == serial and k[2] in (SINCE_HOUR, SINCE_HOUR + 1) for k in stored)


async def test_a_mapped_meter_feeds_the_balance_and_a_ven_report_does_not_double_it(
    storage: Storage, sim: SimStreet
) -> None:
    serial = sim.meter_serials()[0]
    grid = storage.grid()
    await grid.import_hierarchy(
        [
            GridNode("r", None, "region", "R"),
            GridNode("h", "r", "house", "H"),
            GridNode("f", "h", "flat", "F"),
        ],
        # the grid meter is the head-end's meter of module `serial`, channel 0
        [GridMeter("f-m", "f", "subscriber", "A", "dmesh", meter_name(serial, 0))],
    )
    # the flat's Home Assistant reports the same meter through its VEN
    from balance_aggregator.storage import ReadingRow

    await storage.ingest_readings(
        [
            ReadingRow("ven-f", "flat-1", "electricity", "KWH", h * HOUR, 99.0, "r1")
            for h in range(SINCE_HOUR, START_HOUR)
        ]
    )
    c = await _register(storage, sim)
    async with _worker(storage, c, sim):
        await until(lambda: _caught_up(storage, sim, START_HOUR))
    rows = await grid.balance("", "h", SINCE_HOUR * HOUR, START_HOUR * HOUR)
    assert len(rows) == 6
    for r in rows:
        assert r.subscribers_kwh == pytest.approx(sim.expected(serial, 0, r.hour // HOUR))
    alarms = await storage.headend().alarms(kind="unassigned_meter", open_only=True)
    unassigned = {a.module_serial for a in alarms}
    assert serial not in unassigned
    assert set(sim.meter_serials()[1:]) <= unassigned


def test_stuck_registers_need_neighbours_that_move() -> None:
    from balance_aggregator.services.headend.vee import stuck_registers

    kinds = {(1, 0): "electricity", (2, 0): "electricity", (3, 0): "electricity", (1, 1): "water"}
    flat = {(1, 0): 100, (2, 0): None, (3, 0): 90, (1, 1): 100}
    # (1, 0) stood still 72 h; of its two neighbours one moves, one stood still as long: no
    assert stuck_registers(flat, kinds, 172, 72) == set()
    # the other one stopped only at hour 170: it moved within those 72 h, so both did
    assert stuck_registers(flat | {(3, 0): 170}, kinds, 172, 72) == {(1, 0)}
    # a water meter alone on its kind has no neighbours to compare with; not enough hours yet
    assert stuck_registers(flat | {(3, 0): None}, kinds, 171, 72) == set()
    # a whole street standing still (a power cut) is no stuck register
    assert stuck_registers(dict.fromkeys(kinds, 100), kinds, 200, 72) == set()


async def test_a_stuck_register_is_flagged_and_its_values_kept(storage: Storage) -> None:
    sim = street(modules=4, home=False, consumption=False)
    await sim.up()
    try:
        serial = sim.meter_serials()[0]
        sim.stop_meter(serial, 0)
        c = Concentrator("c1", sim.url, None, 0.0, START_HOUR)
        assert await storage.headend().add_concentrator(c)
        assert await storage.headend().claim(PROCESS, 1.0, 10**9, 1) == ["c1"]
        settings = replace(SETTINGS, stuck_days=1.0, host_clock=sim.clock.now)
        worker = ConcentratorWorker(storage.headend(), c, PROCESS, settings, clock=lambda: 2.0)
        task = asyncio.get_running_loop().create_task(worker.run())
        try:
            for hour in range(1, 27):
                sim.set_time(START + hour * HOUR)
                await until(lambda h=hour: _caught_up(storage, sim, START_HOUR + h))

            async def flagged() -> bool:
                open_ = await storage.headend().alarms(kind="stuck_register", open_only=True)
                return [(a.module_serial, a.channel) for a in open_] == [(serial, 0)]

            await until(flagged)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        vee = {(v.module_serial, v.channel, v.rule) for v in await storage.headend().vee_counts()}
        assert vee == {(serial, 0, "stuck_register")}
        # flagged, not rejected: its zero hours are stored like every other hour
        stored = await storage.headend().meter_hours(serial, 0, START_HOUR, START_HOUR + 26)
        assert len(stored) == 26 and {r.value for r in stored[1:]} == {0.0}
        assert worker.rejected == 0
    finally:
        await sim.down()
