"""The load manager on a real hass: a template power sensor you set, input_boolean sockets, time
moved with freezer. Red is never switched; green goes first, then yellow; restore with
hysteresis; yellow never off beyond its bound; reasons; advise mode; stale readings; restarts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balance.const import CONF_NIGHT_END, CONF_NIGHT_START, DOMAIN
from tests.integration.conftest import setup_entry

from .helpers import (
    BOILER,
    EV,
    HOUSE_SOCKETS,
    PC,
    is_on,
    manager_entry,
    set_power,
    setup_house,
    socket,
)

DECISION = "sensor.load_manager_last_decision"
SHEDDING = "binary_sensor.load_manager_shedding"
STALE = "binary_sensor.load_manager_power_reading_stale"
HEADROOM = "sensor.load_manager_headroom"
LIMIT_IN_FORCE = "sensor.load_manager_limit_in_force"
REACTION = "sensor.load_manager_reaction_time"
MODE = "select.load_manager_mode"
ACTIVE = "switch.load_manager_load_management"


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()


async def _power(hass: HomeAssistant, freezer: FrozenDateTimeFactory, watts: float) -> None:
    """A new reading a second later: the meter measures after the sockets it saw."""
    await _tick(hass, freezer, 1)
    await set_power(hass, watts)


def _attr(hass: HomeAssistant, entity_id: str, name: str) -> object:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.attributes.get(name)


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


@pytest.fixture
async def house(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> MockConfigEntry:
    freezer.move_to("2026-01-14 17:00:00+00:00")
    await setup_house(hass)
    entry = manager_entry()
    await setup_entry(hass, entry)
    return entry


async def _call(hass: HomeAssistant, service: str, data: dict) -> None:  # type: ignore[type-arg]
    await hass.services.async_call(DOMAIN, service, data, blocking=True)
    await hass.async_block_till_done()


async def test_green_then_yellow_never_red_restore_with_hysteresis(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    assert _state(hass, SHEDDING) == "off"
    assert float(_state(hass, HEADROOM)) == 6000
    await _power(hass, freezer, 7900)
    # 900 W over: the green EV charger (3 kW) alone covers it; the yellow boiler stays on.
    assert not is_on(hass, EV) and is_on(hass, BOILER) and is_on(hass, PC)
    assert _state(hass, DECISION) == "over_limit"
    reason = str(_attr(hass, DECISION, "reason"))
    assert reason.startswith("EV charger off: 7.9 kW > 7.0 kW limit since")
    assert "back on when below 3.3 kW" in reason
    assert _state(hass, SHEDDING) == "on"
    assert _attr(hass, SHEDDING, "held") == ["EV charger"]
    # The meter catches up, then the rest of the house rises: now the boiler goes too.
    await _power(hass, freezer, 4900)
    await _power(hass, freezer, 7800)
    assert not is_on(hass, BOILER) and is_on(hass, PC)
    assert str(_attr(hass, DECISION, "reason")).startswith("Boiler off: 7.8 kW > 7.0 kW")
    # Red stays on whatever the excess: the engine reports it as unmet.
    await _power(hass, freezer, 5800)
    await _power(hass, freezer, 12000)
    assert is_on(hass, PC)
    assert _attr(hass, SHEDDING, "unmet") is True
    # Hysteresis: 5 kW + the boiler's 2 kW is over 90 % of 7 kW, so nothing comes back.
    await _power(hass, freezer, 5000)
    await _tick(hass, freezer, 61)
    assert not is_on(hass, BOILER) and not is_on(hass, EV)
    # 4 kW + 2 kW fits under 6.3 kW: the yellow boiler comes back first, one step only.
    await _power(hass, freezer, 4000)
    await _tick(hass, freezer, 61)
    assert is_on(hass, BOILER) and not is_on(hass, EV)
    assert _state(hass, DECISION) == "room_again"
    await _power(hass, freezer, 6000)
    await _tick(hass, freezer, 61)
    assert not is_on(hass, EV)  # 6 + 3 kW would not fit
    await _power(hass, freezer, 3000)
    await _tick(hass, freezer, 61)
    assert is_on(hass, EV)
    assert _state(hass, SHEDDING) == "off"
    assert not any(d.socket_id == "pc" for d in house.runtime_data.decisions), (
        "a red socket is never switched"
    )


async def test_yellow_never_off_beyond_its_bound(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to("2026-01-14 17:00:00+00:00")
    await setup_house(hass)
    entry = manager_entry([socket("boiler", BOILER, "Boiler", "yellow", 2000, max_off_min=7)])
    await setup_entry(hass, entry)
    await _power(hass, freezer, 7500)
    assert not is_on(hass, BOILER)
    off_at = dt_util.utcnow()
    manager = entry.runtime_data
    # Still over the limit, readings keep coming, and time alone brings the boiler back at its
    # bound: the manager's timer, not a poll. Time jumps to each wake-up it asks for.
    wakes = 0
    while not is_on(hass, BOILER):
        wake = manager.next_wake(dt_util.now())
        assert wake is not None
        freezer.move_to(wake)
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done()
        await set_power(hass, 5500 + wakes % 2)
        wakes += 1
        assert wakes < 50
    assert is_on(hass, BOILER)
    on_at = hass.states.get(BOILER).last_changed  # type: ignore[union-attr]
    assert on_at - off_at == timedelta(minutes=7)
    assert _state(hass, DECISION) == "max_off_reached"
    assert "it has been off 7 min, the most it may be" in str(_attr(hass, DECISION, "reason"))


async def test_advise_mode_explains_but_does_not_switch(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await hass.services.async_call(
        "select", "select_option", {"entity_id": MODE, "option": "advise"}, blocking=True
    )
    await _power(hass, freezer, 7900)
    assert is_on(hass, EV) and is_on(hass, BOILER)
    assert _state(hass, DECISION) == "over_limit"
    assert _attr(hass, DECISION, "advisory") is True
    assert _state(hass, ACTIVE) == "on"
    # Off, then on again: back to advise, the mode it was in.
    await hass.services.async_call("switch", "turn_off", {"entity_id": ACTIVE}, blocking=True)
    assert _state(hass, MODE) == "off"
    await hass.services.async_call("switch", "turn_on", {"entity_id": ACTIVE}, blocking=True)
    assert _state(hass, MODE) == "advise"


async def test_switching_dlm_off_gives_everything_back(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await _power(hass, freezer, 7900)
    assert not is_on(hass, EV)
    await hass.services.async_call("switch", "turn_off", {"entity_id": ACTIVE}, blocking=True)
    await hass.async_block_till_done()
    assert is_on(hass, EV)
    assert _state(hass, DECISION) == "mode_off"
    await _power(hass, freezer, 9000)
    assert is_on(hass, EV) and is_on(hass, BOILER)


async def test_stale_power_reading_fail_safe(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await _power(hass, freezer, 7900)
    await _power(hass, freezer, 4900)
    await _power(hass, freezer, 7800)
    assert not is_on(hass, EV) and not is_on(hass, BOILER)
    # The meter goes quiet: after 120 s the reading is stale and, one per settle time, held
    # sockets are given back (a dead sensor must not keep the boiler off).
    await _tick(hass, freezer, 121)
    assert _state(hass, STALE) == "on"
    assert _state(hass, HEADROOM) == "unknown"
    back = [is_on(hass, BOILER), is_on(hass, EV)]
    assert back.count(True) == 1
    assert _state(hass, DECISION) == "reading_stale"
    assert "no power reading since" in str(_attr(hass, DECISION, "reason"))
    await _tick(hass, freezer, 61)
    assert is_on(hass, BOILER) and is_on(hass, EV)
    # An unavailable sensor is as blind as a silent one: nothing is shed for the limit.
    hass.states.async_set("sensor.house_power", "unavailable")
    await hass.async_block_till_done()
    assert _state(hass, STALE) == "on"
    await _power(hass, freezer, 9000)
    assert _state(hass, STALE) == "off"


async def test_colour_select_and_limit_number(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await _power(hass, freezer, 7900)
    assert not is_on(hass, EV)
    # The EV charger turns red: it is given back at once and never cut again.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.ev_charger_colour", "option": "red"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert house.subentries["ev"].data["colour"] == "red"
    assert _state(hass, "select.ev_charger_colour") == "red"
    assert is_on(hass, EV)
    causes = [(d.socket_id, d.cause.name) for d in house.runtime_data.decisions]
    assert ("ev", "NOW_RED") in causes
    # Red now, it draws in the same reading: the boiler is cut instead.
    assert not is_on(hass, BOILER)
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.load_manager_household_limit", "value": 5000},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert house.options["limit_w"] == 5000
    assert float(_state(hass, LIMIT_IN_FORCE)) == 5000
    await _power(hass, freezer, 5500)
    assert is_on(hass, EV) and not is_on(hass, BOILER) and is_on(hass, PC)


async def test_actions_shed_now_restore_all_and_limit_for_a_while(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    base = {"config_entry_id": house.entry_id}
    await _power(hass, freezer, 3000)
    await _call(hass, "shed_now", {**base, "level": 2, "duration": {"minutes": 10}})
    assert not is_on(hass, EV) and not is_on(hass, BOILER) and is_on(hass, PC)
    assert "shed now asked for" in str(_attr(hass, DECISION, "reason"))
    await _call(hass, "restore_all", base)
    assert is_on(hass, EV) and is_on(hass, BOILER)
    assert _state(hass, SHEDDING) == "off"
    # A stricter limit for 30 minutes, then the household's own again.
    await _call(hass, "set_limit", {**base, "limit_w": 4000, "duration": {"minutes": 30}})
    assert float(_state(hass, LIMIT_IN_FORCE)) == 4000
    assert _attr(hass, LIMIT_IN_FORCE, "temporary_limit_until") is not None
    await _power(hass, freezer, 4500)
    assert not is_on(hass, EV)
    await _power(hass, freezer, 1500)
    await _tick(hass, freezer, 30 * 60 + 1)
    assert float(_state(hass, LIMIT_IN_FORCE)) == 7000
    assert is_on(hass, EV)


async def test_demand_response_action_with_expiry(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    base = {"config_entry_id": house.entry_id}
    await _power(hass, freezer, 3000)
    await _call(hass, "demand_response", {**base, "level": 1, "duration": {"minutes": 15}})
    assert not is_on(hass, EV) and is_on(hass, BOILER)
    assert _state(hass, DECISION) == "demand_response"
    assert "the utility asked for" in str(_attr(hass, DECISION, "reason"))
    assert _attr(hass, LIMIT_IN_FORCE, "dr_level") == 1
    # The household cannot override a utility request with its own shed now.
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "shed_now", base)
    assert err.value.translation_key == "utility_request_active"
    # It expires by itself and the charger comes back through the normal restore path.
    await _tick(hass, freezer, 15 * 60 + 1)
    assert _attr(hass, LIMIT_IN_FORCE, "dr_level") == 0
    assert is_on(hass, EV)
    # A limit from the utility, then level 0 without a limit ends it early.
    await _call(hass, "demand_response", {**base, "limit_w": 2500, "duration": {"hours": 1}})
    await _power(hass, freezer, 3100)
    assert float(_state(hass, LIMIT_IN_FORCE)) == 2500
    assert _attr(hass, LIMIT_IN_FORCE, "source") == "demand_response"
    assert not is_on(hass, EV)
    await _call(hass, "demand_response", {**base, "level": 0, "duration": {"minutes": 1}})
    assert float(_state(hass, LIMIT_IN_FORCE)) == 7000


async def test_actions_need_a_load_manager(hass: HomeAssistant, house: MockConfigEntry) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "restore_all", {"config_entry_id": "nope"})
    assert err.value.translation_key == "entry_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "read_now", {"config_entry_id": house.entry_id, "module": "10000100"})
    assert err.value.translation_key == "not_a_concentrator"


async def test_restart_in_the_middle_of_a_shed(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await _power(hass, freezer, 7900)
    await _power(hass, freezer, 4900)
    await _power(hass, freezer, 7800)
    assert not is_on(hass, EV) and not is_on(hass, BOILER)
    assert await hass.config_entries.async_unload(house.entry_id)
    await hass.async_block_till_done()
    assert house.state is ConfigEntryState.NOT_LOADED
    # Home Assistant is down for 20 minutes; the house calms down meanwhile.
    await _tick(hass, freezer, 20 * 60)
    await _power(hass, freezer, 2500)
    assert not is_on(hass, EV) and not is_on(hass, BOILER)
    assert await hass.config_entries.async_setup(house.entry_id)
    await hass.async_block_till_done()
    manager = house.runtime_data
    assert manager.restored_from_storage
    # The boiler's bound counts from when it was cut, so it is back at the first step; the EV
    # charger, still known as held, comes back when the limit allows it.
    assert is_on(hass, BOILER)
    assert _state(hass, DECISION) == "max_off_reached"
    # Until the meter reports with the boiler back on, its 2.5 kW lacks the boiler's 2 kW: the
    # engine adds them, and 2.5 + 2 + 3 kW would not fit. The house with the boiler: 3 kW.
    await _tick(hass, freezer, 61)
    assert not is_on(hass, EV)
    await _power(hass, freezer, 3000)
    await _tick(hass, freezer, 61)
    assert is_on(hass, EV)


async def test_removed_socket_and_removed_entry_are_switched_back_on(
    hass: HomeAssistant, house: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await _power(hass, freezer, 7900)
    await _power(hass, freezer, 4900)
    await _power(hass, freezer, 7800)
    assert not is_on(hass, EV) and not is_on(hass, BOILER)
    # The EV socket is removed while held: the entry reloads and gives it back.
    assert hass.config_entries.async_remove_subentry(house, "ev")
    await hass.async_block_till_done()
    assert is_on(hass, EV)
    assert _state(hass, DECISION) == "no_longer_managed"
    assert hass.states.get("select.ev_charger_colour") is None
    # The whole load manager is deleted: the boiler it held comes back too.
    assert not is_on(hass, BOILER)
    await hass.config_entries.async_remove(house.entry_id)
    await hass.async_block_till_done()
    assert is_on(hass, BOILER)


async def test_green_run_waits_for_the_night_tariff(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(datetime(2026, 1, 14, 18, 0, tzinfo=dt_util.get_default_time_zone()))
    await setup_house(hass)
    sockets = [
        socket("ev", EV, "EV charger", "green", 3000, run_min=120, deadline="07:00:00"),
        *HOUSE_SOCKETS[1:],
    ]
    entry = manager_entry(sockets, **{CONF_NIGHT_START: "23:00:00", CONF_NIGHT_END: "07:00:00"})
    await setup_entry(hass, entry)
    await hass.services.async_call("input_boolean", "turn_off", {"entity_id": EV}, blocking=True)
    # Plugged in and switched on at 18:00: it can finish in the night, so it waits.
    await hass.services.async_call("input_boolean", "turn_on", {"entity_id": EV}, blocking=True)
    await hass.async_block_till_done()
    assert not is_on(hass, EV)
    assert _state(hass, DECISION) == "wait_for_night"
    assert "waits for the night tariff: starts at 23:00" in str(_attr(hass, DECISION, "reason"))
    # No reading changes all evening; the tariff window alone wakes the manager at 23:00.
    await _tick(hass, freezer, 5 * 3600 - 3)
    assert not is_on(hass, EV)
    await _power(hass, freezer, 1001)  # a fresh reading, so the reason is the tariff's
    await _tick(hass, freezer, 1)
    assert not is_on(hass, EV)
    await _tick(hass, freezer, 1)
    assert is_on(hass, EV)
    assert _state(hass, DECISION) == "night_tariff"


async def test_diagnostics_and_reaction_time(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    # Real time here: the diagnostics endpoint checks a token against the clock.
    await setup_house(hass)
    house = manager_entry()
    await setup_entry(hass, house)
    await set_power(hass, 7900)
    reaction = hass.states.get(REACTION)
    assert reaction is not None and float(reaction.state) >= 0
    assert reaction.attributes["samples"] == 1
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, house)
    assert diagnostics["status"]["held"] == ["ev"]
    assert diagnostics["reaction"]["samples"] == 1
    assert diagnostics["decisions"][-1]["cause"] == "over_limit"
    assert [s["colour"] for s in diagnostics["sockets"]] == ["green", "yellow", "red"]


async def test_a_socket_missing_when_it_should_come_back_is_switched_on_when_it_returns(
    hass: HomeAssistant,
    house: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict,  # type: ignore[type-arg]
) -> None:
    await _power(hass, freezer, 7900)
    assert not is_on(hass, EV)
    # The smart plug drops off the network while held; restore all cannot reach it now ...
    hass.states.async_set(EV, "unavailable")
    await _call(hass, "restore_all", {"config_entry_id": house.entry_id})
    assert _state(hass, EV) == "unavailable"
    # Remembered on disk too, so that a restart now does not forget it.
    assert hass_storage[f"balance.load_manager.{house.entry_id}"]["data"]["pending_on"] == [EV]
    # ... so it is switched on the moment it is back, off.
    hass.states.async_set(EV, "off")
    await hass.async_block_till_done()
    assert is_on(hass, EV)


async def test_unreadable_state_is_not_fatal(
    hass: HomeAssistant,
    hass_storage: dict,
    freezer: FrozenDateTimeFactory,  # type: ignore[type-arg]
) -> None:
    await setup_house(hass)
    entry = manager_entry()
    hass_storage[f"balance.load_manager.{entry.entry_id}"] = {
        "version": 1,
        "key": f"balance.load_manager.{entry.entry_id}",
        "data": {"engine": {"version": 99}, "entities": {}, "pending_on": []},
    }
    await setup_entry(hass, entry)
    assert not entry.runtime_data.restored_from_storage
    await _power(hass, freezer, 7900)
    assert not is_on(hass, EV)


async def test_a_power_sensor_in_an_unknown_unit_is_no_reading(
    hass: HomeAssistant, house: MockConfigEntry
) -> None:
    hass.states.async_set("sensor.house_power", "5", {"unit_of_measurement": "horsepower"})
    await hass.async_block_till_done()
    assert house.runtime_data.reading() is None
    assert _state(hass, STALE) == "on"
