"""Actions: happy paths and their translated errors."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.balance.const import DOMAIN
from dmesh_lib.messages import MeterReading
from dmesh_lib.simulator.network import HomeRole
from dmesh_lib.simulator.scenarios import Scenario
from tests.integration.conftest import RunningSimulator, wait_for


async def _call(hass: HomeAssistant, service: str, data: dict, response: bool = False):  # type: ignore[no-untyped-def]
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


async def test_relay_valve_and_broadcast_actions(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    net = simulator.network
    relays = {m.shed_level: m for m in net.modules.values() if m.role is HomeRole.RELAY}
    valve = next(m for m in net.modules.values() if m.role is HomeRole.VALVE)
    base = {"config_entry_id": loaded.entry_id}
    await _call(hass, "set_relay", {**base, "module": f"{relays[1].serial:08X}", "on": False})
    assert not relays[1].relay_on
    await _call(hass, "set_valve", {**base, "module": f"{valve.serial:08X}", "open": False})
    assert valve.valve_position.name == "CLOSED"
    await _call(hass, "set_relay", {**base, "module": f"{relays[1].serial:08X}", "on": True})
    # DR level 1 sheds the green load only; red is never shed.
    outcome = await _call(
        hass,
        "broadcast_group",
        {**base, "group": 1, "action": "shed", "level": 1, "duration": 900},
        response=True,
    )
    assert outcome["reached"] == 3
    assert sorted(outcome["modules"]) == sorted(f"{r.serial:08X}" for r in relays.values())
    assert not relays[1].relay_on and relays[0].relay_on and relays[2].relay_on
    await _call(hass, "broadcast_group", {**base, "group": 1, "action": "restore"})
    assert all(r.relay_on for r in relays.values())


async def test_action_errors_are_translated(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: RunningSimulator
) -> None:
    meter = simulator.network.meter_modules[0]
    base = {"config_entry_id": loaded.entry_id}
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "read_now", {"config_entry_id": "nope", "module": "10000100"})
    assert err.value.translation_key == "entry_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "read_now", {**base, "module": "DEADBEEF"})
    assert err.value.translation_key == "unknown_module"
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass, "set_meter_reading", {**base, "module": "10000001", "channel": 1, "reading": 1}
        )
    assert err.value.translation_key == "no_meter"
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "fetch_backlog",
            {
                **base,
                "module": f"{meter.serial:08X}",
                "start": "2026-01-02T00:00:00+00:00",
                "end": "2026-01-01T00:00:00+00:00",
            },
        )
    assert err.value.translation_key == "bad_range"
    with pytest.raises(HomeAssistantError) as failed:
        await _call(hass, "set_relay", {**base, "module": f"{meter.serial:08X}", "on": False})
    assert failed.value.translation_key == "command_failed"
    assert failed.value.translation_placeholders["status"] == "refused"
    simulator.network.apply(Scenario.parse(f"offline:hours=1,module={meter.serial}"))
    with pytest.raises(HomeAssistantError) as failed:
        await _call(hass, "read_now", {**base, "module": f"{meter.serial:08X}"})
    assert failed.value.translation_placeholders["status"] == "unreachable"
    with pytest.raises(Exception, match="hexadecimal"):
        await _call(hass, "read_now", {**base, "module": "xyz"})

    await hass.config_entries.async_unload(loaded.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "read_now", {**base, "module": f"{meter.serial:08X}"})
    assert err.value.translation_key == "entry_not_loaded"


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client,  # type: ignore[no-untyped-def]
    loaded: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded)
    assert "socket://" not in str(diagnostics)
    assert diagnostics["link"]["frames_received"] > 0
    diagnostics.pop("link")
    # Rejections are visible; on a clean simulator there are none, for no module or meter.
    assert diagnostics["rejections"].pop("accepted") > 0
    assert diagnostics["rejections"]["total"] == 0
    assert diagnostics == snapshot


async def test_diagnostics_show_what_the_client_refused(
    hass: HomeAssistant,
    hass_client,  # type: ignore[no-untyped-def]
    loaded: MockConfigEntry,
    simulator: RunningSimulator,
) -> None:
    net = simulator.network
    meter = net.meter_modules[0]
    now = int(net.now)
    counter = int(net.counters[meter.row, 1])
    # Valid frames with content no meter produced: a stranger, and a jump of 10⁹ pulses.
    simulator.concentrator.fan_out(
        [
            MeterReading(0xDEADBEEF, now, ((0, 1),)),
            MeterReading(meter.serial, now, ((1, (counter + 10**9) % 2**32),)),
        ]
    )
    client = loaded.runtime_data.client
    await wait_for(lambda: client.guard.stats.total_rejected >= 2)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded)
    rejections = diagnostics["rejections"]
    assert rejections["by_reason"] == {"too_fast": 1, "unknown_module": 1}
    assert rejections["unknown_modules"] == 1
    assert "DEADBEEF" not in str(diagnostics).upper()
    (index,) = {r["module"] for r in rejections["recent"]} - {"unknown"}
    assert isinstance(index, int)
    module = diagnostics["modules"][index]
    assert module["rejected"] == {"too_fast": 1}
    assert [m["rejected"] for m in module["meters"]] == [{}, {"too_fast": 1}, {}]
