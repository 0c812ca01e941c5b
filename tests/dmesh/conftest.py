"""A real simulated concentrator on a real TCP socket, per test."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import SimulatedNetwork

# A fixed start keeps every run's households identical: 2026-01-15 10:00 UTC, heating season.
START = 1_768_471_200.0


@dataclass
class RunningSimulator:
    concentrator: SimulatedConcentrator
    port: int

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    @property
    def network(self) -> SimulatedNetwork:
        return self.concentrator.network

    def clock(self) -> float:
        """The simulated time: a host's clock, for a client of an accelerated simulator.

        A client checks report timestamps against its own clock; in the field TIME_SYNC makes the
        two agree, here the simulation runs faster than the wall clock.
        """
        return self.concentrator.clock.now()


SimulatorFactory = Callable[..., "asyncio.Future[RunningSimulator]"]


@pytest.fixture
async def start_simulator(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Callable[..., object]]:
    started: list[SimulatedConcentrator] = []

    async def start(
        *,
        meter_modules: int = 6,
        speed: float = 60.0,
        hop_latency: float = 0.01,
        report_interval: float = 60.0,
        home: bool = True,
        seed: int = 1,
    ) -> RunningSimulator:
        network = SimulatedNetwork(
            meter_modules=meter_modules,
            home=home,
            seed=seed,
            start=START,
            report_interval=report_interval,
        )
        concentrator = SimulatedConcentrator(
            network,
            SimClock(start=START, speed=speed),
            hop_latency=hop_latency,
            seed=seed,
            tick_interval=0.05,
        )
        port = await concentrator.start("127.0.0.1", 0)
        started.append(concentrator)
        return RunningSimulator(concentrator, port)

    yield start
    for concentrator in started:
        await concentrator.stop()
    # The simulator logs and carries on when it fails a request; a test must not pass over it.
    failures = [
        r.getMessage()
        for phase in ("setup", "call")
        for r in caplog.get_records(phase)
        if r.name.startswith("dmesh_lib.simulator") and r.levelno >= logging.ERROR
    ]
    assert not failures, failures


async def wait_for(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def _real_sockets(socket_enabled: None) -> None:
    """Home Assistant's test plugin blocks sockets; these tests use real loopback TCP on purpose."""
