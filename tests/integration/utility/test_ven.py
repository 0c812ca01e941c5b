"""Home Assistant as an OpenADR 3 VEN against a real BALANCE VTN (SQLite, the real Mosquitto):
the config flow, DR events acting on a load manager by MQTT push and by polling, acknowledgements.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from balance_aggregator.auth import hash_secret, new_secret
from balance_aggregator.storage import Client
from custom_components.balance.const import CONF_ENTRY_TYPE, CONF_URL, DOMAIN
from custom_components.balance.utility.const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_METER_ENTITIES,
)
from custom_components.balance.utility.ven import UtilityVen
from tests.integration.conftest import setup_entry, wait_for
from tests.integration.load_manager.helpers import (
    BOILER,
    EV,
    PC,
    is_on,
    manager_entry,
    set_power,
    setup_house,
)

from .helpers import (
    HOUSE_CLIENT,
    RunningVtn,
    post_event,
    program,
    setup_utility,
    start_vtn,
    utility_entry,
    vtn_factory,
)

__all__ = ["vtn_factory"]  # the fixture, used by name

ACTIVE = "binary_sensor.utility_127_0_0_1_utility_event_active"
LEVEL = "sensor.utility_127_0_0_1_demand_response_level"
LIMIT = "sensor.utility_127_0_0_1_utility_capacity_limit"
PRICE = "sensor.utility_127_0_0_1_utility_price"
NEXT = "sensor.utility_127_0_0_1_next_utility_event"
CONNECTED = "binary_sensor.utility_127_0_0_1_utility_connection"
LIMIT_IN_FORCE = "sensor.load_manager_limit_in_force"
FOLLOW = "switch.utility_127_0_0_1_follow_utility_events"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _ven(entry: MockConfigEntry) -> UtilityVen:
    ven = entry.runtime_data
    assert isinstance(ven, UtilityVen)
    return ven


async def _start_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "utility" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "utility"}
    )
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "utility"
    return result["flow_id"]


async def test_config_flow_tests_credentials_then_reauth(
    hass: HomeAssistant, vtn_factory: list[RunningVtn], tmp_path: Path
) -> None:
    vtn = await start_vtn(vtn_factory, tmp_path)
    bl = await vtn.client("operator", "bl")
    await vtn.house(bl)
    secret = new_secret()
    await vtn.client(HOUSE_CLIENT, "ven", secret)
    flow_id = await _start_flow(hass)
    good = {CONF_URL: vtn.url + "/", CONF_CLIENT_ID: HOUSE_CLIENT, CONF_CLIENT_SECRET: secret}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**good, CONF_CLIENT_SECRET: "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**good, CONF_CLIENT_ID: "nobody"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**good, CONF_URL: "http://127.0.0.1:1"}
    )
    assert result["errors"] == {"base": "vtn_unreachable"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**good, CONF_URL: "vtn.example.org"}
    )
    assert result["errors"] == {"base": "invalid_vtn_url"}
    assert not hass.config_entries.async_entries(DOMAIN)  # nothing saved on any error

    result = await hass.config_entries.flow.async_configure(flow_id, good)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_ENTRY_TYPE: "utility",
        CONF_URL: vtn.url,
        CONF_CLIENT_ID: HOUSE_CLIENT,
        CONF_CLIENT_SECRET: secret,
    }
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED
    assert _state(hass, CONNECTED) == "on"

    # the same VTN and client again
    flow_id = await _start_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, good)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "utility_already_configured"

    # The utility rotates the secret: the entry asks for the new one and comes back with it.
    rotated = new_secret()
    assert vtn.vtn is not None
    await vtn.vtn.storage.put_client(Client(HOUSE_CLIENT, hash_secret(rotated), "ven", 0.0))
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    flow_id = flows[0]["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_CLIENT_SECRET: "still wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_CLIENT_SECRET: rotated})
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_CLIENT_SECRET] == rotated

    # Reconfigure: tested like the first time, then saved and reloaded.
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": config_entries.SOURCE_RECONFIGURE, "entry_id": entry.entry_id},
    )
    assert result["step_id"] == "utility"
    changed = {CONF_URL: f"{vtn.url}/", CONF_CLIENT_ID: HOUSE_CLIENT, CONF_CLIENT_SECRET: "x"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], changed)
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**changed, CONF_CLIENT_SECRET: rotated}
    )
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "utility_reconfigured"
    await hass.async_block_till_done()
    assert entry.data[CONF_URL] == vtn.url
    assert entry.state is ConfigEntryState.LOADED


async def test_unreachable_vtn_retries_setup(
    hass: HomeAssistant, vtn_factory: list[RunningVtn], tmp_path: Path
) -> None:
    vtn = await start_vtn(vtn_factory, tmp_path)
    bl = await vtn.client("operator", "bl")
    house = await vtn.house(bl)
    entry = utility_entry(vtn.url, house)
    await vtn.stop()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def _house_with_utility(
    hass: HomeAssistant, vtn_factory: list[RunningVtn], tmp_path: Path, *, mqtt: bool
) -> tuple[RunningVtn, Any, str, MockConfigEntry]:
    await setup_house(hass)
    await setup_entry(hass, manager_entry())
    vtn = await start_vtn(vtn_factory, tmp_path, mqtt=mqtt)
    bl = await vtn.client("operator", "bl")
    house = await vtn.house(bl)
    pid = await program(bl)
    entry = utility_entry(vtn.url, house)
    await setup_utility(hass, entry)
    return vtn, bl, pid, entry


async def _deliveries(bl: Any, event_id: str) -> list[dict[str, Any]]:
    body = await bl.request("GET", f"/balance/events/{event_id}/deliveries")
    return list(body if isinstance(body, list) else body.get("deliveries", []))


async def test_level_event_by_mqtt_sheds_green_and_restores_at_its_end(
    hass: HomeAssistant, vtn_factory: list[RunningVtn], tmp_path: Path
) -> None:
    _, bl, pid, entry = await _house_with_utility(hass, vtn_factory, tmp_path, mqtt=True)
    ven = _ven(entry)
    assert ven.push is not None
    await wait_for(lambda: ven.push_connected)
    await set_power(hass, 3000)
    assert is_on(hass, EV) and _state(hass, ACTIVE) == "off" and _state(hass, LEVEL) == "0"

    now = datetime.now(UTC)
    event = await post_event(bl, pid, "SIMPLE", 1, start=now, duration="PT3S")
    # Only the push can bring it this early: the poll runs every five minutes with MQTT.
    await wait_for(lambda: not is_on(hass, EV))
    assert is_on(hass, BOILER) and is_on(hass, PC)
    assert _state(hass, ACTIVE) == "on" and _state(hass, LEVEL) == "1"
    assert _state(hass, LIMIT_IN_FORCE) == "7000.0" or float(_state(hass, LIMIT_IN_FORCE)) == 7000
    # the VTN learns that the house holds the event, and how it came
    await wait_for(lambda: ven.reporter.acknowledged(event["id"]))
    deliveries = await _deliveries(bl, event["id"])
    assert [(d["status"], d["channel"]) for d in deliveries] == [("ACK", "MQTT")]

    # The event's interval ends: the request ends with it, on the VEN's own timer. (The charger
    # then comes back once the engine's settle time has passed: the polled test moves time.)
    await wait_for(lambda: _state(hass, LEVEL) == "0", give_up_s=15)
    assert _state(hass, ACTIVE) == "off"
    state = hass.states.get(LIMIT_IN_FORCE)
    assert state is not None and state.attributes["dr_level"] == 0


async def test_polled_events_level_two_cancel_and_next_event(
    hass: HomeAssistant,
    vtn_factory: list[RunningVtn],
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without MQTT the VEN polls; a deleted (cancelled) event ends its request at once."""
    vtn, bl, pid, entry = await _house_with_utility(hass, vtn_factory, tmp_path, mqtt=False)
    ven = _ven(entry)
    assert ven.push is None
    await set_power(hass, 3000)
    now = datetime.now(UTC)
    event = await post_event(bl, pid, "SIMPLE", 2, start=now, duration="PT1H")
    later = await post_event(bl, pid, "SIMPLE", 3, start=now + timedelta(hours=3), duration="PT1H")
    # another group's event is not this house's business
    await post_event(bl, pid, "SIMPLE", 3, start=now, duration="PT1H", targets=["street-9"])
    await ven.async_poll("POLL")
    await hass.async_block_till_done()
    assert not is_on(hass, EV) and not is_on(hass, BOILER) and is_on(hass, PC)
    assert _state(hass, LEVEL) == "2"
    assert datetime.fromisoformat(_state(hass, NEXT)) == datetime.fromisoformat(
        later["intervalPeriod"]["start"].replace("Z", "+00:00")
    ).replace(microsecond=0)
    deliveries = await _deliveries(bl, event["id"])
    assert [(d["status"], d["channel"]) for d in deliveries] == [("ACK", "POLL")]

    await set_power(hass, 1000)  # what the meter shows with both off
    await bl.request("DELETE", f"/events/{event['id']}")
    await ven.async_poll("POLL")
    await hass.async_block_till_done()
    assert _state(hass, LEVEL) == "0" and _state(hass, ACTIVE) == "off"
    # after the engine's settle time both come back, one step at a time
    for _ in range(3):
        freezer.tick(timedelta(seconds=61))
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done()
    assert is_on(hass, EV) and is_on(hass, BOILER)

    # the VTN goes away: nothing is imposed or lifted by its absence, the entity says so
    await vtn.stop()
    await ven.async_poll("POLL")
    await hass.async_block_till_done()
    assert _state(hass, CONNECTED) == "off"
    assert entry.state is ConfigEntryState.LOADED


async def test_capacity_limit_and_price(
    hass: HomeAssistant, vtn_factory: list[RunningVtn], tmp_path: Path
) -> None:
    _, bl, pid, entry = await _house_with_utility(hass, vtn_factory, tmp_path, mqtt=True)
    ven = _ven(entry)
    await wait_for(lambda: ven.push_connected)
    await set_power(hass, 6000)
    assert is_on(hass, EV)
    now = datetime.now(UTC)
    await post_event(bl, pid, "IMPORT_CAPACITY_LIMIT", 4.0, start=now, duration="PT1H")
    await post_event(
        bl,
        pid,
        "PRICE",
        0.42,
        start=now,
        duration="PT1H",
        payloadDescriptors=[
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": "PRICE",
                "units": "KWH",
                "currency": "EUR",
            }
        ],
    )
    await wait_for(lambda: _state(hass, LIMIT) == "4000.0" and _state(hass, PRICE) == "0.42")
    await wait_for(lambda: float(_state(hass, LIMIT_IN_FORCE)) == 4000)
    state = hass.states.get(PRICE)
    assert state is not None and state.attributes["unit_of_measurement"] == "EUR/kWh"
    # the house is over the utility's limit: green goes first
    await set_power(hass, 6100)
    await wait_for(lambda: not is_on(hass, EV))
    assert is_on(hass, PC)

    # a reload keeps the request (no socket switched on and off again); deleting the VEN ends it
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert float(_state(hass, LIMIT_IN_FORCE)) == 4000 and not is_on(hass, EV)
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert float(_state(hass, LIMIT_IN_FORCE)) == 7000


async def test_options_choose_the_meters_and_diagnostics(
    hass: HomeAssistant,
    vtn_factory: list[RunningVtn],
    tmp_path: Path,
    hass_client: ClientSessionGenerator,
) -> None:
    vtn = await start_vtn(vtn_factory, tmp_path, mqtt=False)
    bl = await vtn.client("operator", "bl")
    entry = utility_entry(vtn.url, await vtn.house(bl))
    await setup_utility(hass, entry)
    hass.states.async_set(
        "sensor.shelly_energy",
        "12.5",
        {"device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total"},
    )
    # no BALANCE meters here: the list starts empty, any meter total can be chosen
    assert _ven(entry).reporter.meters() == {}
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "utility_meters"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_METER_ENTITIES: ["sensor.shelly_energy", "sensor.nothing"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_METER_ENTITIES] == ["sensor.shelly_energy", "sensor.nothing"]
    # a sensor that is no meter (or no longer exists) is left out, not sent as garbage
    assert _ven(entry).reporter.meters() == {"sensor.shelly_energy": "electricity"}

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["connected"] is True
    assert diagnostics["push"] is None
    assert isinstance(diagnostics["ven_id"], str)
    assert "client_secret" not in str(diagnostics)


async def test_opt_out_lifts_the_request_and_tells_the_vtn(
    hass: HomeAssistant, vtn_factory: list[RunningVtn], tmp_path: Path
) -> None:
    _, bl, pid, entry = await _house_with_utility(hass, vtn_factory, tmp_path, mqtt=False)
    ven = _ven(entry)
    now = datetime.now(UTC)
    first = await post_event(bl, pid, "SIMPLE", 1, start=now, duration="PT1H")
    await ven.async_poll("POLL")
    await hass.async_block_till_done()
    manager = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert manager.engine.limits.demand_response is not None
    assert _state(hass, FOLLOW) == "on"

    await hass.services.async_call("switch", "turn_off", {"entity_id": FOLLOW}, blocking=True)
    assert _state(hass, FOLLOW) == "off"
    assert manager.engine.limits.demand_response is None
    assert [d["status"] for d in await _deliveries(bl, first["id"])] == ["OPT_OUT"]
    # an event that comes while the house is out is acknowledged and opted out at once
    second = await post_event(bl, pid, "IMPORT_CAPACITY_LIMIT", 2.0, start=now, duration="PT1H")
    await ven.async_poll("POLL")
    await hass.async_block_till_done()
    assert manager.engine.limits.demand_response is None
    assert _state(hass, LEVEL) == "1"  # what the utility asks is still shown
    assert [d["status"] for d in await _deliveries(bl, second["id"])] == ["OPT_OUT"]

    # back in: both apply again, and the VTN hears so; the choice survives a restart
    await hass.services.async_call("switch", "turn_on", {"entity_id": FOLLOW}, blocking=True)
    dr = manager.engine.limits.demand_response
    assert dr is not None and dr.level == 1 and dr.limit_w == 2000
    assert [d["status"] for d in await _deliveries(bl, first["id"])] == ["OPT_IN"]
    await hass.services.async_call("switch", "turn_off", {"entity_id": FOLLOW}, blocking=True)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, FOLLOW) == "off"
