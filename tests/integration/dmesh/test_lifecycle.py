"""Modules that leave, devices a user deletes, commands that fail, meters reconfigured across a
restart: the paths a household meets after the first day."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.balance.const import (
    CONF_CONSTANT,
    CONF_INITIAL_READING,
    CONF_KIND,
    CONF_METERS,
    CONF_NAME,
    DOMAIN,
)
from dmesh_lib import MeterKind
from dmesh_lib.messages import LeaveReason, ModuleLeave
from dmesh_lib.simulator.network import HomeRole
from dmesh_lib.simulator.scenarios import Scenario
from tests.integration.conftest import RunningSimulator, make_entry, setup_entry, wait_for


def _entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_commands_fail_with_translated_errors(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    net = simulator.network
    red = next(m for m in net.modules.values() if m.role is HomeRole.RELAY and m.shed_level == 0)
    switch = _entity_id(hass, "switch", f"{red.serial:08X}-relay")
    client = loaded.runtime_data.client

    # The installer took the module off the concentrator's list; Home Assistant still shows it.
    module = net.modules.pop(red.serial)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    assert err.value.translation_key == "command_rejected"
    assert err.value.translation_placeholders == {
        "module": f"{red.serial:08X}",
        "reason": "unknown_module",
    }
    net.modules[red.serial] = module

    # A mesh slower than the client waits for: the command times out, nothing is assumed.
    simulator.concentrator.hop_latency = 30.0
    client.request_timeout, client.per_hop_timeout = 0.2, 0.01
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    assert err.value.translation_key == "command_timeout"
    assert err.value.translation_placeholders == {"module": f"{red.serial:08X}"}
    assert _state(hass, switch) == "on"
    assert red.relay_on

    # The concentrator is gone: actions say so instead of hanging.
    client.reconnect_min = client.reconnect_max = 3600.0
    simulator.concentrator.drop_hosts()
    await wait_for(lambda: _state(hass, switch) == STATE_UNAVAILABLE)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_relay",
            {"config_entry_id": loaded.entry_id, "module": f"{red.serial:08X}", "on": False},
            blocking=True,
        )
    assert err.value.translation_key == "not_connected"


async def test_only_modules_gone_from_the_mesh_can_be_deleted(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    loaded: MockConfigEntry,
    simulator: RunningSimulator,
) -> None:
    assert await async_setup_component(hass, "config", {})
    ws = await hass_ws_client(hass)
    registry = dr.async_get(hass)
    net = simulator.network
    meter = net.meter_modules[0]
    key = f"{meter.serial:08X}"

    def device(identifier: str) -> dr.DeviceEntry:
        entry = registry.async_get_device_by_identifier((DOMAIN, identifier), loaded.entry_id)
        assert entry is not None, identifier
        return entry

    hub, module, water = device(simulator.serial_key), device(key), device(f"{key}-1")
    for candidate in (hub, module, water):
        response = await ws.remove_device(candidate.id)
        assert not response["success"], candidate.name

    # Out of reach for hours: the concentrator declares the module lost.
    net.apply(Scenario.parse(f"offline:hours=12,module={meter.serial}"))
    simulator.concentrator.fan_out(net.advance(net.now + 4 * 3600))
    total = _entity_id(hass, "sensor", f"{key}-1-total")
    await wait_for(lambda: _state(hass, total) == STATE_UNAVAILABLE)
    # Its neighbours keep reporting.
    other = _entity_id(hass, "sensor", f"{net.meter_modules[1].serial:08X}-1-total")
    assert _state(hass, other) != STATE_UNAVAILABLE

    response = await ws.remove_device(water.id)
    assert response["success"]
    assert registry.async_get(water.id) is None
    response = await ws.remove_device(module.id)
    assert response["success"]
    assert registry.async_get(module.id) is None
    response = await ws.remove_device(hub.id)
    assert not response["success"]


async def test_module_removed_from_the_mesh_disappears(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    net = simulator.network
    meter = net.meter_modules[1]
    key = f"{meter.serial:08X}"
    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    total = _entity_id(hass, "sensor", f"{key}-0-total")
    assert hass.states.get(total) is not None

    del net.modules[meter.serial]
    simulator.concentrator.fan_out([ModuleLeave(meter.serial, LeaveReason.REMOVED)])
    await wait_for(
        lambda: devices.async_get_device_by_identifier((DOMAIN, key), loaded.entry_id) is None
    )
    await hass.async_block_till_done()
    for channel in range(3):
        assert (
            devices.async_get_device_by_identifier((DOMAIN, f"{key}-{channel}"), loaded.entry_id)
            is None
        )
    assert entities.async_get(total) is None
    assert hass.states.get(total) is None
    assert meter.serial not in loaded.runtime_data.coordinator.modules
    # The rest of the mesh is untouched.
    other = _entity_id(hass, "sensor", f"{net.meter_modules[0].serial:08X}-0-total")
    assert _state(hass, other) != STATE_UNAVAILABLE


def _restored(counter: int, *, ppu: float, reading: float, pulses: int, configured: float) -> Any:
    return {
        "kind": int(MeterKind.ELECTRICITY),
        "pulses_per_unit": ppu,
        "initial_reading": reading,
        "initial_counter": None,
        "last_counter": counter,
        "pulses": pulses,
        "last_ts": None,
        "configured_reading": configured,
    }


def _options(key: str, *, constant: float, reading: float) -> dict[str, Any]:
    return {
        CONF_METERS: {
            f"{key}-0": {
                CONF_KIND: "electricity",
                CONF_CONSTANT: constant,
                CONF_INITIAL_READING: reading,
                CONF_NAME: "",
            }
        }
    }


async def _read_after_an_hour(
    hass: HomeAssistant, entry: MockConfigEntry, sim: RunningSimulator, serial: int
) -> None:
    sim.network.advance(sim.network.now + 3600)
    await hass.services.async_call(
        DOMAIN,
        "read_now",
        {"config_entry_id": entry.entry_id, "module": f"{serial:08X}"},
        blocking=True,
    )
    await hass.async_block_till_done()


async def test_corrected_meter_constant_applies_from_now_on(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    net = simulator.network
    meter = net.meter_modules[1]
    key = f"{meter.serial:08X}"
    entity_id = f"sensor.electricity_meter_{key.lower()}_1_energy"
    counter = int(net.counters[meter.row, 0])
    # Before the restart: 1000 imp/kWh, 1234.5 kWh on the dial. The user then found that the
    # meter's plate says 500 imp/kWh.
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(entity_id, "1234.5"),
                {
                    "native_value": 1234.5,
                    "native_unit_of_measurement": "kWh",
                    "totalizer": _restored(
                        counter, ppu=1000.0, reading=1200.0, pulses=34_500, configured=1200.0
                    ),
                },
            )
        ],
    )
    entry = make_entry(simulator, options=_options(key, constant=500.0, reading=1200.0))
    await setup_entry(hass, entry)
    # The total so far is what it was: no jump when the constant changes.
    assert float(_state(hass, entity_id)) == pytest.approx(1234.5)
    await _read_after_an_hour(hass, entry, simulator, meter.serial)
    pulses = int(net.counters[meter.row, 0]) - counter
    assert pulses > 0
    # New pulses count at the corrected constant.
    assert float(_state(hass, entity_id)) == pytest.approx(1234.5 + pulses / 500.0)


async def test_reading_typed_in_options_applies_from_now_on(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    net = simulator.network
    meter = net.meter_modules[1]
    key = f"{meter.serial:08X}"
    entity_id = f"sensor.electricity_meter_{key.lower()}_1_energy"
    counter = int(net.counters[meter.row, 0])
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(entity_id, "1234.5"),
                {
                    "native_value": 1234.5,
                    "native_unit_of_measurement": "kWh",
                    "totalizer": _restored(
                        counter, ppu=1000.0, reading=1200.0, pulses=34_500, configured=1200.0
                    ),
                },
            )
        ],
    )
    # The meter was replaced while Home Assistant was stopped; the new one shows 7.25 kWh.
    entry = make_entry(simulator, options=_options(key, constant=1000.0, reading=7.25))
    await setup_entry(hass, entry)
    assert float(_state(hass, entity_id)) == pytest.approx(7.25)
    await _read_after_an_hour(hass, entry, simulator, meter.serial)
    pulses = int(net.counters[meter.row, 0]) - counter
    assert float(_state(hass, entity_id)) == pytest.approx(7.25 + pulses / 1000.0)


async def test_unchanged_options_continue_the_count(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    net = simulator.network
    meter = net.meter_modules[1]
    key = f"{meter.serial:08X}"
    entity_id = f"sensor.electricity_meter_{key.lower()}_1_energy"
    counter = int(net.counters[meter.row, 0])
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(entity_id, "1234.5"),
                {
                    "native_value": 1234.5,
                    "native_unit_of_measurement": "kWh",
                    "totalizer": _restored(
                        counter, ppu=1000.0, reading=1200.0, pulses=34_500, configured=1200.0
                    ),
                },
            )
        ],
    )
    entry = make_entry(simulator, options=_options(key, constant=1000.0, reading=1200.0))
    await setup_entry(hass, entry)
    assert float(_state(hass, entity_id)) == pytest.approx(1234.5)
    await _read_after_an_hour(hass, entry, simulator, meter.serial)
    pulses = int(net.counters[meter.row, 0]) - counter
    assert float(_state(hass, entity_id)) == pytest.approx(1234.5 + pulses / 1000.0)


async def test_meter_set_up_while_the_entry_starts_is_applied(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    """Options saved while the entry is still connecting are not lost: the entry reloads."""
    meter = simulator.network.meter_modules[1]
    key = f"{meter.serial:08X}"
    entity_id = f"sensor.electricity_meter_{key.lower()}_1_energy"
    entry = make_entry(simulator)
    entry.add_to_hass(hass)
    setup = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
    await wait_for(lambda: entry.state is ConfigEntryState.SETUP_IN_PROGRESS)
    hass.config_entries.async_update_entry(
        entry, options=_options(key, constant=1000.0, reading=1200.0)
    )
    await setup  # the reload it caused may already be under way when it returns
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert float(_state(hass, entity_id)) == pytest.approx(1200.0, abs=1.0)
