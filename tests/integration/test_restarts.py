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
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.balance.analytics.manager import storage_key as analytics_key
from custom_components.balance.analytics.setup import analytics_manager
from custom_components.balance.const import DOMAIN, meter_key
from custom_components.balance.load_manager.manager import storage_key as manager_key
from custom_components.balance.utility.reports import storage_key as utility_key
from dmesh_lib.simulator.network import SimulatedNetwork
from dmesh_lib.simulator.scenarios import Scenario
from tests.integration.analytics.test_analytics import LEAK, TOTAL, WATER, water_entry
from tests.integration.conftest import RunningSimulator, StartSimulator, make_entry, setup_entry
from tests.integration.dmesh.test_outage import _hourly, _period_start, _until
from tests.integration.load_manager.helpers import (
    EV,
    PC,
    is_on,
    manager_entry,
    set_power,
    setup_house,
)
from tests.integration.utility.helpers import (
    RunningVtn,
    setup_utility,
    start_vtn,
    utility_entry,
    vtn_factory,
)

__all__ = ["vtn_factory"]  # the fixture, used by name

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


# -- a saved file that is damaged or from another version
#
# A file that is not JSON at all is Home Assistant's own case: the Store renames it, raises its
# "storage corruption" repair and loads nothing. What the integration must survive is a file
# that parses but holds what it cannot use, or has a version it does not know.

UNREADABLE: dict[str, dict[str, Any]] = {
    "newer": {"version": 9, "data": {}},
    "older": {"version": 0, "data": {}},
    "not_a_mapping": {"version": 1, "data": ["meters"]},
}


@pytest.mark.freeze_time(START)
@pytest.mark.parametrize(
    "saved",
    [
        *UNREADABLE.values(),
        {"version": 1, "data": {"meters": "water"}},
        {"version": 1, "data": {"meters": {"water": "garbage"}, "away_since": "soon"}},
        {"version": 1, "data": {"meters": {"water": {"journal": {"version": 1}, "tariffs": 3}}}},
        {"version": 1, "data": {"meters": {"water": {"journal": {}, "power": {"total": "x"}}}}},
    ],
    ids=[*UNREADABLE, "meters_not_a_mapping", "meter_garbage", "journal_broken", "power_broken"],
)
async def test_unusable_analytics_store_starts_afresh(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    saved: dict[str, Any],
) -> None:
    """The analytics' journal comes back from the recorder: a fresh start, said in the log."""
    hass.states.async_set(WATER, "100.0", TOTAL)
    entry = water_entry()
    hass_storage[analytics_key(entry.entry_id)] = saved
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert "starting afresh" in caplog.text
    for total in (100.01, 100.02):
        await _pass(hass, freezer, timedelta(minutes=5))
        hass.states.async_set(WATER, f"{total}", TOTAL)
    await _pass(hass, freezer, timedelta(minutes=5))
    assert hass.states.get(LEAK) is not None
    assert hass.states.get(LEAK).state in ("on", "off")  # type: ignore[union-attr]
    # what it saves now is readable again
    await _restart(hass, entry, freezer, timedelta(seconds=90))
    assert entry.state is ConfigEntryState.LOADED
    assert not _errors(caplog)


@pytest.mark.parametrize(
    "saved",
    [
        *UNREADABLE.values(),
        {"version": 1, "data": {"engine": 5, "entities": ["ev"]}},
        {"version": 1, "data": {"engine": {}, "temporary_limit": {"until": 3}}},
    ],
    ids=[*UNREADABLE, "engine_broken", "limit_broken"],
)
async def test_unusable_load_manager_store_starts_afresh(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    saved: dict[str, Any],
) -> None:
    """Load management must run: it starts from what the switches show, and says so."""
    await setup_house(hass)
    entry = manager_entry()
    hass_storage[manager_key(entry.entry_id)] = saved
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert "Load manager state" in caplog.text
    await set_power(hass, 9000)  # over the limit: it sheds as it should
    assert not is_on(hass, EV) and is_on(hass, PC)
    assert not _errors(caplog)


@pytest.mark.parametrize(
    "saved",
    [*UNREADABLE.values(), {"version": 1, "data": {"cursors": ["x"], "opted_out": True}}],
    ids=[*UNREADABLE, "cursors_broken"],
)
async def test_unusable_utility_store_raises_a_repair_for_the_opt_out(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    *,
    vtn_factory: list[RunningVtn],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    saved: dict[str, Any],
) -> None:
    """Reports are rebuilt from the recorder; an opt-out that was lost must be confirmed."""
    vtn = await start_vtn(vtn_factory, tmp_path, mqtt=False)
    bl = await vtn.client("operator", "bl")
    entry = utility_entry(vtn.url, await vtn.house(bl))
    hass_storage[utility_key(entry.entry_id)] = saved
    await setup_utility(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    issues = ir.async_get(hass)
    issue_id = f"utility_state_lost_{entry.entry_id}"
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.translation_key == "utility_state_lost"
    follow = er.async_get(hass).async_get_entity_id(
        "switch", DOMAIN, f"{entry.entry_id}-follow_events"
    )
    assert follow is not None and hass.states.get(follow).state == "on"  # type: ignore[union-attr]
    # the household confirms its choice: the repair is done
    await hass.services.async_call("switch", "turn_off", {"entity_id": follow}, blocking=True)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(follow).state == "off"  # type: ignore[union-attr]
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert not _errors(caplog)


# -- restarts along an entry's life


async def _read_now(hass: HomeAssistant, entry: MockConfigEntry, sim: RunningSimulator) -> None:
    module = sim.network.meter_modules[0]
    await hass.services.async_call(
        DOMAIN,
        "read_now",
        {"config_entry_id": entry.entry_id, "module": f"{module.serial:08X}"},
        blocking=True,
    )
    await hass.async_block_till_done()


def _counted(sim: RunningSimulator, counter_then: int) -> float:
    """What the meter used since the entry was set up, in kWh (1000 imp/kWh)."""
    module = sim.network.meter_modules[0]
    return (int(sim.network.counters[module.row, 0]) - counter_then) / 1000


async def _loaded_and_counting(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    *,
    sim: RunningSimulator,
    freezer: FrozenDateTimeFactory,
    counter_then: int | None,
    before: float,
) -> None:
    """What a user looks at after the restart, and again an hour on; ``counter_then`` (the
    counter when the entry was set up) checks that nothing was counted twice or lost."""
    assert entry.state is ConfigEntryState.LOADED
    total_id = _total_id(hass, sim)
    for _ in range(2):
        await _read_now(hass, entry, sim)
        now = _total(hass, total_id)
        assert now >= before  # never back
        if counter_then is not None:  # nothing twice: at most what the meter counted
            assert now <= _counted(sim, counter_then) + 1e-9
        _analytics_have_states(hass, entry)
        manager = analytics_manager(hass, entry)
        assert manager is not None
        journal = manager.meters[meter_key(sim.network.meter_modules[0].serial, 0)].journal
        await _pass(hass, freezer, timedelta(minutes=5))  # the analytics read on their tick
        assert journal.last_total == pytest.approx(_total(hass, total_id))
        before = now
        for _ in range(12):
            await _pass(hass, freezer, timedelta(minutes=5))


@pytest.mark.freeze_time(START)
async def test_restart_while_the_entry_sets_up(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopped while still connecting: the stop waits for the set-up, the start continues."""
    counter_then = int(sim.network.counters[sim.network.meter_modules[0].row, 0])
    entry = make_entry(sim)
    entry.add_to_hass(hass)
    setup = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
    await _until(lambda: entry.state is ConfigEntryState.SETUP_IN_PROGRESS)
    freezer.tick(timedelta(seconds=90))
    await hass.config_entries.async_reload(entry.entry_id)
    await setup
    await hass.async_block_till_done()
    # The pulses of the 90 s down are lost when the stop came before the first value (known,
    # see the report); the count must still never go back.
    del counter_then
    await _loaded_and_counting(hass, entry, sim=sim, freezer=freezer, counter_then=None, before=0.0)
    assert not _errors(caplog)


@pytest.mark.freeze_time(START)
@pytest.mark.parametrize(
    "running", [timedelta(minutes=7), timedelta(minutes=35)], ids=["first_minutes", "first_hour"]
)
async def test_restart_before_the_first_whole_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
    running: timedelta,
) -> None:
    """Installed at 02:40, restarted before 03:00: the analytics have no whole hour yet."""
    counter_then = int(sim.network.counters[sim.network.meter_modules[0].row, 0])
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    for _ in range(running // timedelta(minutes=5)):
        await _pass(hass, freezer, timedelta(minutes=5))
    await _read_now(hass, entry, sim)
    before = _total(hass, _total_id(hass, sim))
    await _restart(hass, entry, freezer, timedelta(seconds=90))
    await _loaded_and_counting(
        hass, entry, sim=sim, freezer=freezer, counter_then=counter_then, before=before
    )
    assert not _errors(caplog)


@pytest.mark.freeze_time(START)
async def test_restart_during_a_backfill(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopped just as a module back in reach delivers its hours: each is imported once."""
    module = sim.network.meter_modules[0]
    counter_then = int(sim.network.counters[module.row, 0])
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    total_id = _total_id(hass, sim)
    do_adhoc_statistics(hass, start=_period_start())
    await async_wait_recording_done(hass)
    sim.network.apply(Scenario.parse(f"offline:hours=2,module={module.serial}"))
    freezer.tick(timedelta(hours=2, minutes=25))
    async_fire_time_changed(hass)
    await _until(lambda: entry.runtime_data.coordinator.connected)
    before = float(hass.states.get(total_id).state or 0)  # type: ignore[union-attr]
    await _restart(hass, entry, freezer, timedelta(seconds=90))
    coordinator = entry.runtime_data.coordinator
    await _until(lambda: meter_key(module.serial, 0) in coordinator.last_backfill)
    await async_wait_recording_done(hass)
    rows = await _hourly(hass, int(START.timestamp()) // 3600 - 1, total_id)
    starts = [int(r["start"]) for r in rows]
    assert starts and starts == sorted(set(starts))  # every hour once
    states = [r["state"] for r in rows]
    assert states == sorted(states)
    await _loaded_and_counting(
        hass, entry, sim=sim, freezer=freezer, counter_then=counter_then, before=before
    )
    assert not _errors(caplog)


@pytest.mark.freeze_time(START)
async def test_restart_after_a_meter_replacement(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The new meter shows 7.25 kWh: after a restart the count goes on from there, not from
    the old meter's total, and the analytics see no negative use."""
    module = sim.network.meter_modules[0]
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    total_id = _total_id(hass, sim)
    for _ in range(3):
        await _pass(hass, freezer, timedelta(minutes=5))
    await hass.services.async_call(
        DOMAIN,
        "set_meter_reading",
        {
            "config_entry_id": entry.entry_id,
            "module": f"{module.serial:08X}",
            "channel": 1,
            "reading": 7.25,
        },
        blocking=True,
    )
    await hass.async_block_till_done()
    counter_then = int(sim.network.counters[module.row, 0])
    assert _total(hass, total_id) == pytest.approx(7.25)
    await _pass(hass, freezer, timedelta(minutes=5))
    await _restart(hass, entry, freezer, timedelta(seconds=90))
    assert entry.state is ConfigEntryState.LOADED
    await _read_now(hass, entry, sim)
    # from the new reading on (pulses the module had not yet reported count too), never back
    assert 7.25 <= _total(hass, total_id) < 7.25 + _counted(sim, counter_then) + 0.1
    manager = analytics_manager(hass, entry)
    assert manager is not None
    values = manager.meters[meter_key(module.serial, 0)].journal.series().values
    assert not (values < 0).any()
    _analytics_have_states(hass, entry)
    assert not _errors(caplog)


@pytest.mark.freeze_time(START)
async def test_restart_during_a_concentrator_outage(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant starts while the concentrator is off: the entry waits and retries instead
    of failing, and once the concentrator is back it loads with its count where it was."""
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    total_id = _total_id(hass, sim)
    await _pass(hass, freezer, timedelta(minutes=5))
    before = _total(hass, total_id)

    await sim.concentrator.stop()
    await _restart(hass, entry, freezer, timedelta(seconds=90))
    assert entry.state is ConfigEntryState.SETUP_RETRY
    await sim.restart()
    for _ in range(6):  # Home Assistant's own retry, with its backoff, not a reload by hand
        if entry.state is ConfigEntryState.LOADED:
            break
        freezer.tick(timedelta(seconds=20))
        # utcnow is the frozen clock (START plus the ticks above), never the wall clock
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=20))
        # the retry runs as a background task: let it talk to the concentrator with the clock
        # standing still, or the next tick would time its handshake out
        await _until(lambda: entry.state is not ConfigEntryState.SETUP_IN_PROGRESS)
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await _pass(hass, freezer, timedelta(minutes=5))
    assert _total(hass, total_id) >= before
    _analytics_have_states(hass, entry)
    assert not _errors(caplog)
