"""Home Assistant restarted at every point of an entry's life, as a household meets it.

Users restart right after installing things: while the entry still connects, in its first
minutes, within its first hour, during a backfill or an outage, after a meter was replaced, and
with a saved file that is damaged or from another version. After each the entry is loaded, the
meter totals go on from where they were (never back, never twice), the analytics have states and
the log has no error.

A restart here is what Home Assistant does at stop and start: the entry unloads (its stores are
written), time passes with the concentrator running on, and the entry is set up again from the
saved storage. Time is frozen and moved by hand, at a fixed date (a January night, across
03:00), so the hours are the same whenever the tests run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.balance.const import DOMAIN, meter_key
from dmesh_lib.simulator.network import SimulatedNetwork
from dmesh_lib.simulator.scenarios import Scenario

from .conftest import RunningSimulator, StartSimulator, make_entry, setup_entry
from .test_outage import _hourly, _period_start, _until

START = datetime(2026, 1, 14, 2, 40, tzinfo=UTC)
"""Twenty to three on a January night: the first whole hour ends at 03:00."""
# Built at import, before time is frozen (see test_outage): one mesh per test, as each moves on.
NETWORKS: Iterator[SimulatedNetwork] = iter(
    [
        SimulatedNetwork(
            meter_modules=1, home=False, seed=1, start=START.timestamp(), report_interval=3600
        )
        for _ in range(12)
    ]
)


@pytest.fixture(autouse=True)
def _custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """As in conftest, but the recorder must start before hass does."""


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> RunningSimulator:
    return await start_simulator(network=next(NETWORKS), hop_latency=0.0)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith(("homeassistant", "custom_components"))
    ]


def _total_id(hass: HomeAssistant, sim: RunningSimulator, channel: int = 0) -> str:
    key = meter_key(sim.network.meter_modules[0].serial, channel)
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{key}-total")
    assert entity_id is not None
    return entity_id


def _total(hass: HomeAssistant, entity_id: str) -> float:
    state = hass.states.get(entity_id)
    assert state is not None and state.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN), state
    return float(state.state)


async def _pass(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Time passes with Home Assistant running: timers fire, the mesh reports."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def _restart(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory, down: timedelta
) -> None:
    """Stop (the entry unloads and writes its stores), stay off for ``down``, start again."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    freezer.tick(down)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _analytics_have_states(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Every analytics entity of the entry shows something, none is unavailable."""
    registry = er.async_get(hass)
    analytics = [
        e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.unique_id.endswith(("-leak", "-standby", "-burst", "-gas_leak", "-consumption_month"))
    ]
    assert analytics
    for e in analytics:
        state = hass.states.get(e.entity_id)
        assert state is not None and state.state != STATE_UNAVAILABLE, e.entity_id


@pytest.mark.freeze_time(START)
async def test_restart_after_a_module_outage_in_the_first_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The issue's case: set up, a module out of reach for hours, the backfill gives the
    recorder whole hours while the analytics have none of their own, Home Assistant restarts."""
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    module = sim.network.meter_modules[0]
    total_id = _total_id(hass, sim)
    do_adhoc_statistics(hass, start=_period_start())
    await async_wait_recording_done(hass)
    await _pass(hass, freezer, timedelta(minutes=5))
    before = _total(hass, total_id)

    sim.network.apply(Scenario.parse(f"offline:hours=2,module={module.serial}"))
    await _pass(hass, freezer, timedelta(hours=2, minutes=25))
    await _until(lambda: meter_key(module.serial, 0) in coordinator.last_backfill)
    await async_wait_recording_done(hass)
    first_row = int(START.timestamp()) // 3600
    assert len(await _hourly(hass, first_row - 1, total_id)) >= 1  # the recorder has hours
    during = _total(hass, total_id)
    assert during >= before

    await _restart(hass, entry, freezer, timedelta(seconds=90))
    assert entry.state is ConfigEntryState.LOADED
    await _pass(hass, freezer, timedelta(minutes=5))
    assert _total(hass, total_id) >= during
    _analytics_have_states(hass, entry)
    # and again: a reload must not break what the first start repaired
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert not _errors(caplog)
