"""A house with history detects at once: the recorder's hourly statistics are replayed on set-up.

A real recorder (SQLite in memory), a real simulated concentrator for the DMesh case, and the
landlord report read back from the same statistics, as an action and as a CSV download.
"""

from __future__ import annotations

import time
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy.validate import async_validate
from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balance.const import DOMAIN
from custom_components.balance.dmesh.statistics import statistic_metadata
from dmesh_lib import MeterKind
from dmesh_lib.messages import ValvePosition
from dmesh_lib.simulator.network import HomeRole
from tests.analytics.households import water_days
from tests.integration.conftest import StartSimulator, make_entry, setup_entry, wait_for
from tests.integration.test_blueprints import config_dir  # noqa: F401 - the blueprints as a user installs them

WATER = "sensor.water_meter"
TOTAL = {"unit_of_measurement": "m³", "state_class": "total_increasing", "device_class": "water"}
TAP = 0.015
HOURS = 72


@pytest.fixture(autouse=True)
def _custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """As in conftest, but the recorder must start before hass does."""


async def import_history(
    hass: HomeAssistant, entity_id: str, hourly: np.ndarray, end_hour: int
) -> float:
    """Hourly rows ending with the hour before ``end_hour``; returns the meter's last total."""
    first = end_hour - len(hourly)
    total = 50.0
    rows: list[Any] = [
        {"start": dt_util.utc_from_timestamp((first - 1) * 3600), "state": total, "sum": 0.0}
    ]
    for i, used in enumerate(hourly):
        total += float(used)
        rows.append(
            {
                "start": dt_util.utc_from_timestamp((first + i) * 3600),
                "state": total,
                "sum": total - 50.0,
            }
        )
    async_import_statistics(hass, statistic_metadata(entity_id, MeterKind.WATER), rows)
    await async_wait_recording_done(hass)
    return total


async def test_existing_meter_with_history_is_judged_at_once(hass: HomeAssistant) -> None:
    end_hour = int(time.time()) // 3600
    total = await import_history(hass, WATER, water_days(3, seed=5) + TAP, end_hour)
    hass.states.async_set(WATER, f"{total}", TOTAL)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Flat 12",
        data={"entry_type": "existing_meters", "water_entity": WATER},
        options={"analytics": {"price_water": "2.0"}},
    )
    await setup_entry(hass, entry)
    leak = hass.states.get("binary_sensor.flat_12_water_water_leak")
    assert leak is not None
    assert leak.state == "on"
    assert leak.attributes["detector"] == "water_no_zero_hour"
    assert leak.attributes["rate_per_hour"] == pytest.approx(TAP, rel=1e-6)
    assert leak.attributes["loss_per_day"] == pytest.approx(TAP * 24)
    assert leak.attributes["cost_per_month"] == pytest.approx(TAP * 24 * 365.25 / 12 * 2.0)
    assert leak.attributes["since"] is not None
    assert "every hour" in leak.attributes["reason"]


async def test_dmesh_meters_get_analytics_and_history_finds_the_tap(
    hass: HomeAssistant, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(meter_modules=1, home=False)
    module = sim.network.meter_modules[0]
    key = f"{module.serial:08X}-1"  # the D100FC's water input, where the demo's tap drips
    registry = er.async_get(hass)
    water = registry.async_get_or_create(
        "sensor", DOMAIN, f"{key}-total", suggested_object_id="dmesh_water"
    ).entity_id
    # history ends three hours ago: the gap to the first live reading stays unknown, and an
    # unknown hour does not end an alarm that stands
    end_hour = int(time.time()) // 3600 - 3
    await import_history(hass, water, water_days(3, seed=6) + TAP, end_hour)
    await setup_entry(hass, make_entry(sim))

    leak_id = registry.async_get_entity_id("binary_sensor", DOMAIN, f"{key}-leak")
    assert leak_id is not None
    leak = hass.states.get(leak_id)
    assert leak is not None
    assert leak.state == "on"
    assert leak.attributes["rate_per_hour"] == pytest.approx(TAP, rel=1e-6)
    # every meter of the module has its analytics, on the meter's own device
    for channel, unique in ((0, "standby"), (1, "burst"), (2, "gas_leak")):
        entity_id = registry.async_get_entity_id(
            "binary_sensor", DOMAIN, f"{module.serial:08X}-{channel}-{unique}"
        )
        assert entity_id is not None, unique
        device = registry.async_get(entity_id)
        assert device is not None
        assert device.device_id is not None
    home = registry.async_get_entity_id("switch", DOMAIN, f"{sim.serial_key}-away_mode")
    assert home is not None


async def test_landlord_report_from_the_recorder_as_action_and_csv(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "http", {})
    end_hour = int(time.time()) // 3600
    hourly = water_days(3, seed=7)
    total = await import_history(hass, WATER, hourly, end_hour)
    hass.states.async_set(WATER, f"{total}", TOTAL)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Flat 12",
        data={"entry_type": "existing_meters", "water_entity": WATER},
        options={"analytics": {"price_water": "2.0"}},
    )
    await setup_entry(hass, entry)
    end = dt_util.utc_from_timestamp(end_hour * 3600)
    start = end - timedelta(hours=48)
    report: dict[str, Any] = await hass.services.async_call(  # type: ignore[assignment]
        DOMAIN,
        "landlord_report",
        {"start": start.isoformat(), "end": end.isoformat(), "config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    (meter,) = report["meters"]
    expected = float(np.sum(hourly[-48:]))
    assert meter["consumption"] == pytest.approx(expected)
    assert meter["cost"] == pytest.approx(2 * expected)
    assert meter["coverage"] == pytest.approx(1.0)

    client = await hass_client()
    url = "/api/balance/landlord_report.csv"
    params = {"start": start.isoformat(), "end": end.isoformat()}
    response = await client.get(url, params=params)
    assert response.status == HTTPStatus.OK
    assert response.headers["Content-Type"].startswith("text/csv")
    text = await response.text()
    assert WATER in text
    assert f"{expected:.3f}"[:5] in text
    response = await client.get(url, params={"start": "yesterday", "end": end.isoformat()})
    assert response.status == HTTPStatus.BAD_REQUEST
    response = await client.get(url, params={"start": end.isoformat(), "end": start.isoformat()})
    assert response.status == HTTPStatus.BAD_REQUEST
    anonymous = await hass_client(None)
    response = await anonymous.get(url, params=params)
    assert response.status == HTTPStatus.UNAUTHORIZED


async def test_leak_blueprint_closes_the_dmesh_valve_and_notifies(
    hass: HomeAssistant,
    start_simulator: StartSimulator,
    config_dir: Path,  # noqa: F811
) -> None:
    """The demo home: history with a dripping tap, a leak alarm, the valve shut, a message."""
    sim = await start_simulator(meter_modules=1, home=True)
    module = sim.network.meter_modules[0]
    valve_module = next(m for m in sim.network.modules.values() if m.role is HomeRole.VALVE)
    key = f"{module.serial:08X}-1"
    registry = er.async_get(hass)
    water = registry.async_get_or_create(
        "sensor", DOMAIN, f"{key}-total", suggested_object_id="dmesh_water"
    ).entity_id
    leak = registry.async_get_or_create(
        "binary_sensor", DOMAIN, f"{key}-leak", suggested_object_id="dmesh_water_leak"
    ).entity_id
    valve = registry.async_get_or_create(
        "valve", DOMAIN, f"{valve_module.serial:08X}-valve", suggested_object_id="main_valve"
    ).entity_id
    await import_history(hass, water, water_days(3, seed=8) + TAP, int(time.time()) // 3600 - 3)
    assert await async_setup_component(
        hass, "input_text", {"input_text": {"message": {"max": 255}}}
    )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "balance/leak_close_valve.yaml",
                    "input": {
                        "leak_sensors": [leak],
                        "valves": [valve],
                        "notify": [
                            {
                                "action": "input_text.set_value",
                                "target": {"entity_id": "input_text.message"},
                                "data": {
                                    "value": "{{ (loss_per_day * 1000) | round }} L/day|{{ since }}"
                                },
                            }
                        ],
                    },
                }
            }
        },
    )
    await setup_entry(hass, make_entry(sim))
    await wait_for(lambda: valve_module.valve_position is ValvePosition.CLOSED)
    await hass.async_block_till_done()
    assert hass.states.get(leak).state == "on"  # type: ignore[union-attr]
    message = hass.states.get("input_text.message")
    assert message is not None
    per_day, since = message.state.split("|")
    assert per_day == "360 L/day"
    assert since


async def test_cost_sensor_is_accepted_by_the_energy_dashboard(hass: HomeAssistant) -> None:
    hass.states.async_set(WATER, "100", TOTAL)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Flat 12",
        data={"entry_type": "existing_meters", "water_entity": WATER},
        options={"analytics": {"price_water": "2.0"}},
    )
    await setup_entry(hass, entry)
    cost = "sensor.flat_12_water_total_cost"
    assert hass.states.get(cost) is not None
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "water",
                    "stat_energy_from": WATER,
                    "stat_cost": cost,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ]
        }
    )
    now = dt_util.utcnow()
    # the dashboard needs the recorder to have compiled the sensors once
    do_adhoc_statistics(
        hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    )
    await async_wait_recording_done(hass)
    result = (await async_validate(hass)).as_dict()
    (source_issues,) = result["energy_sources"]
    assert source_issues == [], source_issues
