"""One simulator harness for the head-end's tests and its benchmark: simulated concentrators on
loopback sockets whose clock the caller sets (speed 0: simulated time moves only when told), and
the two-process SIGKILL run the lease test and the benchmark share."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from balance_aggregator.storage import Storage
from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import HISTORY_HOURS, ConsumptionSource, SimulatedNetwork
from dmesh_lib.units import COUNTER_MODULO, MeterKind

HOUR = 3600
#: a fixed simulated start, half past an hour: nothing depends on the wall clock
START = 1_767_225_600 + 1800  # 2026-01-01 00:30 UTC


@dataclass
class SimStreet:
    """A simulated concentrator and its modules, listening on 127.0.0.1."""

    network: SimulatedNetwork
    clock: SimClock
    concentrator: SimulatedConcentrator
    port: int = 0
    online: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self.port = await self.concentrator.start("127.0.0.1", self.port)
        self.online = True

    async def down(self) -> None:
        """Unplug: every host is dropped and nobody can connect until ``up``."""
        await self.concentrator.stop()
        self.online = False

    def set_time(self, t: float) -> None:
        self.clock.set(t)
        if self.online:
            self.concentrator.tick()

    def expected(self, serial: int, channel: int, hour: int) -> float | None:
        """What meter (serial, channel) consumed in ``hour`` (index), from the module's memory."""
        m = self.network.modules[serial]
        h0, h1 = hour % HISTORY_HOURS, (hour + 1) % HISTORY_HOURS
        if self.network.history_hour[h0] != hour or self.network.history_hour[h1] != hour + 1:
            return None
        c0 = int(self.network.history[m.row, channel, h0])
        c1 = int(self.network.history[m.row, channel, h1])
        return ((c1 - c0) % COUNTER_MODULO) / float(self.network.ppu[m.row, channel])

    def meter_serials(self) -> list[int]:
        return [m.serial for m in self.network.meter_modules]

    def stop_meter(self, serial: int, channel: int) -> None:
        """From now on the meter counts nothing (a stuck register); needs ``consumption=False``."""
        model = self.network.model
        assert isinstance(model, _Flat), "only the flat consumption model can stop a meter"
        model.stop(3 * self.network.modules[serial].row + channel)


def street(
    *,
    modules: int = 4,
    index: int = 0,
    seed: int = 3,
    start: float = START,
    home: bool = True,
    hop_latency: float = 0.0005,
    tick_interval: float = 0.05,
    consumption: bool = True,
) -> SimStreet:
    factory = None if consumption else _flat_consumption
    network = SimulatedNetwork(
        meter_modules=modules,
        home=home,
        seed=seed,
        start=start,
        concentrator_index=index,
        report_interval=60.0,
        consumption_factory=factory,
    )
    clock = SimClock(start=start, speed=0.0)
    concentrator = SimulatedConcentrator(
        network, clock, hop_latency=hop_latency, tick_interval=tick_interval, seed=seed + index
    )
    return SimStreet(network, clock, concentrator)


class _Flat(ConsumptionSource):
    """A cheap consumption model for big benchmarks: a constant draw per meter."""

    def __init__(self, seed: int, meters: int) -> None:
        self._rate = np.random.default_rng(seed).uniform(0.05, 1.5, size=meters)

    def consumption(self, t0: float, t1: float) -> npt.NDArray[np.float64]:
        return self._rate * (t1 - t0) / 3600

    def hourly_history(self, first_hour: int, hours: int) -> npt.NDArray[np.float64]:
        return np.repeat(self._rate[:, None], hours, axis=1)

    def set_extra_rate(self, meter: int, per_hour: float) -> None:
        self._rate[meter] += per_hour

    def stop(self, meter: int) -> None:
        self._rate[meter] = 0.0

    def indoor_temperature(self, household: int, t: float) -> float:
        return 21.0

    def indoor_humidity(self, household: int, t: float) -> float:
        return 45.0


def _flat_consumption(kinds: Sequence[MeterKind], seed: int, households: Sequence[int]) -> _Flat:
    return _Flat(seed, len(kinds))


async def until(
    condition: Callable[[], Awaitable[bool]], *, within: float = 60.0, every: float = 0.05
) -> None:
    """Wait for a condition (never a timed assertion: the timeout only ends a hung test)."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(every)


ROOT = Path(__file__).resolve().parents[2]


def headend_process(db: str, *, lease_s: float = 3.0) -> subprocess.Popen[bytes]:
    """``python -m balance_aggregator headend`` against ``db``, with a short lease."""
    env = os.environ | {
        "BALANCE_VTN_HEADEND_LEASE_S": str(lease_s),
        "BALANCE_VTN_HEADEND_SYNC_TIME": "false",
        "BALANCE_VTN_HEADEND_CATCHUP_S": "2",
        "BALANCE_VTN_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "balance_aggregator", "headend", "--db", db],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def stop_processes(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(p.wait, 20)
            except subprocess.TimeoutExpired:
                p.kill()


@dataclass(frozen=True, slots=True)
class KillRun:
    """What a SIGKILL of one of two head-end processes did to the meter-hours."""

    expected: int
    gaps: int
    duplicates: int
    wrong: int
    takeover_s: float


async def sigkill_run(
    storage: Storage,
    streets: Sequence[SimStreet],
    db: str,
    since_hour: int,
    *,
    hours_after: int = 2,
    within: float = 120.0,
) -> KillRun:
    """Two head-end processes serve ``streets`` (registered as ``c0``…, read from
    ``since_hour``); once both serve and every meter reached START's hour, one is killed with
    SIGKILL and the streets' clocks move ``hours_after`` hours on. ``takeover_s``: real seconds
    from the kill until no concentrator is leased to the dead process any more."""
    start_hour = int(START // HOUR)
    store = storage.headend()
    total = sum(3 * len(s.meter_serials()) for s in streets)
    procs = [headend_process(db), headend_process(db)]
    try:

        async def caught_up(hour: int) -> bool:
            meters = await store.list_meters()
            return len(meters) == total and all(m.counter_hour == hour for m in meters)

        async def both_serve() -> bool:
            owners = {c.lease_owner for c in await store.list_concentrators()}
            return len(owners - {None}) == 2

        await until(lambda: caught_up(start_hour), within=within)
        await until(both_serve, within=within)
        victim_pid = procs[0].pid
        owners = {c.lease_owner for c in await store.list_concentrators()}
        victim = next(o for o in owners if o and f":{victim_pid}:" in o)
        os.kill(victim_pid, signal.SIGKILL)
        killed = time.perf_counter()
        await asyncio.to_thread(procs[0].wait)
        for hour in range(1, hours_after + 1):
            for s in streets:
                s.set_time(START + hour * HOUR)

        async def taken_over() -> bool:
            owners = {c.lease_owner for c in await store.list_concentrators()}
            return victim not in owners

        await until(taken_over, within=within)
        takeover_s = time.perf_counter() - killed
        await until(lambda: caught_up(start_hour + hours_after), within=within)
    finally:
        await stop_processes(procs)
    expected = gaps = duplicates = wrong = 0
    end_hour = start_hour + hours_after
    for s in streets:
        for serial in s.meter_serials():
            for ch in range(3):
                rows = await store.meter_hours(serial, ch, since_hour, end_hour)
                seen = [r.hour // HOUR for r in rows]
                expected += end_hour - since_hour
                gaps += len(set(range(since_hour, end_hour)) - set(seen))
                duplicates += len(seen) - len(set(seen))
                for r in rows:
                    want = s.expected(serial, ch, r.hour // HOUR)
                    if want is None or abs(want - r.value) > 1e-9:
                        wrong += 1
    return KillRun(expected, gaps, duplicates, wrong, takeover_s)
