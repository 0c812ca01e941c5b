"""The operator page in Debian's headless chromium: log in, open a group, a chart is drawn, a DR
event is created from the console and reaches a VEN; a viewer gets no DR console."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from .conftest import RunningVtn
from .operator_helpers import PASSWORD, seed_network

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)

# counts the canvas pixels that are neither transparent nor white: a drawn line, not an empty box
_INKED_PIXELS = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && (data[i] < 230 || data[i + 1] < 230 || data[i + 2] < 230)) inked++;
  }
  return inked;
}"""


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - one stat before the browser starts
        pytest.fail("Debian's chromium is part of the test environment: apt-get install chromium")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        await browser.close()


async def _login(page: Page, base_url: str, username: str) -> None:
    await page.goto(base_url + "/ui/")
    await page.fill("#login-user", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_selector("#app-view:not([hidden])")
    assert await page.locator("#login-view").is_hidden()


async def test_operator_opens_a_group_and_runs_dr(vtn: RunningVtn, chromium: Browser) -> None:
    now_hour = int(time.time()) // 3600 * 3600
    await seed_network(vtn.storage, hours=72, start=now_hour - 72 * 3600)
    bl = await vtn.bl()
    ven, _ = await vtn.ven(bl, "house-on-feeder-1", ["feeder-1"])
    page = await chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await _login(page, vtn.base_url, "op-d1")
    assert "op-d1 (operator)" in await page.inner_text("#whoami")
    await page.click('#tree a[data-node="s1"]')
    canvas = await page.wait_for_selector("#chart-balance canvas")
    assert canvas is not None
    assert await canvas.evaluate(_INKED_PIXELS) > 200
    assert "DR group feeder-1" in await page.inner_text("#node-meta")
    # the schematic map draws the scope's nodes, no tiles from anywhere
    assert await page.locator("#map svg circle").count() == 4  # d1, s1, h1, h2
    await page.select_option("#dr-level", "2")
    await page.fill("#dr-minutes", "45")
    await page.click("#dr-create")
    row = await page.wait_for_selector("#dr-events tbody tr")
    assert row is not None and "Main: shed level 2" in await row.inner_text()
    events = await ven.events()
    assert len(events) == 1 and events[0]["intervals"][0]["payloads"][0]["values"] == [2]
    assert events[0]["intervalPeriod"]["duration"] == "PT45M"
    assert errors == []


async def test_a_viewer_has_no_dr_console(vtn: RunningVtn, chromium: Browser) -> None:
    await seed_network(vtn.storage, hours=24, start=int(time.time()) // 3600 * 3600 - 86400)
    page = await chromium.new_page()
    await _login(page, vtn.base_url, "viewer-d2")
    assert await page.locator("#tree a").count() == 2  # d2 and h3 only
    assert await page.locator("#panel-users").is_hidden()
    # a group folds and opens again without asking the server twice
    tree_requests: list[str] = []
    page.on("request", lambda r: tree_requests.append(r.url) if "/tree" in r.url else None)
    await page.click('#tree button[data-toggle="d2"]')
    assert await page.locator('#tree a[data-node="h3"]').is_hidden()
    await page.click('#tree button[data-toggle="d2"]')
    assert await page.locator('#tree a[data-node="h3"]').is_visible()
    assert tree_requests == []
    await page.click('#tree a[data-node="h3"]')
    await page.wait_for_selector("#chart-balance canvas")
    assert await page.locator("#dr-form").is_hidden()
    # a wrong password is told, not crashed on
    other = await chromium.new_page()
    await other.goto(vtn.base_url + "/ui/")
    await other.fill("#login-user", "viewer-d2")
    await other.fill("#login-password", "not the password")
    await other.click("#login-submit")
    await other.wait_for_selector("#login-error:not(:empty)")
    assert "wrong username or password" in await other.inner_text("#login-error")


async def test_an_admin_gives_a_colleague_a_login(vtn: RunningVtn, chromium: Browser) -> None:
    await seed_network(vtn.storage, hours=24, start=int(time.time()) // 3600 * 3600 - 86400)
    page = await chromium.new_page()
    await _login(page, vtn.base_url, "admin")
    await page.wait_for_selector("#users tbody tr")
    await page.fill("#user-name", "field-engineer")
    await page.select_option("#user-role", "operator")
    await page.fill("#user-scope", "d1")
    await page.click("#user-save")
    await page.wait_for_selector("#user-result:not(:empty)")
    shown = await page.inner_text("#user-result")
    password = shown.rsplit(": ", 1)[1]
    assert await page.locator("#users tbody tr", has_text="field-engineer").count() == 1
    # the colleague logs in with the password shown once, and sees district d1 only
    colleague = await chromium.new_page()
    await colleague.goto(vtn.base_url + "/ui/")
    await colleague.fill("#login-user", "field-engineer")
    await colleague.fill("#login-password", password)
    await colleague.click("#login-submit")
    await colleague.wait_for_selector("#tree a")
    assert "field-engineer (operator)" in await colleague.inner_text("#whoami")
    assert await colleague.locator('#tree a[data-node="d2"]').count() == 0
    # a scope that does not exist is refused with the reason, on the page
    await page.fill("#user-name", "someone")
    await page.fill("#user-scope", "atlantis")
    await page.click("#user-save")
    await page.wait_for_selector("#user-error:not(:empty)")
    assert "atlantis" in await page.inner_text("#user-error")
    await page.click('button[data-delete-user="field-engineer"]')
    await page.wait_for_selector('button[data-delete-user="field-engineer"]', state="detached")
