"""The head-end on the operator page, in Debian's headless chromium at desktop and phone widths:
the concentrators with their status and counts, a concentrator's meters with their mapping, VEE
rejections and estimates, field alarms in the one alarm list, an admin adding and removing a
concentrator; and the API under it (scopes, filters, estimates marked in balances and exports).

The concentrator is the real simulator on a loopback socket, read by a real worker; simulated time
is fixed (2026-01-01), and the browser's clock is set to it, so nothing depends on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from balance_aggregator.services.headend import ConcentratorWorker, WorkerSettings, estimate_gaps
from balance_aggregator.storage import ReadingRow, Storage
from balance_aggregator.storage.headend import AlarmChange, Batch, Concentrator, VeeFinding
from balance_aggregator.storage.headend import meter_name as name_of
from balance_grid.hierarchy import GridMeter

from .conftest import RunningVtn
from .headend_harness import HOUR, START, SimStreet, street, until
from .operator_helpers import PASSWORD, browser, seed_network
from .test_operator_ui import chromium  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
START_HOUR = int(START // HOUR)
SINCE_HOUR = START_HOUR - 6
PROCESS = "ui-test"
SETTINGS = WorkerSettings(
    sync_time=False, catchup_s=3600, flush_s=0.05, reconnect_min_s=0.05, reconnect_max_s=0.2
)
SHOTS = Path("/tmp/balance-operator-shots")


@dataclass
class Field:
    sim: SimStreet
    mapped: str  # the head-end meter mapped to grid meter "hm" on house h2
    spiked: str  # a meter with one VEE rejection
    estimated: str  # the mapped meter has 3 estimated hours before the concentrator's first


@pytest.fixture
async def field(vtn: RunningVtn) -> AsyncIterator[Field]:
    """The test network (district d1, street s1 …) with concentrator c1 on street s1, read up to
    START_HOUR; one meter mapped to a subscriber of house h2, estimates, a rejection, alarms."""
    storage = vtn.storage
    await seed_network(storage, hours=48, start=SINCE_HOUR * HOUR - 24 * HOUR)
    sim = street(modules=3, home=False)
    await sim.up()
    serials = sim.meter_serials()
    mapped, spiked = name_of(serials[0], 0), name_of(serials[1], 0)
    await storage.grid().import_hierarchy(
        [], [GridMeter("hm", "h2", "subscriber", "A", "dmesh", mapped)]
    )
    store = storage.headend()
    assert await store.add_concentrator(Concentrator("c1", sim.url, "s1", 0.0, SINCE_HOUR))
    assert await store.claim(PROCESS, 1.0, 10**12, 1) == ["c1"]
    worker = ConcentratorWorker(
        store,
        (await store.list_concentrators())[0],
        PROCESS,
        dataclasses.replace(SETTINGS, host_clock=sim.clock.now),
        clock=lambda: START,
    )
    task = asyncio.get_running_loop().create_task(worker.run())
    try:

        async def caught_up() -> bool:
            meters = await store.list_meters("c1")
            return len(meters) == 9 and all(m.counter_hour == START_HOUR for m in meters)

        await until(caught_up)
        meter = next(
            m for m in await store.list_meters("c1") if name_of(m.module_serial, 0) == mapped
        )
        assert await estimate_gaps(storage, meter, SINCE_HOUR - 3, SINCE_HOUR, "test") == 3
        await store.write_batch(
            PROCESS,
            "c1",
            Batch(findings=[VeeFinding(serials[1], 0, "spike", "99 KWH in 60 s", START)]),
            START,
        )
        for change in (
            AlarmChange(serials[2], 1, "tamper_magnet", True, START - 600, "major"),
            AlarmChange(serials[2], 1, "tamper_magnet", False, START - 300),
            AlarmChange(serials[2], -1, "flood", True, START - 60, "critical"),
        ):
            await store.set_alarms("c1", [change])
        yield Field(sim, mapped, spiked, mapped)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sim.down()


async def _login(page: Page, base_url: str, username: str) -> None:
    # the browser's clock is the simulated one: the page's windows are about the field's hours
    await page.clock.set_fixed_time(datetime.fromtimestamp(START + HOUR, UTC))
    await page.goto(base_url + "/ui/")
    await page.fill("#login-user", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_selector("#app-view:not([hidden])")


async def test_the_concentrators_view_at_desktop_width(
    vtn: RunningVtn,
    field: Field,
    chromium: Browser,  # noqa: F811
) -> None:
    SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 - one mkdir before the browser starts
    page = await chromium.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await _login(page, vtn.base_url, "admin")
    await page.click("#show-concentrators")
    row = page.locator('#concentrators tr[data-concentrator="c1"]')
    await row.wait_for()
    text = await row.inner_text()
    assert "online" in text and "Main" in text  # the street s1 is called Main
    cells = await row.locator("td").all_inner_texts()
    assert cells[3] == "3"  # modules
    assert cells[4].startswith("9")  # meters, the unassigned ones counted
    assert "unassigned" in cells[4]
    assert cells[5] == "1"  # one VEE rejection
    assert cells[2].startswith("2026-01-01")  # last heard, the simulated time
    assert await page.locator("#group-view").is_hidden()

    await page.click('button[data-meters="c1"]')
    await page.wait_for_selector("#concentrator-meters tbody tr")
    assert await page.locator("#concentrator-meters tbody tr").count() == 9
    mapped = await page.inner_text(f'#concentrator-meters tr[data-meter="{field.mapped}"]')
    assert "subscriber hm (h2)" in mapped and "3 (estimates)" in mapped
    spiked = await page.inner_text(f'#concentrator-meters tr[data-meter="{field.spiked}"]')
    assert "unassigned" in spiked and "spike: 1" in spiked
    await page.screenshot(path=str(SHOTS / "concentrators-desktop.png"), full_page=False)

    # field alarms are in the one alarm list, with the balance's; filters apply to both
    alarms = page.locator("#alarms tbody tr")
    await page.locator('#alarms tr[data-kind="flood"]').wait_for()
    assert await page.locator('#alarms tr[data-source="field"]').count() >= 3
    flood = await page.inner_text('#alarms tr[data-kind="flood"]')
    assert "field" in flood and "Main" in flood and "open" in flood
    await page.select_option("#alarm-kind", "tamper_magnet")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#alarms tbody tr')]"
        ".every((r) => r.dataset.kind === 'tamper_magnet')"
    )
    assert await alarms.count() == 1
    assert "2026-01-01 00:25" in await alarms.first.inner_text()  # cleared, not open
    await page.check("#alarm-open")
    await page.wait_for_function("() => !document.querySelector('#alarms tbody tr')")
    await page.select_option("#alarm-kind", "")
    await page.select_option("#alarm-severity", "critical")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#alarms tbody tr')]"
        ".every((r) => r.dataset.severity === 'critical')"
    )
    await page.locator('#alarms tr[data-kind="flood"]').wait_for()

    # an admin adds a concentrator (offline: nothing listens there) and removes it
    await page.fill("#concentrator-name", "street-9")
    await page.fill("#concentrator-url", "socket://127.0.0.1:9")
    await page.fill("#concentrator-node", "s1")
    await page.click("#concentrator-add")
    added = page.locator('#concentrators tr[data-concentrator="street-9"]')
    await added.wait_for()
    assert "offline" in await added.inner_text()
    await page.fill("#concentrator-name", "street-9b")
    await page.fill("#concentrator-url", "socket://127.0.0.1:9")
    await page.click("#concentrator-add")
    await page.wait_for_selector("#concentrator-error:not(:empty)")
    assert "exists" in await page.inner_text("#concentrator-error")
    await page.click('button[data-remove="street-9"]')
    await added.wait_for(state="detached")

    # the group's balance says that estimates are summed into it
    await page.click('#tree a[data-node="s1"]')
    await page.wait_for_selector("#node-estimated")
    assert "3 meter-hours in this window are estimates (hm)" in await page.inner_text(
        "#node-estimated"
    )
    assert await page.locator("#concentrators-view").is_hidden()
    await page.screenshot(path=str(SHOTS / "group-desktop.png"), full_page=False)
    assert errors == []


async def test_the_concentrators_view_at_phone_width(
    vtn: RunningVtn,
    field: Field,
    chromium: Browser,  # noqa: F811
) -> None:
    SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 - one mkdir before the browser starts
    page = await chromium.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    # a district operator sees the concentrator of a street in their district, no admin form
    await _login(page, vtn.base_url, "op-d1")
    await page.click("#show-concentrators")
    row = page.locator('#concentrators tr[data-concentrator="c1"]')
    await row.wait_for()
    assert await page.locator("#concentrator-form").is_hidden()
    assert await page.locator('button[data-remove="c1"]').count() == 0
    await page.click('button[data-meters="c1"]')
    await page.wait_for_selector("#concentrator-meters tbody tr")
    # one column: the page is no wider than the phone, wide tables scroll inside their panel
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
    box = await page.locator("#concentrators-view").bounding_box()
    assert box is not None and box["width"] <= 390
    await page.screenshot(path=str(SHOTS / "concentrators-phone.png"), full_page=False)
    assert errors == []
    # a viewer of district d2 does not see it
    other = await chromium.new_page(viewport={"width": 390, "height": 844})
    await _login(other, vtn.base_url, "viewer-d2")
    await other.click("#show-concentrators")
    await other.wait_for_selector("#concentrators-empty:not([hidden])")


async def test_the_api_scopes_merges_and_marks_estimates(vtn: RunningVtn, field: Field) -> None:
    d2 = browser(vtn.base_url)
    try:
        assert await d2.login("viewer-d2") == 200
        status, body = await d2.call("GET", "/operator/api/concentrators")
        assert (status, body) == (200, {"concentrators": []})
        status, _ = await d2.call("GET", "/operator/api/concentrators/c1/meters")
        assert status == 404
        status, body = await d2.call("GET", "/operator/api/headend/alarms")
        assert body == {"alarms": []}
    finally:
        await d2.close()
    op = browser(vtn.base_url)
    try:
        assert await op.login("op-d1") == 200
        window = "start=2025-12-31T00:00:00Z&end=2026-01-01T02:00:00Z"
        _, body = await op.call("GET", f"/operator/api/alarms?{window}&open=1")
        kinds = {(a["source"], a["kind"]) for a in body["alarms"]}
        assert ("field", "flood") in kinds and ("field", "unassigned_meter") in kinds
        assert ("field", "tamper_magnet") not in kinds
        assert all(a["open"] for a in body["alarms"])
        _, body = await op.call("GET", f"/operator/api/alarms?{window}&kind=tamper_magnet")
        [magnet] = body["alarms"]
        assert magnet["cleared"] == "2026-01-01T00:25:00Z" and magnet["node"] == "s1"
        assert magnet["meter"] == name_of(field.sim.meter_serials()[2], 1)
        # the open ones come first
        _, body = await op.call("GET", f"/operator/api/alarms?{window}")
        opened = [a["open"] for a in body["alarms"]]
        assert opened == sorted(opened, reverse=True)
        _, balance = await op.call("GET", f"/operator/api/nodes/s1/balance?{window}")
        est = dict(zip(balance["t"], balance["estimated"], strict=True))
        assert [t // HOUR for t, n in est.items() if n] == list(range(SINCE_HOUR - 3, SINCE_HOUR))
        assert balance["estimated_meters"] == ["hm"]
        _, prof = await op.call("GET", f"/operator/api/nodes/s1/profiles?{window}&meters=hm,m3")
        assert [h // HOUR for h in prof["estimated"]["hm"]] == list(
            range(SINCE_HOUR - 3, SINCE_HOUR)
        )
        assert "m3" not in prof["estimated"]
    finally:
        await op.close()


async def test_the_consumption_export_counts_estimates(vtn: RunningVtn) -> None:
    storage: Storage = vtn.storage
    bl = await vtn.bl()
    _, ven = await vtn.ven(bl, "house-1", ["street-1"])
    h0 = START_HOUR * HOUR
    await storage.ingest_readings(
        [
            ReadingRow(ven["id"], "m", "electricity", "KWH", h0, 1.0, "r1"),
            ReadingRow(ven["id"], "n", "electricity", "KWH", h0, 2.0, "estimate:x"),
            ReadingRow(ven["id"], "m", "electricity", "KWH", h0 + HOUR, 1.0, "r1"),
        ]
    )
    headers = {"Authorization": f"Bearer {await bl.token()}"}
    params = {
        "target": "street-1",
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T03:00:00Z",
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(
            vtn.base_url + "/balance/consumption",
            params=params | {"format": "csv"},
            headers=headers,
        ) as r:
            lines = (await r.text()).strip().splitlines()
        async with http.get(
            vtn.base_url + "/balance/consumption", params=params, headers=headers
        ) as r:
            rows = await r.json()
    assert lines[0] == "target,kind,unit,hour,meters,total,estimated"
    assert [line.rsplit(",", 3)[1:] for line in lines[1:]] == [["2", "3.0", "1"], ["1", "1.0", "0"]]
    assert [r["estimated"] for r in rows] == [1, 0]
