"""Statistics that are never wrong: backfill after an outage, restart, the Energy dashboard."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy.validate import async_validate
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.db_schema import StatisticsShortTerm
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_short_term_statistics,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import mock_restore_cache_with_extra_data
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.balance.const import DOMAIN
from custom_components.balance.dmesh.statistics import statistic_metadata
from dmesh_lib import MeterKind
from dmesh_lib.simulator.network import HISTORY_HOURS, SimulatedNetwork
from dmesh_lib.units import COUNTER_MODULO
from tests.integration.conftest import StartSimulator, make_entry, setup_entry, wait_for

OUTAGE_HOURS = 6.5
ENTITY = "sensor.electricity_meter_10000100_1_energy"
OFFSET = -500.0
"""sum - state of the recorder's rows before the outage: any value, as long as it is kept."""


@pytest.fixture(autouse=True)
def _custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """As in conftest, but the recorder must start before hass does."""


def _period_start() -> datetime:
    """The five-minute statistics period the states just written fall in."""
    now = dt_util.utcnow()
    return now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)


def _kwh(pulses: int) -> float:
    return pulses / 1000


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


async def test_outage_backfill_has_every_hour_once_and_no_spike(
    recorder_mock: Recorder, hass: HomeAssistant, start_simulator: StartSimulator
) -> None:
    now = time.time()
    outage_start = now - OUTAGE_HOURS * 3600
    network = SimulatedNetwork(
        meter_modules=2, home=False, seed=1, start=outage_start, report_interval=3600
    )
    module = network.meter_modules[0]
    # Home Assistant last heard this counter when the outage began; it sits just below the
    # 32-bit wrap, so the counter wraps during the outage.
    counter_then = int(network.counters[module.row, 0])
    first_hour = int(outage_start) // 3600
    metadata = statistic_metadata(ENTITY, MeterKind.ELECTRICITY)
    before = {"state": 1000.0, "sum": 1000.0 + OFFSET}
    # The recorder's hourly row before the outage closed at the top of the hour it began in.
    closed = 1000.0 - _kwh(
        (counter_then - int(network.history[module.row, 0, first_hour % HISTORY_HOURS]))
        % COUNTER_MODULO
    )
    async_import_statistics(
        hass,
        metadata,
        [
            {
                "start": dt_util.utc_from_timestamp((first_hour - 2) * 3600),
                "state": closed,
                "sum": closed + OFFSET,
            }
        ],
    )
    get_instance(hass).async_import_statistics(
        metadata,
        [{"start": dt_util.utc_from_timestamp((int(outage_start) // 300 - 1) * 300), **before}],
        StatisticsShortTerm,
    )
    await async_wait_recording_done(hass)
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(ENTITY, "1000.0"),
                {
                    "native_value": 1000.0,
                    "native_unit_of_measurement": "kWh",
                    "totalizer": {
                        "kind": int(MeterKind.ELECTRICITY),
                        "pulses_per_unit": 1000.0,
                        "initial_reading": 1000.0,
                        "initial_counter": None,
                        "last_counter": counter_then,
                        "pulses": 0,
                        "last_ts": int(outage_start),
                        "configured_reading": 0.0,
                    },
                },
            )
        ],
    )
    sim = await start_simulator(network=network)
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    key = f"{module.serial:08X}-0"
    await wait_for(lambda: key in coordinator.last_backfill)
    await async_wait_recording_done(hass)

    # The simulator keeps counting between its reports: compare with the counter of the last
    # report Home Assistant took in, which lies between the outage's and the simulator's now.
    live = float(hass.states.get(ENTITY).state)  # type: ignore[union-attr]
    totalizer = coordinator.modules[module.serial].meters[0].totalizer
    assert totalizer is not None and totalizer.last_counter is not None
    counter_now = totalizer.last_counter
    counted = (counter_now - counter_then) % COUNTER_MODULO
    assert counted <= (int(network.counters[module.row, 0]) - counter_then) % COUNTER_MODULO
    assert live == pytest.approx(1000.0 + _kwh(counted))

    rows = await _hourly(hass, first_hour - 2, ENTITY)
    starts = [int(r["start"]) // 3600 for r in rows]
    settled = (int(time.time() - 15 * 60)) // 3600
    assert starts[0] == first_hour - 2
    # Every hour of the outage, once, up to the last hour the recorder has finished with.
    assert starts[1:] == list(range(first_hour - 1, starts[-1] + 1))
    assert starts[-1] >= settled - 1
    imported = rows[1:]
    history = network.history[module.row, 0]
    for row in imported:
        assert row["sum"] - row["state"] == pytest.approx(OFFSET)
        end_counter = int(history[(int(row["start"]) // 3600 + 1) % HISTORY_HOURS])
        # The hour's closing counter, counted from what HA last knew, across the wrap.
        if int(row["start"]) >= outage_start - 3600:
            delta = (end_counter - counter_then) % COUNTER_MODULO
            if delta < COUNTER_MODULO // 2:
                assert row["state"] == pytest.approx(1000.0 + _kwh(delta))
    sums = [r["sum"] for r in imported]
    assert sums == sorted(sums), "a negative hour"
    # The live total continues from the last imported hour with only what was used since.
    since_last_hour = live - imported[-1]["state"]
    assert (
        0
        <= since_last_hour
        <= _kwh(
            int(
                sum(
                    (int(history[(h + 1) % HISTORY_HOURS]) - int(history[h % HISTORY_HOURS]))
                    % COUNTER_MODULO
                    for h in range(starts[-1], starts[-1] + 1)
                )
            )
        )
        + live
        - 1000.0
    )

    # The recorder's own next row chains on: the hour after the backfill holds no spike.
    do_adhoc_statistics(hass, start=_period_start())
    await async_wait_recording_done(hass)
    last = await get_instance(hass).async_add_executor_job(
        get_last_short_term_statistics, hass, 1, ENTITY, True, {"state", "sum"}
    )
    assert last[ENTITY][0]["sum"] == pytest.approx(live + OFFSET)

    # Fetching the same hours again changes nothing: upserts, not additions.
    response = await hass.services.async_call(
        DOMAIN,
        "fetch_backlog",
        {
            "config_entry_id": entry.entry_id,
            "module": f"{module.serial:08X}",
            "start": dt_util.utc_from_timestamp(first_hour * 3600),
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["meters"][ENTITY] == len(imported)  # type: ignore[index]
    assert response["imported_hours"] >= len(imported)
    await async_wait_recording_done(hass)
    assert await _hourly(hass, first_hour - 2, ENTITY) == rows


async def test_restart_continues_the_total(
    recorder_mock: Recorder, hass: HomeAssistant, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator()
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    module = sim.network.meter_modules[0]
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{module.serial:08X}-1-total"
    )
    assert entity_id is not None
    await hass.services.async_call(
        DOMAIN,
        "set_meter_reading",
        {
            "config_entry_id": entry.entry_id,
            "module": f"{module.serial:08X}",
            "channel": 2,
            "reading": 250.0,
        },
        blocking=True,
    )
    assert float(hass.states.get(entity_id).state) == 250.0  # type: ignore[union-attr]
    sim.network.advance(sim.network.now + 7200)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    # After the restart the total continues from the reading, with the water drawn meanwhile.
    state = float(hass.states.get(entity_id).state)  # type: ignore[union-attr]
    assert state > 250.0
    totalizer = entry.runtime_data.coordinator.modules[module.serial].meters[1].totalizer
    assert totalizer is not None
    assert totalizer.config.initial_reading == 250.0

    # A meter swapped for one whose counter starts low never makes the total fall.
    sim.network.counters[module.row, 1] = 10
    await hass.services.async_call(
        DOMAIN,
        "read_now",
        {"config_entry_id": entry.entry_id, "module": f"{module.serial:08X}"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert float(hass.states.get(entity_id).state) == pytest.approx(state)  # type: ignore[union-attr]


async def test_energy_dashboard_accepts_every_meter(
    recorder_mock: Recorder, hass: HomeAssistant, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(meter_modules=4, home=False)
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    totals = [
        e
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.unique_id.endswith("-total")
    ]
    kinds = {e.original_device_class for e in totals}
    assert kinds == {"energy", "water", "gas"}
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {"type": "gas", "stat_energy_from": e.entity_id}
                for e in totals
                if e.original_device_class == "gas"
            ],
            "device_consumption": [
                {"stat_consumption": e.entity_id}
                for e in totals
                if e.original_device_class == "energy"
            ],
            "device_consumption_water": [
                {"stat_consumption": e.entity_id}
                for e in totals
                if e.original_device_class == "water"
            ],
        }
    )
    # The dashboard needs the recorder to have compiled the sensors once.
    do_adhoc_statistics(hass, start=_period_start())
    await async_wait_recording_done(hass)
    result = (await async_validate(hass)).as_dict()
    checked = sum(len(v) for v in result.values())
    assert checked == len(totals)
    assert all(issues == [] for group in result.values() for issues in group), result
