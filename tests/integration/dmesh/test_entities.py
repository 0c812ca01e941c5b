"""Entities, devices, actuators and alarms against the simulated network."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from syrupy.assertion import SnapshotAssertion

from custom_components.balance.const import DOMAIN
from dmesh_lib.messages import AnnounceReason, ModuleAnnounce, ModuleInfo, ModuleType, SensorSet
from dmesh_lib.simulator.network import HomeRole, SimModule
from dmesh_lib.simulator.scenarios import Scenario
from tests.integration.conftest import RunningSimulator, make_entry, setup_entry, wait_for


def _entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


async def test_entities_and_devices(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    entity_registry = er.async_get(hass)
    entries = sorted(
        er.async_entries_for_config_entry(entity_registry, loaded.entry_id),
        key=lambda e: e.unique_id,
    )
    described = {
        e.unique_id: {
            "entity_id": e.entity_id,
            "device_class": e.original_device_class,
            "translation_key": e.translation_key,
            "entity_category": e.entity_category,
            "disabled_by": e.disabled_by,
            "capabilities": e.capabilities,
            "unit": e.unit_of_measurement,
        }
        for e in entries
    }
    assert described == snapshot(name="entities")
    attributes = {
        e.entity_id: dict(state.attributes)
        for e in entries
        if (state := hass.states.get(e.entity_id)) is not None
    }
    assert attributes == snapshot(name="attributes")
    device_registry = dr.async_get(hass)
    devices = sorted(
        dr.async_entries_for_config_entry(device_registry, loaded.entry_id),
        key=lambda d: sorted(d.identifiers),
    )
    via = {d.id: sorted(d.identifiers)[0][1] for d in devices}
    tree = {sorted(d.identifiers)[0][1]: via.get(d.via_device_id) for d in devices}
    assert tree == snapshot(name="device_tree")


async def test_meter_values_follow_the_counters(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    module = simulator.network.meter_modules[1]
    gas = hass.states.get(_entity_id(hass, "sensor", f"{module.serial:08X}-2-total"))
    assert gas is not None
    # A fresh meter starts at its initial reading (0 when nobody typed one).
    assert float(gas.state) == 0.0
    simulator.network.advance(simulator.network.now + 3600)
    await hass.services.async_call(
        DOMAIN,
        "read_now",
        {"config_entry_id": loaded.entry_id, "module": f"{module.serial:08X}"},
        blocking=True,
    )
    entity_id = _entity_id(hass, "sensor", f"{module.serial:08X}-0-total")
    await wait_for(lambda: float(hass.states.get(entity_id).state) > 0)  # type: ignore[union-attr]
    power = hass.states.get(_entity_id(hass, "sensor", f"{module.serial:08X}-0-power"))
    assert power is not None
    assert float(power.state) > 0


async def test_relay_and_valve(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    relays = {
        m.shed_level: m for m in simulator.network.modules.values() if m.role is HomeRole.RELAY
    }
    red = relays[0]
    switch = _entity_id(hass, "switch", f"{red.serial:08X}-relay")
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    # The module confirmed before the action returned: no optimistic state.
    assert not red.relay_on
    await wait_for(lambda: hass.states.get(switch).state == "off")  # type: ignore[union-attr]
    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    await wait_for(lambda: hass.states.get(switch).state == "on")  # type: ignore[union-attr]

    valve_module = next(m for m in simulator.network.modules.values() if m.role is HomeRole.VALVE)
    valve = _entity_id(hass, "valve", f"{valve_module.serial:08X}-valve")
    seen: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda e: seen.append(e.data["new_state"].state) if e.data["entity_id"] == valve else None,
    )
    await hass.services.async_call("valve", "close_valve", {"entity_id": valve}, blocking=True)
    assert hass.states.get(valve).state == "closed"  # type: ignore[union-attr]
    await hass.async_block_till_done()
    assert seen[:2] == ["closing", "closed"]
    await hass.services.async_call("valve", "open_valve", {"entity_id": valve}, blocking=True)
    assert hass.states.get(valve).state == "open"  # type: ignore[union-attr]

    # Out of radio reach: the action fails with a translated error, the state stays honest.
    simulator.network.apply(Scenario.parse(f"offline:hours=1,module={red.serial}"))
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {
        "module": f"{red.serial:08X}",
        "status": "unreachable",
    }
    assert hass.states.get(switch).state == "on"  # type: ignore[union-attr]


async def test_alarms_are_binary_sensors_events_and_repairs(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    net = simulator.network
    sensor_module = next(m for m in net.modules.values() if m.role is HomeRole.SENSOR)
    key = f"{sensor_module.serial:08X}"
    flood = _entity_id(hass, "binary_sensor", f"{key}-flood")
    alarm = _entity_id(hass, "event", f"{key}-alarm")
    assert hass.states.get(flood).state == "off"  # type: ignore[union-attr]
    simulator.concentrator.fan_out(net.apply(Scenario.parse("flood")))
    await wait_for(lambda: hass.states.get(flood).state == "on")  # type: ignore[union-attr]
    assert hass.states.get(alarm).attributes["event_type"] == "flood"  # type: ignore[union-attr]

    simulator.concentrator.fan_out(net.apply(Scenario.parse("power_cut")))
    phase = _entity_id(hass, "binary_sensor", f"{key}-phase_l2")
    await wait_for(lambda: hass.states.get(phase).state == "off")  # type: ignore[union-attr]
    assert hass.states.get(alarm).attributes["event_type"] == "phase_lost"  # type: ignore[union-attr]

    meter = net.meter_modules[0]
    mkey = f"{meter.serial:08X}"
    simulator.concentrator.fan_out(net.apply(Scenario.parse("magnet")))
    magnet = _entity_id(hass, "binary_sensor", f"{mkey}-0-magnet")
    await wait_for(lambda: hass.states.get(magnet).state == "on")  # type: ignore[union-attr]
    meter_alarm = _entity_id(hass, "event", f"{mkey}-alarm")
    assert hass.states.get(meter_alarm).attributes["event_type"] == "magnet"  # type: ignore[union-attr]
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, f"tamper_{mkey}-0") is None
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, f"tamper_{mkey}-0")
    assert issue is not None
    assert issue.translation_placeholders == {"module": mkey, "channel": "1", "faults": "magnet"}
    simulator.concentrator.fan_out(net.apply(Scenario.parse("magnet"), on=False))
    await wait_for(lambda: hass.states.get(magnet).state == "off")  # type: ignore[union-attr]
    assert issues.async_get_issue(DOMAIN, f"tamper_{mkey}-0") is None

    simulator.concentrator.fan_out(net.apply(Scenario.parse(f"low_battery:module={meter.serial}")))
    await wait_for(lambda: issues.async_get_issue(DOMAIN, f"low_battery_{mkey}") is not None)
    battery = _entity_id(hass, "sensor", f"{mkey}-battery")
    assert hass.states.get(battery).state == "4"  # type: ignore[union-attr]
    assert hass.states.get(meter_alarm).attributes["event_type"] == "low_battery"  # type: ignore[union-attr]
    simulator.concentrator.fan_out(
        net.apply(Scenario.parse(f"low_battery:module={meter.serial}"), on=False)
    )
    await wait_for(lambda: issues.async_get_issue(DOMAIN, f"low_battery_{mkey}") is None)


async def test_outage_makes_entities_unavailable_and_logs_once(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.balance")
    client = loaded.runtime_data.client
    client.reconnect_min = client.reconnect_max = 0.05
    meter = simulator.network.meter_modules[0]
    total = _entity_id(hass, "sensor", f"{meter.serial:08X}-0-total")
    hub = _entity_id(hass, "binary_sensor", f"{simulator.serial_key}-connected")
    await simulator.concentrator.stop()
    await wait_for(lambda: hass.states.get(total).state == STATE_UNAVAILABLE)  # type: ignore[union-attr]
    assert hass.states.get(hub).state == "off"  # type: ignore[union-attr]
    # Several failed reconnects while it is gone: one warning, not one per attempt.
    await wait_for(lambda: client.state.value == "disconnected")
    issues = ir.async_get(hass)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=16))
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, f"unreachable_{loaded.entry_id}") is not None

    await simulator.restart()
    await wait_for(lambda: hass.states.get(total).state != STATE_UNAVAILABLE)  # type: ignore[union-attr]
    assert hass.states.get(hub).state == "on"  # type: ignore[union-attr]
    assert issues.async_get_issue(DOMAIN, f"unreachable_{loaded.entry_id}") is None
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert sum("is unavailable" in m for m in messages) == 1
    assert sum("is back" in m for m in messages) == 1


async def test_new_module_appears_and_removed_module_goes(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    net = simulator.network
    info = ModuleInfo(0x10000077, ModuleType.SENSOR, 2, 1, 0, True, 0, SensorSet.TEMPERATURE)
    net.modules[info.serial] = SimModule(info, HomeRole.SENSOR, household=0)
    simulator.concentrator.fan_out([ModuleAnnounce(info, AnnounceReason.JOINED)])
    await wait_for(
        lambda: (
            er.async_get(hass).async_get_entity_id("sensor", DOMAIN, "10000077-temperature")
            is not None
        )
    )
    registry = dr.async_get(hass)
    device = registry.async_get_device_by_identifier((DOMAIN, "10000077"), loaded.entry_id)
    assert device is not None

    # Gone from the concentrator's inventory: removed as a stale device on the next start.
    del net.modules[info.serial]
    await hass.config_entries.async_reload(loaded.entry_id)
    await hass.async_block_till_done()
    assert registry.async_get_device_by_identifier((DOMAIN, "10000077"), loaded.entry_id) is None


async def test_not_ready_when_unreachable_and_unload(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    entry = make_entry(simulator)
    await simulator.concentrator.stop()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state.value == "setup_retry"
    await simulator.restart()
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state.value == "loaded"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state.value == "not_loaded"


async def test_channel_without_constant_raises_a_repair(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    from dataclasses import replace

    from dmesh_lib.messages import ChannelInfo, ChannelKind

    module = simulator.network.meter_modules[0]
    channels = list(module.info.channels)
    channels[2] = ChannelInfo(ChannelKind.PULSE)
    module.info = replace(module.info, channels=tuple(channels))  # type: ignore[arg-type]
    await setup_entry(hass, make_entry(simulator))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"missing_constant_{module.serial:08X}-2")
    assert issue is not None
    assert (
        er.async_get(hass).async_get_entity_id(
            Platform.SENSOR, DOMAIN, f"{module.serial:08X}-2-total"
        )
        is None
    )
