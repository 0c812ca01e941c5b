"""The blueprints in blueprints/automation/balance/ load through Home Assistant's blueprint
validation, and work end to end with a load manager."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .analytics.test_analytics import START, TOTAL, WATER, advance, water_entry
from .conftest import setup_entry
from .load_manager.helpers import BOILER, EV, is_on, manager_entry, set_power, setup_house

SOURCE = Path(__file__).parents[2] / "blueprints" / "automation" / "balance"
NAMES = sorted(p.name for p in SOURCE.glob("*.yaml"))


@pytest.fixture
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A config directory holding the blueprints as a user would install them."""
    target = tmp_path / "blueprints" / "automation" / "balance"
    shutil.copytree(SOURCE, target)
    hass.config.config_dir = str(tmp_path)
    return tmp_path


def test_there_are_blueprints() -> None:
    assert set(NAMES) >= {
        "away_consumption_notify.yaml",
        "dlm_shedding_notify.yaml",
        "forecast_over_budget.yaml",
        "green_at_night_tariff.yaml",
        "leak_close_valve.yaml",
        "power_cut_notify.yaml",
        "tamper_notify.yaml",
    }


@pytest.mark.parametrize("name", NAMES)
async def test_blueprint_is_valid(hass: HomeAssistant, config_dir: Path, name: str) -> None:
    assert await async_setup_component(hass, "automation", {})
    blueprint = await async_get_blueprints(hass).async_get_blueprint(f"balance/{name}")
    assert blueprint.domain == "automation"
    assert blueprint.validate() is None
    assert blueprint.metadata["source_url"].endswith(name)


async def test_shedding_notifications_end_to_end(hass: HomeAssistant, config_dir: Path) -> None:
    await setup_house(hass)
    assert await async_setup_component(
        hass, "input_text", {"input_text": {"message": {"max": 255}}}
    )
    entry = manager_entry()
    await setup_entry(hass, entry)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "balance/dlm_shedding_notify.yaml",
                    "input": {
                        "shedding": "binary_sensor.load_manager_shedding",
                        "notify": [
                            {
                                "action": "input_text.set_value",
                                "target": {"entity_id": "input_text.message"},
                                "data": {
                                    "value": "{{ event }}|{{ held | join(',') }}|{{ reason }}"
                                },
                            }
                        ],
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()
    await set_power(hass, 7900)
    message = hass.states.get("input_text.message")
    assert message is not None
    event, held, reason = message.state.split("|")
    assert (event, held) == ("started", "EV charger")
    assert reason.startswith("EV charger off: 7.9 kW > 7.0 kW limit")
    await hass.services.async_call(
        "balance", "restore_all", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await hass.async_block_till_done()
    message = hass.states.get("input_text.message")
    assert message is not None and message.state.startswith(
        "ended||EV charger back on: restore all was asked for"
    )


async def test_green_loads_at_night_end_to_end(
    hass: HomeAssistant, config_dir: Path, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(datetime(2026, 1, 14, 22, 59, 0, tzinfo=dt_util.get_default_time_zone()))
    assert await async_setup_component(hass, "homeassistant", {})
    await setup_house(hass)
    for entity_id in (EV, BOILER):
        await hass.services.async_call(
            "input_boolean", "turn_off", {"entity_id": entity_id}, blocking=True
        )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "balance/green_at_night_tariff.yaml",
                    "input": {"green_loads": [EV], "off_at_end": True},
                }
            }
        },
    )
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=61))  # time triggers fire within the second
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()
    assert is_on(hass, EV) and not is_on(hass, BOILER)
    freezer.tick(timedelta(hours=8))
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()
    assert not is_on(hass, EV)
    # Detach the time triggers, as Home Assistant does on stop.
    await hass.services.async_call("automation", "turn_off", {"entity_id": "all"}, blocking=True)


async def test_consumption_while_away_end_to_end(
    hass: HomeAssistant, config_dir: Path, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(START)
    assert await async_setup_component(
        hass, "input_text", {"input_text": {"message": {"max": 255}}}
    )
    hass.states.async_set(WATER, "100", TOTAL)
    await setup_entry(hass, water_entry())
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "balance/away_consumption_notify.yaml",
                    "input": {
                        "away_event": "event.flat_12_consumption_while_away",
                        "notify": [
                            {
                                "action": "input_text.set_value",
                                "target": {"entity_id": "input_text.message"},
                                "data": {"value": "{{ carrier }}|{{ (used * 1000) | round }}"},
                            }
                        ],
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.flat_12_away_mode"}, blocking=True
    )
    await advance(hass, freezer, 100.001)  # a stray litre is noise
    message = hass.states.get("input_text.message")
    assert message is not None and message.state == "unknown"
    await advance(hass, freezer, 100.021)  # twenty litres more is somebody at the tap
    message = hass.states.get("input_text.message")
    assert message is not None and message.state == "water|21"
