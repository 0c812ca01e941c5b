"""The operator API on both databases: logins, roles, scopes, CSRF, balances, DR, imports, users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from balance_aggregator.grid.model import OperatorUser
from balance_aggregator.operator.auth import hash_password

from .conftest import RunningVtn
from .operator_helpers import PASSWORD, Browser, browser, seed_network
from .test_grid_storage import H0

WINDOW = {
    "start": datetime.fromtimestamp(H0, UTC).isoformat(),
    "end": (datetime.fromtimestamp(H0, UTC) + timedelta(days=2)).isoformat(),
}


@pytest.fixture
async def web(vtn: RunningVtn) -> AsyncIterator[tuple[RunningVtn, list[Browser]]]:
    await seed_network(vtn.storage)
    opened: list[Browser] = []
    yield vtn, opened
    for b in opened:
        await b.close()


async def _as(web: tuple[RunningVtn, list[Browser]], username: str) -> Browser:
    vtn, opened = web
    b = browser(vtn.base_url)
    opened.append(b)
    assert await b.login(username) == 200
    return b


async def test_login_and_session(web: tuple[RunningVtn, list[Browser]]) -> None:
    vtn, opened = web
    anon = browser(vtn.base_url)
    opened.append(anon)
    assert (await anon.call("GET", "/operator/api/me"))[0] == 401
    assert await anon.login("admin", "wrong password") == 401
    assert await anon.login("nobody") == 401
    status, body = await anon.call("POST", "/operator/api/login", {"username": 1})
    assert status == 400 and "username" in body["detail"]
    status, body = await anon.call("POST", "/operator/api/login", data=b"[not json")
    assert status == 400
    admin = await _as(web, "admin")
    status, me = await admin.call("GET", "/operator/api/me")
    assert status == 200 and me["role"] == "admin" and me["scope"] is None
    status, tree = await admin.call("GET", "/operator/api/tree")
    assert status == 200 and [(n["id"], n["children"]) for n in tree["nodes"]] == [("r1", 2)]
    # a node's page lists its own children and meters, flats included, not its whole subtree
    status, house = await admin.call("GET", "/operator/api/nodes/h1")
    assert [c["id"] for c in house["children"]] == ["f1", "f2"]
    assert [m["id"] for m in house["meters"]] == ["h1in"]
    # the page itself and the vendored chart library are served without a login
    status, page = await anon.call("GET", "/ui/")
    assert status == 200 and "uPlot.iife.min.js" in page
    status, lib = await anon.call("GET", "/ui/static/vendor/uPlot.iife.min.js")
    assert status == 200 and "uPlot" in lib
    # writes need the CSRF token, and logging out ends the session
    assert (await admin.call("POST", "/operator/api/logout", csrf=False))[0] == 403
    assert (await admin.call("POST", "/operator/api/logout"))[0] == 200
    assert (await admin.call("GET", "/operator/api/me"))[0] == 401
    # a forged cookie is refused; so is a user removed after logging in
    forged = browser(vtn.base_url)
    opened.append(forged)
    forged.session.cookie_jar.update_cookies({"balance_operator": "x.y.z"})
    assert (await forged.call("GET", "/operator/api/me"))[0] == 401
    viewer = await _as(web, "viewer-d1")
    await vtn.storage.grid().delete_user("viewer-d1")
    assert (await viewer.call("GET", "/operator/api/tree"))[0] == 401


async def test_a_viewer_sees_only_their_district(web: tuple[RunningVtn, list[Browser]]) -> None:
    viewer = await _as(web, "viewer-d2")
    # the tree comes a level at a time, each node saying whether it opens further
    status, tree = await viewer.call("GET", "/operator/api/tree")
    assert status == 200 and [(n["id"], n["children"]) for n in tree["nodes"]] == [("d2", 1)]
    status, tree = await viewer.call("GET", "/operator/api/tree", params={"parent": "d2"})
    assert status == 200 and [(n["id"], n["children"]) for n in tree["nodes"]] == [("h3", 0)]
    assert (await viewer.call("GET", "/operator/api/tree", params={"parent": "r1"}))[0] == 404
    for path in ("/nodes/h1", "/nodes/s1/balance", "/nodes/r1", "/nodes/s1/events"):
        assert (await viewer.call("GET", "/operator/api" + path))[0] == 404
    status, node = await viewer.call("GET", "/operator/api/nodes/h3")
    assert status == 200 and {m["id"] for m in node["meters"]} == {"h3in", "m4"}
    status, exported = await viewer.call("GET", "/operator/api/hierarchy")
    assert {n["id"] for n in exported["nodes"]} == {"d2", "h3"}
    status, alarms = await viewer.call("GET", "/operator/api/alarms", params=WINDOW)
    assert status == 200 and {a["node"] for a in alarms["alarms"]} <= {"d2", "h3"}
    assert (await viewer.call("GET", "/operator/api/alarms", params={"node": "s1"}))[0] == 404


async def test_balance_series(web: tuple[RunningVtn, list[Browser]]) -> None:
    op = await _as(web, "op-d1")
    status, day = await op.call(
        "GET", "/operator/api/nodes/s1/balance", params={**WINDOW, "resolution": "day"}
    )
    assert status == 200 and day["resolution"] == "day" and len(day["t"]) == 2
    status, hourly = await op.call("GET", "/operator/api/nodes/s1/balance", params=WINDOW)
    assert len(hourly["t"]) == 48 and hourly["t"][0] == H0
    assert hourly["input"][0] == 10.0 and hourly["subscribers"][0] == 8.5
    assert hourly["imbalance"][0] == 1.5 and hourly["imbalance_pct"][0] == 15.0
    assert hourly["technical"][0] == pytest.approx(0.3) and hourly["completeness"][0] == 1.0
    assert sum(day["input"]) == pytest.approx(sum(hourly["input"]))
    status, alarms = await op.call(
        "GET", "/operator/api/alarms", params={**WINDOW, "kind": "imbalance"}
    )
    assert status == 200 and {a["node"] for a in alarms["alarms"]} == {"s1", "d1", "h1"}
    assert {a["severity"] for a in alarms["alarms"]} == {"warning", "critical"}
    for bad in ({"start": "yesterday"}, {**WINDOW, "end": WINDOW["start"]}):
        status, body = await op.call("GET", "/operator/api/nodes/s1/balance", params=bad)
        assert status == 400, body


async def test_dr_event_reaches_the_group_and_shows_deliveries(
    web: tuple[RunningVtn, list[Browser]],
) -> None:
    vtn, _ = web
    bl = await vtn.bl()
    ven, _ = await vtn.ven(bl, "house-in-feeder-1", ["feeder-1"])
    other, _ = await vtn.ven(bl, "house-3", ["house-3"])
    op = await _as(web, "op-d1")
    assert (await op.call("POST", "/operator/api/nodes/s1/events", {"level": 2}, csrf=False))[
        0
    ] == 403
    status, event = await op.call(
        "POST", "/operator/api/nodes/s1/events", {"level": 2, "duration_minutes": 30}
    )
    assert status == 201 and event["targets"] == ["feeder-1"]
    seen = await ven.events()
    assert [e["id"] for e in seen] == [event["id"]]
    assert seen[0]["intervals"][0]["payloads"][0]["values"] == [2]
    assert await other.events() == []
    await ven.acknowledge(seen[0], received_at=datetime.now(UTC).timestamp(), channel="POLL")
    status, listed = await op.call("GET", "/operator/api/nodes/s1/events")
    assert status == 200 and listed["events"][0]["id"] == event["id"]
    assert [d["status"] for d in listed["events"][0]["deliveries"]] == ["ACK"]
    # bad requests and nodes without a DR group
    for body in ({"level": 9}, {"level": True}, {"duration_minutes": 0}):
        assert (await op.call("POST", "/operator/api/nodes/s1/events", body))[0] == 400
    assert (await op.call("POST", "/operator/api/nodes/h1/events", {}))[0] == 409
    assert (await op.call("POST", "/operator/api/nodes/h3/events", {}))[0] == 404
    # another district's operator cannot cancel it; this one can, and the VEN stops seeing it
    admin = await _as(web, "admin")
    status, foreign = await admin.call("POST", "/operator/api/nodes/h3/events", {"level": 1})
    assert status == 201
    assert (await op.call("DELETE", f"/operator/api/events/{foreign['id']}"))[0] == 404
    status, _ = await op.call("DELETE", f"/operator/api/events/{event['id']}")
    assert status == 200 and await ven.events() == []
    audit = await vtn.storage.list_audit()
    assert {(a.actor, a.action) for a in audit} >= {
        ("operator:op-d1", "CREATE"),
        ("operator:op-d1", "DELETE"),
    }


async def test_a_viewer_cannot_run_dr(web: tuple[RunningVtn, list[Browser]]) -> None:
    viewer = await _as(web, "viewer-d1")
    status, body = await viewer.call("POST", "/operator/api/nodes/s1/events", {"level": 1})
    assert status == 403 and "viewer" in body["detail"]
    assert (await viewer.call("DELETE", "/operator/api/events/anything"))[0] == 403
    status, events = await viewer.call("GET", "/operator/api/nodes/s1/events")
    assert status == 200 and events["events"] == []


async def test_admin_imports_and_attaches(web: tuple[RunningVtn, list[Browser]]) -> None:
    vtn, _ = web
    admin = await _as(web, "admin")
    csv_text = (
        "kind,id,parent,level,name,target,role,phase,ven_id,resource_name\n"
        "node,h9,s1,house,H9,,,,,\n"
    )
    status, body = await admin.call(
        "POST", "/operator/api/hierarchy", data=csv_text, headers={"Content-Type": "text/csv"}
    )
    assert status == 200 and body == {"nodes": 1, "meters": 0}
    status, body = await admin.call(
        "POST", "/operator/api/hierarchy", {"nodes": [{"id": "x", "parent": "h9", "level": "city"}]}
    )
    assert status == 400 and body["errors"] == ["node x: a city cannot sit below a house"]
    assert await vtn.storage.grid().get_node("x") is None
    status, exported = await admin.call("GET", "/operator/api/hierarchy", params={"format": "csv"})
    assert status == 200 and "node,h9,s1,house,H9" in exported
    # a real VEN's meter joins house h9: by venName, resolved to the id its readings carry
    bl = await vtn.bl()
    _, ven_obj = await vtn.ven(bl, "home-assistant", ["feeder-1"])
    status, meter = await admin.call(
        "POST",
        "/operator/api/nodes/h9/meters",
        {"ven": "home-assistant", "resource_name": "mains", "phase": "B"},
    )
    assert status == 201 and meter["ven_id"] == ven_obj["id"] and meter["id"] == "h9-mains"
    status, _ = await admin.call("POST", "/operator/api/nodes/h9/meters", {"ven": "x"})
    assert status == 400
    op = await _as(web, "op-d1")
    assert (await op.call("POST", "/operator/api/hierarchy", {"nodes": []}))[0] == 403
    assert (await op.call("POST", "/operator/api/nodes/h9/meters", {"ven": "v"}))[0] == 403


async def test_an_admin_manages_logins(web: tuple[RunningVtn, list[Browser]]) -> None:
    vtn, _ = web
    admin = await _as(web, "admin")
    status, listed = await admin.call("GET", "/operator/api/users")
    assert status == 200 and {u["username"] for u in listed["users"]} >= {"admin", "op-d1"}
    # a new viewer of district d2 with a generated password, which works at once
    status, saved = await admin.call(
        "POST", "/operator/api/users", {"username": "night-shift", "role": "viewer", "scope": "d2"}
    )
    assert status == 200 and saved["scope"] == "d2" and len(saved["password"]) >= 12
    newcomer = browser(vtn.base_url)
    web[1].append(newcomer)
    assert await newcomer.login("night-shift", saved["password"]) == 200
    status, tree = await newcomer.call("GET", "/operator/api/tree")
    assert [n["id"] for n in tree["nodes"]] == ["d2"]
    # bad requests say why and change nothing
    for body, reason in (
        ({"username": "x y", "role": "viewer"}, "username"),
        ({"username": "ok", "role": "root"}, "role"),
        ({"username": "ok", "role": "viewer", "password": "short"}, "8 characters"),
        ({"username": "ok", "role": "viewer", "scope": "nowhere"}, "nowhere"),
        ({"username": 5, "role": "viewer"}, "strings"),
    ):
        status, problem = await admin.call("POST", "/operator/api/users", body)
        assert status == 400 and reason in problem["detail"], (body, problem)
    assert await vtn.storage.grid().get_user("ok") is None
    # an admin cannot lock themselves out
    status, _ = await admin.call(
        "POST", "/operator/api/users", {"username": "admin", "role": "viewer"}
    )
    assert status == 409
    assert (await admin.call("DELETE", "/operator/api/users/admin"))[0] == 409
    # deleting a login ends its sessions at once
    assert (await admin.call("DELETE", "/operator/api/users/night-shift"))[0] == 200
    assert (await newcomer.call("GET", "/operator/api/tree"))[0] == 401
    assert (await admin.call("DELETE", "/operator/api/users/night-shift"))[0] == 404
    # nobody else manages users, not even an admin scoped to part of the grid
    await vtn.storage.grid().put_user(
        OperatorUser("admin-d1", hash_password(PASSWORD), "admin", "d1", 0.0)
    )
    for name in ("op-d1", "admin-d1"):
        other = await _as(web, name)
        assert (await other.call("GET", "/operator/api/users"))[0] == 403
        body = {"username": "x", "role": "admin"}
        assert (await other.call("POST", "/operator/api/users", body))[0] == 403
