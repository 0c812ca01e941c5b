"""Household analytics over meters already in Home Assistant: flow, live detection, money, away.

A real hass; the meters are plain sensor states, as an ESPHome pulse counter or a Shelly would
write them. Time moves with the freezer, and the analytics read on their own five-minute timer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.balance.const import DOMAIN
from custom_components.balance.diagnostics import async_get_config_entry_diagnostics
from tests.integration.conftest import RunningSimulator, setup_entry

WATER = "sensor.water_meter"
POWER = "sensor.plug_power"
TOTAL = {"unit_of_measurement": "m³", "state_class": "total_increasing", "device_class": "water"}
LEAK = "binary_sensor.flat_12_water_water_leak"
COST = "sensor.flat_12_water_total_cost"
AWAY = "switch.flat_12_away_mode"
AWAY_EVENT = "event.flat_12_consumption_while_away"
START = datetime(2026, 3, 10, 9, 2, 0, tzinfo=dt_util.UTC)


def water_entry(**options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Flat 12",
        data={"entry_type": "existing_meters", "water_entity": WATER},
        options={"analytics": options} if options else {},
        unique_id=f"existing_meters-{WATER}",
    )


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, total: float, minutes: int = 5
) -> None:
    """Five minutes pass; the meter shows ``total`` (the timer reads it)."""
    freezer.tick(timedelta(minutes=minutes))
    hass.states.async_set(WATER, f"{total:.5f}", TOTAL)
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()


async def test_flow_picks_existing_meters_and_refuses_what_is_not_one(
    hass: HomeAssistant,
) -> None:
    hass.states.async_set(WATER, "12.5", TOTAL)
    hass.states.async_set(
        "sensor.flow", "0.2", {"unit_of_measurement": "m³/h", "state_class": "measurement"}
    )
    hass.states.async_set("sensor.odd", "3", {"unit_of_measurement": "W", "state_class": "total"})
    hass.states.async_set(POWER, "80", {"unit_of_measurement": "W", "device_class": "power"})
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "existing_meters" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "existing_meters"}
    )
    assert result["step_id"] == "existing_meters"
    for user_input, errors in (
        ({}, {"base": "no_meters"}),
        ({"water_entity": "sensor.nope"}, {"water_entity": "entity_not_found"}),
        ({"water_entity": "sensor.flow"}, {"water_entity": "not_a_total"}),
        ({"gas_entity": "sensor.odd"}, {"gas_entity": "wrong_unit"}),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"name": "Flat 12", **user_input}
        )
        assert result["errors"] == errors
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Flat 12", "water_entity": WATER, "power_entity": POWER}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "entry_type": "existing_meters",
        "water_entity": WATER,
        "power_entity": POWER,
    }
    await hass.async_block_till_done()
    # the water meter's alarms, the power sensor standing in for an electricity meter, the home
    for entity_id in (
        LEAK,
        "binary_sensor.flat_12_water_pipe_burst",
        "sensor.flat_12_water_forecast_this_month",
        "binary_sensor.flat_12_electricity_standby_too_high",
        "sensor.flat_12_electricity_standby_power",
        AWAY,
        AWAY_EVENT,
    ):
        assert hass.states.get(entity_id) is not None, entity_id
    assert hass.states.get(LEAK).state == "off"  # type: ignore[union-attr]
    # the same meters cannot be added twice
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "existing_meters"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Again", "water_entity": WATER, "power_entity": POWER}
    )
    assert result["type"] is FlowResultType.ABORT


async def test_dripping_tap_is_found_priced_and_survives_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(START)
    total = 100.0
    hass.states.async_set(WATER, f"{total}", TOTAL)
    entry = water_entry(price_water="2.0")
    await setup_entry(hass, entry)
    assert hass.states.get(LEAK).state == "off"  # type: ignore[union-attr]
    # 15 L/h, read every five minutes: the continuous-flow rule needs three hours of it
    for _ in range(3 * 12 + 2):
        total += 0.015 / 12
        await advance(hass, freezer, total)
    leak = hass.states.get(LEAK)
    assert leak is not None
    assert leak.state == "on"
    assert leak.attributes["detector"] == "water_continuous_flow"
    assert leak.attributes["since"] is not None
    assert leak.attributes["loss_per_day"] == pytest.approx(0.36, rel=0.05)
    assert leak.attributes["loss_per_month"] == pytest.approx(0.36 * 365.25 / 12, rel=0.05)
    assert leak.attributes["cost_per_month"] == pytest.approx(2 * 0.36 * 365.25 / 12, rel=0.05)
    assert leak.attributes["currency"] == hass.config.currency
    cost = hass.states.get(COST)
    assert cost is not None
    assert cost.attributes["unit_of_measurement"] == hass.config.currency
    assert cost.attributes["state_class"] == "total"
    used = total - 100.0
    assert float(cost.state) == pytest.approx(2 * used, rel=1e-3)

    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # back after two minutes: the alarm and the money are where they were, and the count goes on
    freezer.tick(timedelta(minutes=2))
    total += 0.015 / 30
    hass.states.async_set(WATER, f"{total:.5f}", TOTAL)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(LEAK).state == "on"  # type: ignore[union-attr]
    assert float(hass.states.get(COST).state) == pytest.approx(  # type: ignore[union-attr]
        2 * (total - 100.0), rel=1e-3
    )


async def test_a_meter_that_goes_wrong_loses_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(START)
    hass.states.async_set(WATER, "100", TOTAL)
    await setup_entry(hass, water_entry(price_water="2.0"))
    await advance(hass, freezer, 100.01)
    for bad in ("unavailable", "not a number", "nan"):
        freezer.tick(timedelta(minutes=5))
        hass.states.async_set(WATER, bad, TOTAL)
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done()
    # a swapped meter starts again from a lower total: no negative use, no spike
    await advance(hass, freezer, 0.5)
    await advance(hass, freezer, 0.52)
    assert float(hass.states.get(COST).state) == pytest.approx(2 * 0.03)  # type: ignore[union-attr]


async def test_away_mode_raises_an_alarm_on_consumption(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(START)
    hass.states.async_set(WATER, "100", TOTAL)
    await setup_entry(hass, water_entry())
    fired: list[Event] = []
    hass.bus.async_listen("balance_away_alarm", fired.append)
    await hass.services.async_call("switch", "turn_on", {"entity_id": AWAY}, blocking=True)
    assert hass.states.get(AWAY).state == "on"  # type: ignore[union-attr]
    await advance(hass, freezer, 100.001)  # one litre: a stray pulse, not an alarm
    assert not fired
    await advance(hass, freezer, 100.011)  # ten more: somebody is using water
    assert len(fired) == 1
    assert fired[0].data["carrier"] == "water"
    assert fired[0].data["used"] == pytest.approx(0.011)
    event = hass.states.get(AWAY_EVENT)
    assert event is not None
    assert event.attributes["event_type"] == "consumption_while_away"
    assert hass.states.get(AWAY).attributes["alarm"] is True  # type: ignore[union-attr]
    await hass.services.async_call("switch", "turn_off", {"entity_id": AWAY}, blocking=True)
    assert hass.states.get(AWAY).attributes["alarm"] is False  # type: ignore[union-attr]


async def test_options_refuse_a_bad_tariff_and_add_tariff_sensors(hass: HomeAssistant) -> None:
    hass.states.async_set(WATER, "100", TOTAL)
    entry = water_entry()
    await setup_entry(hass, entry)
    assert hass.states.get(COST) is None  # no price, no money
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "analytics_settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"price_water": "1.20 per litre"}
    )
    assert result["errors"] == {"base": "invalid_tariff"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"price_water": "10:1.20, *:2.50", "budget_water": 8, "building_average_water": 6},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert hass.states.get(COST) is not None
    assert hass.states.get("sensor.flat_12_water_consumption_base") is not None
    assert hass.states.get("sensor.flat_12_water_compared_with_the_building_average") is not None
    forecast = hass.states.get("sensor.flat_12_water_forecast_this_month")
    assert forecast is not None
    assert forecast.state == "unknown"  # no history yet: less than 75 % of the data
    assert forecast.attributes["budget"] == 8

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "analytics_meter_select"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"meter": "water"}
    )
    assert result["step_id"] == "analytics_meter"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"sensitivity": "high"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    analytics = entry.options["analytics"]
    assert analytics["meter_settings"] == {"water": {"sensitivity": "high"}}
    assert analytics["price_water"] == "10:1.20, *:2.50"  # the other settings stay


async def test_landlord_report_action(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(START)
    total = 100.0
    hass.states.async_set(WATER, f"{total}", TOTAL)
    await setup_entry(hass, water_entry(price_water="2.0"))
    for _ in range(3 * 12):
        total += 0.01
        await advance(hass, freezer, total)
    start = START.replace(minute=0) + timedelta(hours=1)
    end = start + timedelta(hours=2)
    report: dict[str, Any] = await hass.services.async_call(  # type: ignore[assignment]
        DOMAIN,
        "landlord_report",
        {"start": start.isoformat(), "end": end.isoformat()},
        blocking=True,
        return_response=True,
    )
    (meter,) = report["meters"]
    assert meter["meter_id"] == WATER
    assert meter["consumption"] == pytest.approx(0.24)  # 12 readings of 10 L an hour, 2 h
    assert meter["cost"] == pytest.approx(0.48)
    assert report["currency"] == hass.config.currency
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "landlord_report",
            {"start": end.isoformat(), "end": start.isoformat()},
            blocking=True,
            return_response=True,
        )
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "landlord_report",
            {"start": start.isoformat(), "end": end.isoformat(), "config_entry_id": "nope"},
            blocking=True,
            return_response=True,
        )


async def test_concentrator_options_reach_the_analytics(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    result = await hass.config_entries.options.async_init(loaded.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"meter": "analytics"}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "analytics_settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"price_electricity": "0.30", "night_price": "0.12", "night_window": "23:00-07:00"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    key = f"{simulator.network.meter_modules[0].serial:08X}-0"  # the electricity input
    registry = er.async_get(hass)
    for zone in ("night", "day"):
        for kind in ("consumption", "cost"):
            unique_id = f"{key}-tariff_{zone}_{kind}"
            assert registry.async_get_entity_id("sensor", DOMAIN, unique_id), unique_id
    cost = registry.async_get_entity_id("sensor", DOMAIN, f"{key}-cost_total")
    assert cost is not None
    assert hass.states.get(cost) is not None


async def test_diagnostics_say_what_each_meter_has_seen(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(START)
    hass.states.async_set(WATER, "100", TOTAL)
    entry = water_entry(price_water="2.0")
    await setup_entry(hass, entry)
    for step in range(1, 26):  # 09:02 to 11:07: the first, partial hour is unknown
        await advance(hass, freezer, 100 + step * 0.001)
    data = await async_get_config_entry_diagnostics(hass, entry)
    water = data["meters"]["water"]
    assert water["entity_id"] == "**REDACTED**"
    assert water["known_hours"] == 1
    assert water["tariff_zones"] == ["base"]
    assert set(water["findings"]) == {
        "water_no_zero_hour",
        "water_continuous_flow",
        "water_burst",
    }


async def test_a_power_sensor_stands_in_for_an_electricity_meter(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(START)
    watts = {"unit_of_measurement": "W", "device_class": "power"}
    hass.states.async_set(POWER, "2000", watts)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Flat 12",
        data={"entry_type": "existing_meters", "power_entity": POWER},
        options={"analytics": {"price_electricity": "0.25"}},
    )
    await setup_entry(hass, entry)
    for _ in range(12):  # an hour at 2 kW
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done()
    cost = hass.states.get("sensor.flat_12_electricity_total_cost")
    assert cost is not None
    assert float(cost.state) == pytest.approx(2.0 * 0.25)
    # the sensor gone for an hour: that hour is unknown, not counted at the last power
    hass.states.async_set(POWER, "unavailable", watts)
    for _ in range(12):
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done()
    hass.states.async_set(POWER, "1000", watts)
    for _ in range(2):
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done()
    assert float(hass.states.get(cost.entity_id).state) == pytest.approx(  # type: ignore[union-attr]
        (2.0 + 1.0 / 6) * 0.25,  # ten minutes at 1 kW after it came back
        abs=1e-4,  # the sensor shows four decimals
    )


async def test_heat_without_demand_needs_the_outdoor_temperature(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(START)
    heat = "sensor.heat_meter"
    kwh = {
        "unit_of_measurement": "kWh",
        "state_class": "total_increasing",
        "device_class": "energy",
    }
    hass.states.async_set(heat, "500", kwh)
    hass.states.async_set("weather.home", "sunny", {"temperature": 75, "temperature_unit": "°F"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Flat 12",
        data={"entry_type": "existing_meters", "heat_entity": heat},
        options={"analytics": {"outdoor_temperature_entity": "weather.home"}},
    )
    await setup_entry(hass, entry)
    alarm = "binary_sensor.flat_12_heat_heat_without_demand"
    total = 500.0
    for _ in range(8 * 12):  # 0.5 kWh an hour on a 24 °C day, for eight hours
        total += 0.5 / 12
        freezer.tick(timedelta(minutes=5))
        hass.states.async_set(heat, f"{total:.4f}", kwh)
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done()
    state = hass.states.get(alarm)
    assert state is not None
    assert state.state == "on"
    assert state.attributes["rate_per_hour"] == pytest.approx(0.5, rel=1e-3)
    assert "24 °C" in state.attributes["reason"]


async def test_removing_the_entry_removes_its_saved_readings(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass.states.async_set(WATER, "100", TOTAL)
    entry = water_entry()
    await setup_entry(hass, entry)
    await hass.config_entries.async_unload(entry.entry_id)
    key = f"balance.analytics.{entry.entry_id}"
    assert key in hass_storage
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_unreadable_settings_fall_back_to_defaults(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    hass.states.async_set(WATER, "100", TOTAL)
    await setup_entry(hass, water_entry(price_water="two euros"))
    assert "cannot be read" in caplog.text
    assert hass.states.get(LEAK) is not None  # the meter is still watched
    assert hass.states.get(COST) is None  # without a readable price, no money
