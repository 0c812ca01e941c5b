"""The load manager over real DMesh relays (the simulator's AD220s), in real time: the measured
latency from an over-limit reading to the switch command, and to the module's confirmation."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balance.const import DOMAIN
from dmesh_lib.simulator.network import HomeRole
from tests.integration.conftest import RunningSimulator, setup_entry, wait_for

from .helpers import manager_entry, set_power, setup_house, socket

COLOUR_OF_LEVEL = {0: "red", 1: "green", 2: "yellow"}


async def test_dmesh_relays_shed_and_the_latency_is_measured(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    await setup_house(hass)
    registry = er.async_get(hass)
    relays = {
        m.shed_level: m for m in simulator.network.modules.values() if m.role is HomeRole.RELAY
    }
    sockets = []
    for level, module in sorted(relays.items()):
        entity_id = registry.async_get_entity_id("switch", DOMAIN, f"{module.serial:08X}-relay")
        assert entity_id is not None
        colour = COLOUR_OF_LEVEL[level]
        sockets.append(socket(colour, entity_id, f"{colour} relay", colour, 2000))
    entry = manager_entry(sockets)
    await setup_entry(hass, entry)
    manager = entry.runtime_data
    green = relays[1]
    rounds = 5
    for i in range(rounds):
        await set_power(hass, 1000 + i)
        await set_power(hass, 7900 + i)
        await wait_for(lambda: not green.relay_on)
        await hass.async_block_till_done()
        assert relays[0].relay_on and relays[2].relay_on  # red never, yellow not needed
        await hass.services.async_call(
            DOMAIN, "restore_all", {"config_entry_id": entry.entry_id}, blocking=True
        )
        await wait_for(lambda: green.relay_on)
        await hass.async_block_till_done()
    stats = manager.reaction_stats()
    assert stats["samples"] == rounds
    assert stats["done_median_ms"] >= stats["call_median_ms"]
    state = hass.states.get("sensor.load_manager_reaction_time")
    assert state is not None and state.attributes["samples"] == rounds
    print(f"\nDLM latency over DMesh relays ({rounds} sheds): {stats}")
