"""The config, USB discovery, reconfigure and options flows against a real simulator."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from homeassistant.components import usb
from homeassistant.components.usb.models import SerialDevice
from homeassistant.config_entries import SOURCE_USB, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from homeassistant.setup import async_setup_component

from custom_components.balance.const import CONF_URL, DOMAIN
from tests.integration.conftest import RunningSimulator, StartSimulator, make_entry, setup_entry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _user_flow(hass: HomeAssistant) -> dict:
    """The menu's "DMesh concentrator" choice leads to the form this module tests."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"][:2] == ["concentrator", "load_manager"]
    assert "existing_meters" in result["menu_options"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "concentrator"}
    )


async def _manual_flow(hass: HomeAssistant) -> dict:
    result = await _user_flow(hass)
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"device": "manual"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    return result


async def test_manual_url_creates_entry(hass: HomeAssistant, simulator: RunningSimulator) -> None:
    result = await _manual_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: f" {simulator.url} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"J100UC {simulator.serial_key}"
    assert result["data"] == {CONF_URL: simulator.url}
    assert result["result"].unique_id == simulator.serial_key
    await hass.async_block_till_done()


async def test_each_error_then_recovery(hass: HomeAssistant, simulator: RunningSimulator) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    silent_port = server.sockets[0].getsockname()[1]
    result = await _manual_flow(hass)
    cases = {
        f"socket://127.0.0.1:{_free_port()}": "cannot_connect",
        "/dev/serial/by-id/usb-DMesh_J100UC_missing-if00": "port_not_found",
        "loop://": "invalid_url",
        f"socket://127.0.0.1:{silent_port}": "not_a_concentrator",
    }
    try:
        for url, error in cases.items():
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_URL: url}
            )
            assert result["type"] is FlowResultType.FORM
            assert result["errors"] == {"base": error}, url
    finally:
        server.close()
        await server.wait_closed()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: simulator.url}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_port_list_uses_by_id_paths_and_manual_entry(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    assert await async_setup_component(hass, "usb", {})
    port = SerialDevice(
        device=simulator.url,
        serial_number="J100UC-0042",
        manufacturer="DMesh",
        description="J100UC concentrator",
    )
    usb.async_register_serial_port_scanner(hass, lambda _hass: [port])
    result = await _user_flow(hass)
    assert result["step_id"] == "user"
    options = result["data_schema"].schema["device"].config["options"]
    labels = {o["value"]: o["label"] for o in options}
    assert options[-1]["value"] == "manual"
    assert "J100UC-0042" in labels[simulator.url]
    manual = await hass.config_entries.flow.async_configure(result["flow_id"], {"device": "manual"})
    assert manual["step_id"] == "manual"

    result = await _user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"device": simulator.url}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    # The same concentrator again: one entry per serial number.
    result = await _user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"device": simulator.url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_usb_discovery(hass: HomeAssistant, simulator: RunningSimulator) -> None:
    info = UsbServiceInfo(
        device=simulator.url,
        vid="0403",
        pid="6015",
        serial_number="J100UC-0042",
        manufacturer="DMesh",
        description="J100UC",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=info
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "usb_confirm"
    assert result["description_placeholders"] == {
        "serial": simulator.serial_key,
        "device": simulator.url,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_usb_discovery_follows_a_replugged_concentrator(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    entry = make_entry(simulator)
    entry.add_to_hass(hass)
    replugged = f"socket://localhost:{simulator.port}"
    info = UsbServiceInfo(
        device=replugged,
        vid="0403",
        pid="6015",
        serial_number=None,
        manufacturer=None,
        description=None,
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_URL] == replugged
    await hass.async_block_till_done()


async def test_usb_discovery_of_something_else(hass: HomeAssistant) -> None:
    info = UsbServiceInfo(
        device=f"socket://127.0.0.1:{_free_port()}",
        vid="0403",
        pid="6015",
        serial_number=None,
        manufacturer=None,
        description=None,
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_a_concentrator"


async def test_reconfigure_keeps_entities(
    hass: HomeAssistant, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator()
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    registry = er.async_get(hass)
    before = {e.unique_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)}

    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"device": "manual"})
    new_url = f"socket://localhost:{sim.port}"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_URL: new_url})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_URL] == new_url
    after = {e.unique_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)}
    assert after == before

    other = await start_simulator(network=None, meter_modules=1, start=None)
    other.network.serial += 1  # a different concentrator on the other port
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"device": "manual"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: other.url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_concentrator"


async def test_options_describe_a_meter(hass: HomeAssistant, simulator: RunningSimulator) -> None:
    entry = make_entry(simulator)
    await setup_entry(hass, entry)
    serial = simulator.network.meter_modules[0].serial
    key = f"{serial:08X}-1"
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"meter": key})
    assert result["step_id"] == "meter"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"kind": "water", "constant": 100, "initial_reading": 321.5, "name": "Kitchen water"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["meters"][key] == {
        "kind": "water",
        "constant": 100.0,
        "initial_reading": 321.5,
        "name": "Kitchen water",
    }
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{key}-total")
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    assert float(state.state) == 321.5


async def test_options_without_meters_abort(
    hass: HomeAssistant, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(meter_modules=0)
    entry = make_entry(sim)
    await setup_entry(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_meters"


async def test_options_while_the_concentrator_is_away_abort_clearly(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    """Opening the options of an entry that is retrying its set-up explains why, not a 500."""
    await simulator.concentrator.stop()
    entry = make_entry(simulator)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"
