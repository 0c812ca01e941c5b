"""A real hass and a real simulated concentrator on loopback TCP for every test."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balance.const import CONF_URL, DOMAIN
from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import SimulatedNetwork


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
