"""One simulator harness for the head-end's tests and its benchmark: simulated concentrators on
loopback sockets whose clock the caller sets (speed 0: simulated time moves only when told)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

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
