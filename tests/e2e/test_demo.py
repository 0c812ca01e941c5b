"""`make demo` in a real browser: a household in Home Assistant and its utility, working together.

The tests run in file order and share one demo, one HA session and one operator session: log in
to Home Assistant, the meters on the Energy dashboard, a socket's colour changed, the leak alarm,
then the operator's DR event for the house's group and the load manager shedding the green
socket. Screenshots go to docs/img/ for the README.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from scripts.demo.ha_api import HomeAssistantApi
from scripts.demo.layout import SOCKETS, DemoEntities

from .conftest import DemoRun

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
UI_TIMEOUT_MS = 30_000
LEAK_TIMEOUT_S = 420.0
"""The backfill waits for the recorder's first five-minute statistics; then the leak is known."""
SHED_TIMEOUT_S = 60.0
STREET_TIMEOUT_S = 180.0
"""The head-end reads the demo street's 36 modules' month of hours after the demo started."""

ENTITIES = DemoEntities()
GREEN = next(s for s in SOCKETS if s.colour == "green")
YELLOW = next(s for s in SOCKETS if s.colour == "yellow")
WATER_LEAK = "binary_sensor.water_meter_10000100_2_water_leak"
GAS_LEAK = "binary_sensor.gas_meter_10000100_3_gas_leak"

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def api(demo: dict[str, Any]) -> HomeAssistantApi:
    client = HomeAssistantApi(demo["ha_url"])
    client.login(demo["username"], demo["password"])
    return client


def _state(api: HomeAssistantApi, entity_id: str) -> dict[str, Any]:
    return next(s for s in api.states() if s["entity_id"] == entity_id)


def _wait_state(
    api: HomeAssistantApi, entity_id: str, wanted: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state = _state(api, entity_id)
    while state["state"] != wanted:
        if time.monotonic() > deadline:
            pytest.fail(f"{entity_id} is {state['state']!r}, not {wanted!r}, after {timeout} s")
        time.sleep(0.2)
        state = _state(api, entity_id)
    return state


def test_log_in_to_home_assistant(ha_page: Page, demo: dict[str, Any]) -> None:
    page = ha_page
    page.goto(demo["ha_url"] + "/")
    page.get_by_role("textbox", name="Username").fill(demo["username"])
    page.get_by_role("textbox", name="Password").fill(demo["password"])
    page.keyboard.press("Enter")
    expect(page.get_by_text("Meters", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
    for card in ("Leak alarms", "Load manager", "Sockets"):
        expect(page.get_by_text(card, exact=True)).to_be_visible()
    expect(page.get_by_text("Electricity meter Energy", exact=True)).to_be_visible()


def test_meters_are_on_the_energy_dashboard(ha_page: Page, demo: dict[str, Any]) -> None:
    page = ha_page
    for tab, meters in (
        ("", ("Electricity meter Energy", "Heat")),
        ("/gas", ("Gas meter Gas",)),
        ("/water", ("Water meter Water",)),
    ):
        page.goto(demo["ha_url"] + "/config/energy" + tab)
        for meter in meters:
            expect(page.get_by_text(meter, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.goto(demo["ha_url"] + "/energy")
    expect(page.get_by_text("Energy distribution")).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.wait_for_timeout(3000)  # the charts draw after their statistics arrive
    page.screenshot(path=IMG / "demo-ha-energy.png")


def test_socket_colour_is_changed(
    ha_page: Page, demo: dict[str, Any], api: HomeAssistantApi
) -> None:
    page = ha_page
    page.goto(demo["ha_url"] + "/lovelace/home")
    select = page.get_by_label(f"{YELLOW.name} Colour")
    expect(select).to_be_visible(timeout=UI_TIMEOUT_MS)
    # A card re-rendered by a state change while its menu opens (the demo's meters report all
    # the time) can swallow the choice, as a person would see the menu close and choose again;
    # the third lost choice in a row fails the test.
    for attempt in range(3):
        select.click()
        page.get_by_role("menuitem", name="Red", exact=True).click()
        try:
            _wait_state(api, YELLOW.colour_select, "red", timeout=15)
            break
        except pytest.fail.Exception:
            if attempt == 2:
                raise


def test_leak_alarm_shows(ha_page: Page, demo: dict[str, Any], api: HomeAssistantApi) -> None:
    # The tap has dripped since yesterday; the demo backfills that day from the modules' hourly
    # counters once the recorder has statistics to continue from.
    _wait_state(api, WATER_LEAK, "on", timeout=LEAK_TIMEOUT_S)
    # the boiler's winter nights are heating, not a gas leak (the demo says gas heats the home)
    _wait_state(api, GAS_LEAK, "off", timeout=10)
    page = ha_page
    page.goto(demo["ha_url"] + "/lovelace/home")
    row = page.locator("hui-simple-entity-row, hui-toggle-entity-row, hui-generic-entity-row")
    leak = row.filter(has_text="Water leak")
    expect(leak.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(leak.first).to_contain_text(re.compile("Wet|Detected|Problem|On"))
    page.wait_for_timeout(1500)
    page.screenshot(path=IMG / "demo-ha-dashboard.png", full_page=True)


def test_operator_dr_event_sheds_the_green_socket(
    operator_page: Page, demo: dict[str, Any], api: HomeAssistantApi
) -> None:
    assert demo["seeded"], "the aggregator has no demo feeder (seed-demo)"
    assert demo["utility_entry"], "Home Assistant has no utility VEN entry"
    _wait_state(api, GREEN.switch, "on", timeout=10)
    page = operator_page
    page.goto(demo["ui_url"])
    page.locator("#login-user").fill(demo["operator"]["username"])
    page.locator("#login-password").fill(demo["operator"]["password"])
    page.locator("#login-submit").click()
    street = page.locator(f'#tree a[data-node="{demo["operator"]["street"]}"]')
    expect(street).to_be_visible(timeout=UI_TIMEOUT_MS)
    street.click()
    expect(page.locator("#panel-balance")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator("#chart-balance canvas").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.wait_for_timeout(1000)  # the chart's last draw
    page.locator("#chart-balance").screenshot(path=IMG / "demo-operator-balance.png")
    page.locator("#dr-level").select_option("1")
    page.locator("#dr-minutes").fill("30")
    clicked = time.time()
    page.locator("#dr-create").click()
    expect(page.locator("#dr-events tbody tr").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    state = _wait_state(api, GREEN.switch, "off", timeout=SHED_TIMEOUT_S)
    shed_at = datetime.fromisoformat(state["last_changed"]).timestamp()
    print(
        f"\nDR event created in the operator UI → green socket off in Home Assistant: "
        f"{shed_at - clicked:.2f} s"
    )
    assert _state(api, ENTITIES.lm_shedding)["state"] == "on"
    # Red never goes off; yellow (now red, too) stays on at level 1.
    assert _state(api, SOCKETS[0].switch)["state"] == "on"
    assert _state(api, YELLOW.switch)["state"] == "on"


def test_the_demo_street_is_read_from_the_field(operator_page: Page, demo: dict[str, Any]) -> None:
    """The demo street's concentrator is online on the operator page with its meters mapped to
    houses of the feeder, and the feeder's top suspect is a thief the street meters."""
    assert demo["street"], "the demo has no street concentrator"
    page = operator_page
    page.locator("#show-concentrators").click()
    row = page.locator('#concentrators tr[data-concentrator="demo-street"]')
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(row.locator("td").nth(1)).to_have_text("online", timeout=UI_TIMEOUT_MS)
    expect(row.locator("td").nth(3)).to_have_text("36")
    expect(row.locator("td").nth(4)).to_contain_text("108")
    # the head-end has read the modules' month (every meter has a last hour) within a few polls
    deadline = time.monotonic() + STREET_TIMEOUT_S
    while True:
        page.locator('button[data-meters="demo-street"]').click()
        expect(page.locator("#concentrator-meters tbody tr")).to_have_count(108)
        last = page.locator("#concentrator-meters tbody tr td:nth-child(4)").all_inner_texts()
        if "–" not in last:
            break
        assert time.monotonic() < deadline, f"{last.count('–')} meters not read yet"
        page.wait_for_timeout(2000)
    mapped = page.locator("#concentrator-meters tbody tr", has_text="subscriber")
    expect(mapped).to_have_count(len(demo["street_meters"]))
    page.screenshot(path=IMG / "demo-operator-concentrators.png", full_page=False)
    page.locator(f'#tree a[data-node="{demo["operator"]["street"]}"]').click()
    first = page.locator("#suspects tbody tr").first
    expect(first).to_be_visible(timeout=UI_TIMEOUT_MS)
    # the street meters the feeder's thieves first; the top suspect is one of them, from the field
    top = page.locator("#suspects tbody tr td:first-child").all_inner_texts()[0]
    assert top in demo["street_meters"][:2], (top, demo["street_meters"][:2])


def test_demo_stops_cleanly(demo_run: DemoRun, demo: dict[str, Any]) -> None:
    assert demo_run.stop() == 0
    assert demo_run.said("stopping")
