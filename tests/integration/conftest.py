"""A real hass and a real simulated concentrator on loopback TCP for every test."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import freezegun
import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balance.const import CONF_URL, DOMAIN
from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import SimulatedNetwork

SIM_START = datetime(2026, 1, 14, 16, 20, tzinfo=UTC)
"""Where every test's clock starts, whatever the wall clock says: a Wednesday evening in winter
(17:20 CET), when the simulated households are at home and draw water, gas and electricity.
A test that needs another time moves the clock itself, forward (``freezer.move_to``), or starts
it elsewhere (``@pytest.mark.freeze_time``): timers already set would wait out a step back."""

# The consumption model's first use imports pandas and demandlib and builds the year's heat
# profile; under a patched clock that takes minutes, so it happens here, once, at real time.
SimulatedNetwork(meter_modules=1, home=True, seed=1, start=SIM_START.timestamp())


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

    @property
    def serial_key(self) -> str:
        return f"{self.network.serial:08X}"

    async def restart(self) -> None:
        """Bring the concentrator back on the same port after ``stop``."""
        await self.concentrator.start("127.0.0.1", self.port)


StartSimulator = Callable[..., Awaitable[RunningSimulator]]


@pytest.fixture(autouse=True)
def _custom_integrations(enable_custom_integrations: None, socket_enabled: None) -> None:
    """The integration lives in custom_components/, and talks real TCP on loopback."""


@pytest.fixture(autouse=True)
def _fixed_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts at SIM_START and time runs on at real speed, the event loop's included.

    Home Assistant, the recorder and the simulator all read this clock, so the simulated hours,
    the households' habits and the statistics are the same at any hour, date or season the suite
    runs. Set up before ``hass`` and torn down after it; a test's own ``freezer`` nests inside.
    A ``freeze_time`` marker already sets the clock from the start (pytest-freezer puts its
    ``freezer`` first), so such a test is left to it.
    """
    if request.node.get_closest_marker("freeze_time") is not None:
        yield
        return
    with freezegun.freeze_time(SIM_START, tick=True):
        yield


@pytest.fixture
async def start_simulator(caplog: pytest.LogCaptureFixture) -> AsyncIterator[StartSimulator]:
    started: list[SimulatedConcentrator] = []

    async def start(
        *,
        meter_modules: int = 2,
        home: bool = True,
        start: float | None = None,
        report_interval: float = 3600.0,
        hop_latency: float = 0.002,
        network: SimulatedNetwork | None = None,
    ) -> RunningSimulator:
        # The simulated clock runs at real speed and is set to the host's time on connect, so
        # backlog hours and Home Assistant's own hours are the same hours.
        begin = time.time() if start is None else start
        if network is None:
            network = SimulatedNetwork(
                meter_modules=meter_modules,
                home=home,
                seed=1,
                start=begin,
                report_interval=report_interval,
            )
        concentrator = SimulatedConcentrator(
            network,
            # Both read now, through the same clock: a test that freezes time moves both.
            SimClock(start=time.time(), speed=1.0, _origin=time.monotonic()),
            hop_latency=hop_latency,
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


@pytest.fixture
async def simulator(start_simulator: StartSimulator) -> RunningSimulator:
    return await start_simulator()


def make_entry(sim: RunningSimulator, **kwargs: object) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"J100UC {sim.serial_key}",
        data={CONF_URL: sim.url},
        unique_id=sim.serial_key,
        **kwargs,  # type: ignore[arg-type]
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def wait_for(predicate: Callable[[], bool], give_up_s: float = 10.0) -> None:
    """Wait for the simulator and the event loop; the deadline only guards a hung test."""
    deadline = time.monotonic() + give_up_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def loaded(hass: HomeAssistant, simulator: RunningSimulator) -> MockConfigEntry:
    entry = make_entry(simulator)
    await setup_entry(hass, entry)
    return entry
