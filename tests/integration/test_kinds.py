"""The registry of entry kinds as Home Assistant meets it: every kind reachable from the menu,
every platform it names served by a top-level module, and an entry of a kind this version does
not know failing with a reason instead of being taken for a concentrator."""

from __future__ import annotations

import importlib
import logging

import pytest
from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balance.const import CONF_ENTRY_TYPE, DOMAIN
from custom_components.balance.kinds import KINDS


async def test_the_add_menu_offers_every_kind(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [kind.key for kind in KINDS]
    assert result["menu_options"] == ["concentrator", "load_manager", "existing_meters", "utility"]


def test_every_platform_a_kind_names_has_a_top_level_module() -> None:
    """Home Assistant loads ``custom_components.balance.<platform>``; a kind whose platform had
    no such module would never get its entities."""
    for kind in KINDS:
        for platform in kind.platforms:
            module = importlib.import_module(f"custom_components.balance.{platform.value}")
            assert callable(module.async_setup_entry), (kind.key, platform)


async def test_an_entry_of_an_unknown_kind_fails_with_a_reason_and_can_be_deleted(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, title="From a newer version", data={CONF_ENTRY_TYPE: "heat_pump"}
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None and "heat_pump" in entry.reason
    caplog.clear()
    await hass.config_entries.async_remove(entry.entry_id)
    assert hass.config_entries.async_get_entry(entry.entry_id) is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # nothing to clean up
