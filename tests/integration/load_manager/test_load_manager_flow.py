"""The load manager's config flow, options flow and socket subentry flow."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.storage import Store

from custom_components.balance.const import DOMAIN, SUBENTRY_SOCKET
from tests.integration.conftest import setup_entry

from .helpers import BOILER, EV, HOUSE_SOCKETS, POWER, manager_entry, setup_house


async def test_user_flow_creates_a_load_manager(hass: HomeAssistant) -> None:
    await setup_house(hass, unit="kW")
    hass.states.async_set("sensor.temperature", "21", {"unit_of_measurement": "°C"})
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "load_manager"}
    )
    assert result["step_id"] == "load_manager"
    base = {"name": "House", "limit_w": 7000}
    for entity_id, error in (
        ("sensor.temperature", "not_power"),
        ("sensor.nope", "entity_not_found"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**base, "power_entity": entity_id}
        )
        assert result["errors"] == {"power_entity": error}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**base, "power_entity": POWER, "contract_power_w": 11000}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "House"
    assert result["data"] == {"entry_type": "load_manager", "power_entity": POWER}
    assert result["options"] == {"limit_w": 7000, "contract_power_w": 11000}
    await hass.async_block_till_done()
    # A sensor in kW is read in W: the house shows 1000 kW here.
    manager = result["result"].runtime_data
    assert manager.reading().watts == 1_000_000
    # The same power sensor twice is refused.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "load_manager"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**base, "power_entity": POWER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_socket_subentries_and_options(hass: HomeAssistant) -> None:
    await setup_house(hass)
    entry = manager_entry(sockets=[])
    await setup_entry(hass, entry)
    manager = entry.runtime_data
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_SOCKET), context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "user"
    socket = {
        "switch_entity": EV,
        "colour": "green",
        "power_w": 7400,
        "max_off_min": 15,
        "priority": 0,
        "run_min": 120,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], socket)
    assert result["errors"] == {"deadline": "deadline_needed"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**socket, "deadline": "07:00:00"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "ev charger"  # the switch's own name
    await hass.async_block_till_done()
    # A new socket reloads the entry: a new manager with the socket and its colour select.
    manager = entry.runtime_data
    (socket_id,) = manager.sockets
    assert manager.sockets[socket_id].run_s == 7200
    assert 0 <= entry.subentries[socket_id].data["night_delay_min"] <= 90
    assert hass.states.get("select.ev_charger_colour") is not None
    # The same switch twice is refused.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_SOCKET), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**socket, "deadline": "07:00:00"}
    )
    assert result["reason"] == "already_configured"
    # Reconfigure: a name and a new colour, kept in place without a reload.
    result = await entry.start_subentry_reconfigure_flow(hass, socket_id)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "EV charger",
            "colour": "yellow",
            "power_w": 7400,
            "max_off_min": 10,
            "priority": 1,
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.runtime_data is manager
    assert manager.sockets[socket_id].config.colour.name == "YELLOW"
    assert manager.sockets[socket_id].config.max_off_s == 600
    assert manager.sockets[socket_id].config.name == "EV charger"
    # Options: the night window must have both ends.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "limits"
    options = {"limit_w": 6000, "stale_after_s": 300}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, "night_start": "23:00:00"}
    )
    assert result["errors"] == {"base": "night_window"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**options, "night_start": "23:00:00", "night_end": "07:00:00", "night_limit_w": 9000},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert manager.settings.stale_after_s == 300
    (window,) = manager.engine.limits.tariff_windows
    assert window.cheap and window.limit_w == 9000
    assert manager.engine.limits.household_limit_w == 6000
    assert BOILER not in {s.entity_id for s in manager.sockets.values()}


@pytest.mark.parametrize("pause_ms", range(0, 20, 2))
async def test_sockets_added_back_to_back_all_get_their_entities(
    hass: HomeAssistant, pause_ms: int
) -> None:
    """A user (or a script) adding sockets faster than the entry reloads loses none of them.

    Each socket reloads the entry; one added while that reload is starting the manager must
    still be picked up. Reading the saved state takes a disk's time here (10 ms), and the
    sweep of pauses between additions crosses that window.
    """
    await setup_house(hass)
    entry = manager_entry(sockets=[])
    await setup_entry(hass, entry)
    read_from_memory = Store.async_load

    async def read_from_disk(store: Store[Any]) -> Any:
        await asyncio.sleep(0.01)
        return await read_from_memory(store)

    with patch.object(Store, "async_load", read_from_disk):
        for data in HOUSE_SOCKETS:
            hass.config_entries.async_add_subentry(
                entry,
                ConfigSubentry(
                    data=data["data"],
                    subentry_type=data["subentry_type"],
                    title=data["title"],
                    unique_id=data["unique_id"],
                ),
            )
            await asyncio.sleep(pause_ms / 1000)
        await hass.async_block_till_done()
    assert len(entry.runtime_data.sockets) == len(HOUSE_SOCKETS)
    for name in ("ev_charger", "boiler", "computer"):
        assert hass.states.get(f"select.{name}_colour") is not None, name
