"""A live outage of hours, with Home Assistant's clock and the simulator's moving together.

Time is frozen and moved by hand, the event loop's included: Home Assistant, the recorder and
the simulated mesh then agree on which hour is which, whatever the wall clock says when the
test runs. The simulated radio has no latency (a frozen loop would never end a sleep), and
waiting counts turns of the event loop, not seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.statistics import (
    get_last_short_term_statistics,
    statistics_during_period,
)
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.balance.const import DOMAIN, meter_key
from dmesh_lib.simulator.network import HISTORY_HOURS, SimulatedNetwork
from dmesh_lib.simulator.scenarios import Scenario
from dmesh_lib.units import COUNTER_MODULO
from tests.integration.conftest import SIM_START, StartSimulator, make_entry, setup_entry

# Twenty to the hour, some hours before the suite's start: the outage ends five minutes past a
# later hour, when the hour that just ended is still the recorder's to compile.
START = SIM_START.replace(minute=40) - timedelta(hours=6)
OUTAGE = timedelta(hours=2, minutes=25)
# Built at import, before the test freezes time: under a frozen clock the consumption model's
# first use (pandas, demandlib) takes minutes.
NETWORK, REJOIN_NETWORK = (
    SimulatedNetwork(
        meter_modules=2, home=False, seed=1, start=START.timestamp(), report_interval=3600
    )
    for _ in range(2)
)


@pytest.fixture(autouse=True)
def _custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """As in conftest, but the recorder must start before hass does."""


def _period_start() -> datetime:
    now = dt_util.utcnow()
    return now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)


async def _hourly(hass: HomeAssistant, start_hour: int, entity_id: str) -> list[dict[str, Any]]:
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        dt_util.utc_from_timestamp(start_hour * 3600),
        None,
        {entity_id},
        "hour",
        None,
        {"state", "sum"},
    )
    return list(rows.get(entity_id, []))


async def _until(predicate: Callable[[], bool]) -> None:
    """Let the loop (and the sockets) turn until ``predicate`` holds; give up after many turns."""
    for _ in range(200_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not met")


@pytest.mark.freeze_time(START)
async def test_live_outage_backfills_every_hour_once_and_no_spike(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    start_simulator: StartSimulator,
) -> None:
    sim = await start_simulator(network=NETWORK, hop_latency=0.0)
    net = sim.network
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    client = entry.runtime_data.client
    module = net.meter_modules[1]
    entity_id = f"sensor.electricity_meter_{module.serial:08x}_1_energy"
    meter = coordinator.modules[module.serial].meters[0]
    assert meter.entity_id == entity_id
    counter_then = int(net.counters[module.row, 0])
    assert float(hass.states.get(entity_id).state) == 0.0  # type: ignore[union-attr]
    # The recorder has compiled the meter once before the outage: its zero point is known.
    do_adhoc_statistics(hass, start=_period_start())
    await async_wait_recording_done(hass)

    fetches: list[tuple[int, int]] = []
    fetch_backlog = client.fetch_backlog

    async def counting_fetch(serial: int, first: int, last: int, *args: Any) -> Any:
        """The real request, counted: each one costs a trip through the mesh."""
        if serial == module.serial:
            fetches.append((first, last))
        return await fetch_backlog(serial, first, last, *args)

    client.fetch_backlog = counting_fetch  # type: ignore[method-assign]

    # The bridge loses its line; it comes back hours later, as far as every clock can tell.
    seen: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda e: (
            seen.append(e.data["new_state"].state) if e.data["entity_id"] == entity_id else None
        ),
    )
    # The client retries hourly here, so the outage lasts as long as the clock is moved.
    client.reconnect_min = client.reconnect_max = 3600.0
    sim.concentrator.drop_hosts()
    await _until(lambda: not coordinator.connected)
    assert seen == [STATE_UNAVAILABLE]
    issues = ir.async_get(hass)
    unreachable = f"unreachable_{entry.entry_id}"
    freezer.tick(timedelta(minutes=16))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, unreachable) is not None

    freezer.tick(OUTAGE - timedelta(minutes=16))
    async_fire_time_changed(hass)
    await _until(lambda: meter_key(module.serial, 0) in coordinator.last_backfill)
    await async_wait_recording_done(hass)
    assert client.reconnects == 1
    assert issues.async_get_issue(DOMAIN, unreachable) is None

    first_row = int(START.timestamp()) // 3600
    now_hour = int(dt_util.utcnow().timestamp()) // 3600
    assert now_hour == first_row + 3
    rows = await _hourly(hass, first_row - 1, entity_id)
    # The hour that ended five minutes ago is left to the recorder for now...
    assert [int(r["start"]) // 3600 for r in rows] == [first_row, first_row + 1]
    assert coordinator.last_backfill[meter_key(module.serial, 0)].deferred_from == now_hour
    # ... and not asked for again and again while it settles, however busy the mesh is.
    for _ in range(5):
        await hass.services.async_call(
            DOMAIN,
            "read_now",
            {"config_entry_id": entry.entry_id, "module": f"{module.serial:08X}"},
            blocking=True,
        )
    assert len(fetches) == 1

    # Ten minutes later it is imported.
    freezer.tick(timedelta(minutes=11))
    async_fire_time_changed(hass)
    await _until(lambda: len(fetches) == 2)
    await _until(
        lambda: coordinator.last_backfill[meter_key(module.serial, 0)].deferred_from is None
    )
    await async_wait_recording_done(hass)
    assert fetches[1][0] == now_hour

    rows = await _hourly(hass, first_row - 1, entity_id)
    assert [int(r["start"]) // 3600 for r in rows] == [first_row, first_row + 1, first_row + 2]
    history = net.history[module.row, 0]
    for row in rows:
        closing = int(history[(int(row["start"]) // 3600 + 1) % HISTORY_HOURS])
        expected = ((closing - counter_then) % COUNTER_MODULO) / 1000
        assert row["state"] == pytest.approx(expected)
        # The recorder's offset (sum - state) is 0 since its first row: kept in every row.
        assert row["sum"] == pytest.approx(row["state"])
    sums = [r["sum"] for r in rows]
    assert sums == sorted(sums)
    assert sums[-1] > 0

    # The recorder's next own row continues from there with no spike.
    await hass.services.async_call(
        DOMAIN,
        "read_now",
        {"config_entry_id": entry.entry_id, "module": f"{module.serial:08X}"},
        blocking=True,
    )
    live = float(hass.states.get(entity_id).state)  # type: ignore[union-attr]
    assert live == pytest.approx((int(net.counters[module.row, 0]) - counter_then) / 1000)
    assert live >= sums[-1]
    do_adhoc_statistics(hass, start=_period_start())
    await async_wait_recording_done(hass)
    last = await get_instance(hass).async_add_executor_job(
        get_last_short_term_statistics, hass, 1, entity_id, True, {"state", "sum"}
    )
    assert last[entity_id][0]["sum"] == pytest.approx(live)


@pytest.mark.freeze_time(START)
async def test_module_back_in_reach_fills_its_hours(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    start_simulator: StartSimulator,
) -> None:
    sim = await start_simulator(network=REJOIN_NETWORK, hop_latency=0.0)
    net = sim.network
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    module = net.meter_modules[1]
    entity_id = f"sensor.electricity_meter_{module.serial:08x}_1_energy"
    counter_then = int(net.counters[module.row, 0])
    do_adhoc_statistics(hass, start=_period_start())
    await async_wait_recording_done(hass)

    # The concentrator stays up; one module is out of radio reach for two hours.
    net.apply(Scenario.parse(f"offline:hours=2,module={module.serial}"))
    freezer.tick(OUTAGE)
    async_fire_time_changed(hass)
    await _until(lambda: meter_key(module.serial, 0) in coordinator.last_backfill)
    await async_wait_recording_done(hass)
    assert coordinator.connected

    first_row = int(START.timestamp()) // 3600
    rows = await _hourly(hass, first_row - 1, entity_id)
    assert [int(r["start"]) // 3600 for r in rows] == [first_row, first_row + 1]
    history = net.history[module.row, 0]
    for row in rows:
        closing = int(history[(int(row["start"]) // 3600 + 1) % HISTORY_HOURS])
        assert row["state"] == pytest.approx(((closing - counter_then) % COUNTER_MODULO) / 1000)
        assert row["sum"] == pytest.approx(row["state"])
    assert float(hass.states.get(entity_id).state) >= rows[-1]["state"] > 0  # type: ignore[union-attr]
