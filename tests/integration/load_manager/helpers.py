"""A house for the load manager tests: a power sensor you set and input_boolean sockets."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balance.const import (
    CONF_COLOUR,
    CONF_CONTRACT_W,
    CONF_ENTRY_TYPE,
    CONF_LIMIT_W,
    CONF_MAX_OFF_MIN,
    CONF_NIGHT_DELAY_MIN,
    CONF_POWER_ENTITY,
    CONF_POWER_W,
    CONF_PRIORITY,
    CONF_SWITCH_ENTITY,
    DOMAIN,
    ENTRY_TYPE_LOAD_MANAGER,
    SUBENTRY_SOCKET,
)

POWER = "sensor.house_power"
EV = "input_boolean.ev_charger"
BOILER = "input_boolean.boiler"
PC = "input_boolean.computer"
MANAGER = "load_manager"


async def setup_house(hass: HomeAssistant, unit: str = "W") -> None:
    """input_number.house is what the meter shows; sensor.house_power is the power sensor."""
    assert await async_setup_component(
        hass,
        "input_number",
        {"input_number": {"house": {"min": 0, "max": 100000, "step": 1, "initial": 1000}}},
    )
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "ev_charger": {"initial": True},
                "boiler": {"initial": True},
                "computer": {"initial": True},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "sensor": [
                        {
                            "name": "House power",
                            "unique_id": "house_power",
                            "state": "{{ states('input_number.house') }}",
                            "unit_of_measurement": unit,
                            "device_class": "power",
                            "state_class": "measurement",
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()


def socket(
    socket_id: str, entity_id: str, title: str, colour: str, power_w: float, **extra: Any
) -> ConfigSubentryDataWithId:
    data: dict[str, Any] = {
        CONF_SWITCH_ENTITY: entity_id,
        CONF_COLOUR: colour,
        CONF_POWER_W: power_w,
        CONF_MAX_OFF_MIN: 15,
        CONF_PRIORITY: 0,
        CONF_NIGHT_DELAY_MIN: 0,
        **extra,
    }
    return ConfigSubentryDataWithId(
        data=data,
        subentry_id=socket_id,
        subentry_type=SUBENTRY_SOCKET,
        title=title,
        unique_id=entity_id,
    )


HOUSE_SOCKETS = [
    socket("ev", EV, "EV charger", "green", 3000),
    socket("boiler", BOILER, "Boiler", "yellow", 2000),
    socket("pc", PC, "Computer", "red", 500),
]


def manager_entry(
    sockets: list[ConfigSubentryDataWithId] | None = None, **options: Any
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Load manager",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_LOAD_MANAGER, CONF_POWER_ENTITY: POWER},
        options={CONF_LIMIT_W: 7000, CONF_CONTRACT_W: 11000, **options},
        unique_id=f"{ENTRY_TYPE_LOAD_MANAGER}-{POWER}",
        subentries_data=HOUSE_SOCKETS if sockets is None else sockets,
    )


async def set_power(hass: HomeAssistant, watts: float) -> None:
    await hass.services.async_call(
        "input_number",
        "set_value",
        {"entity_id": "input_number.house", "value": watts},
        blocking=True,
    )
    await hass.async_block_till_done()


def is_on(hass: HomeAssistant, entity_id: str) -> bool:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state == "on"
