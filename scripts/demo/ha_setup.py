"""BALANCE set up in the running Home Assistant, through the flows a user would click through.

The concentrator (the simulator), the meters' current readings (so that their backlog lands in
the statistics), a load manager over the home's power with the three sockets as subentries, and
the utility VEN where the integration offers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .aggregator import Aggregator
from .ha_api import HomeAssistantApi, HomeAssistantError
from .household import Simulator
from .layout import HEAT_METERS, HOME_METERS, SOCKETS, DemoEntities

HOUSEHOLD_LIMIT_W = 7000
BACKFILL_DAYS = 44
"""Modules keep 45 days; a day less keeps the request inside what the integration accepts."""


@dataclass(frozen=True, slots=True)
class MeterReading:
    meter: str
    kind: str
    constant: float
    reading: float
    name: str


# What the meters show today, as a user would read them off the dials: larger than anything the
# 45 days of backlog used, so every backfilled hour has a positive total.
# Options name a meter by its 0-based input ("10000100-0"); entity ids count inputs from 1.
READINGS = (
    MeterReading(f"{HOME_METERS}-0", "electricity", 1000, 12_345.6, "Electricity meter"),
    MeterReading(f"{HOME_METERS}-1", "water", 1000, 456.78, "Water meter"),
    MeterReading(f"{HOME_METERS}-2", "gas", 100, 2_345.67, "Gas meter"),
    MeterReading(f"{HEAT_METERS}-2", "heat", 1000, 9_876.5, "Heat meter"),
)


@dataclass(slots=True)
class HomeSetup:
    concentrator_entry: str = ""
    load_manager_entry: str = ""
    utility_entry: str | None = None
    backfilled: dict[str, int] = field(default_factory=dict)
    """Hours imported per module; empty until the recorder had statistics to continue from."""


def configure(
    api: HomeAssistantApi,
    simulator: Simulator,
    aggregator: Aggregator,
    entities: DemoEntities,
    say: Callable[[str], None],
) -> HomeSetup:
    setup = HomeSetup()
    created = api.config_flow(
        "balance",
        [{"next_step_id": "concentrator"}, {"device": "manual"}, {"url": simulator.url}],
    )
    setup.concentrator_entry = created["result"]["entry_id"]
    api.wait_for_states(entities.concentrator_ids(), timeout=90)
    for reading in READINGS:
        # The reload an options change starts is scheduled, not awaited: let it begin first.
        time.sleep(1.0)
        api.wait_loaded(setup.concentrator_entry, timeout=60)
        api.options_flow(
            setup.concentrator_entry,
            [
                {"meter": reading.meter},
                {
                    "kind": reading.kind,
                    "constant": reading.constant,
                    "initial_reading": reading.reading,
                    "name": reading.name,
                },
            ],
        )
    # The demo home's boiler burns gas through winter nights: without this (and with no outdoor
    # temperature to tell the heating season) those nights would read as a gas leak.
    time.sleep(1.0)
    api.wait_loaded(setup.concentrator_entry, timeout=60)
    api.options_flow(
        setup.concentrator_entry,
        [
            {"meter": "analytics"},
            {"next_step_id": "analytics_settings"},
            {"gas_heats_home": True},
        ],
    )
    # Each options change reloads the entry, scheduled rather than awaited: let the last reload
    # begin and end before anything else leans on the concentrator's entities (the load manager
    # reads its power sensor), then wait until the meters are back.
    time.sleep(1.0)
    api.wait_loaded(setup.concentrator_entry, timeout=60)
    api.wait_for_states(entities.concentrator_ids(), timeout=90)
    api.wait_for_states(entities.analytics_ids(), timeout=30, available=False)
    say(f"Home Assistant: concentrator {simulator.concentrator} set up, meter readings entered")
    created = api.config_flow(
        "balance",
        [
            {"next_step_id": "load_manager"},
            {
                "name": "Load manager",
                "power_entity": entities.electricity_power,
                "limit_w": HOUSEHOLD_LIMIT_W,
            },
        ],
    )
    setup.load_manager_entry = created["result"]["entry_id"]
    for socket in SOCKETS:
        api.subentry_flow(
            setup.load_manager_entry,
            "socket",
            [
                {
                    "switch_entity": socket.switch,
                    "name": socket.name,
                    "colour": socket.colour,
                    "power_w": socket.power_w,
                    "max_off_min": 15,
                    "priority": 0,
                }
            ],
        )
    api.wait_for_states(entities.load_manager_ids(), timeout=60, available=False)
    say(f"Home Assistant: load manager with {len(SOCKETS)} sockets (red, yellow, green)")
    if "utility" in api.menu_options("balance"):
        created = api.config_flow(
            "balance",
            [
                {"next_step_id": "utility"},
                {
                    "url": aggregator.url,
                    "client_id": aggregator.ven_client_id,
                    "client_secret": aggregator.ven_client_secret,
                },
            ],
        )
        setup.utility_entry = created["result"]["entry_id"]
        say(f"Home Assistant: VEN of the aggregator at {aggregator.url}")
    return setup


def try_backfill(api: HomeAssistantApi, setup: HomeSetup) -> bool:
    """Ask for the home meters' backlog; True once every module's hours are in the statistics.

    The recorder compiles a meter's first statistics row within five minutes of its first state,
    and the import continues from that row: until then the integration imports nothing.
    """
    start = (datetime.now(UTC) - timedelta(days=BACKFILL_DAYS)).isoformat()
    for module in (HOME_METERS, HEAT_METERS):
        if setup.backfilled.get(module):
            continue
        try:
            answer = api.call(
                "balance",
                "fetch_backlog",
                {"config_entry_id": setup.concentrator_entry, "module": module, "start": start},
                response=True,
            )
        except HomeAssistantError:
            return False
        hours = int(answer.get("service_response", {}).get("imported_hours", 0))
        if hours:
            setup.backfilled[module] = hours
    return len(setup.backfilled) == 2


def wait_backfill(api: HomeAssistantApi, setup: HomeSetup, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not try_backfill(api, setup):
        if time.monotonic() > deadline:
            return False
        time.sleep(10)
    return True
