"""The grid tables on SQLite and PostgreSQL alike: import, moves, roll-ups, users."""

from __future__ import annotations

import time

import pytest

from balance_aggregator.grid.model import OperatorUser
from balance_aggregator.storage import ReadingRow, Storage
from balance_grid.hierarchy import GridNode, HierarchyError, parse_csv

H0 = 1767225600  # 2026-01-01T00:00Z
NETWORK = """kind,id,parent,level,name,target,role,phase,ven_id,resource_name
node,r1,,region,North,,,,,
node,d1,r1,district,D1,,,,,
node,d2,r1,district,D2,,,,,
node,s1,d1,street,Main,feeder-1,,,,
node,h1,s1,house,H1,,,,,
node,h2,s1,house,H2,,,,,
node,f1,h1,flat,F1,,,,,
node,f2,h1,flat,F2,,,,,
node,h3,d2,house,H3,house-3,,,,
meter,feed,s1,,,,feeder,,v1,feed
meter,h1in,h1,,,,house_input,,v1,h1in
meter,m1,f1,,,,subscriber,A,v1,m1
meter,m2,f2,,,,subscriber,B,v1,m2
meter,m3,h2,,,,subscriber,C,v2,m3
meter,h3in,h3,,,,house_input,,v3,in
meter,m4,h3,,,,subscriber,A,v3,m4
"""
VALUES = {"feed": 10.0, "h1in": 6.0, "m1": 2.0, "m2": 3.0, "m3": 3.5, "in": 4.0, "m4": 3.0}
VENS = {"feed": "v1", "h1in": "v1", "m1": "v1", "m2": "v1", "m3": "v2", "in": "v3", "m4": "v3"}


async def _network(storage: Storage, hours: int = 3, skip: tuple[str, int] | None = None) -> None:
    await storage.grid().import_hierarchy(*parse_csv(NETWORK))
    rows = [
        ReadingRow(VENS[res], res, "electricity", "KWH", H0 + h * 3600, value + h, "r")
        for h in range(hours)
        for res, value in VALUES.items()
        if (res, h) != skip
    ]
    await storage.ingest_readings(rows)


async def test_import_export_and_lookup(storage: Storage) -> None:
    grid = storage.grid()
    assert await grid.import_hierarchy(*parse_csv(NETWORK)) == (9, 7)
    assert await grid.import_hierarchy(*parse_csv(NETWORK)) == (9, 7)  # idempotent
    node = await grid.get_node("f2")
    assert node is not None and node.path == "r1/d1/s1/h1/f2/" and node.depth == 4
    assert [n.id for n in await grid.list_nodes("r1/d1/", flats=False)] == ["d1", "s1", "h1", "h2"]
    assert {m.id for m in await grid.list_meters("r1/d1/s1/h1/")} == {"h1in", "m1", "m2"}
    assert await grid.get_node("nope") is None


async def test_balances_roll_up_the_outermost_groups(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    rows = {(r.node_id, r.hour): r for r in await grid.balance("", None, H0, H0 + 3 * 3600)}
    # s1: feeder 10 vs flats 2 + 3 and house h2 3.5; the house input h1in is inside the feeder
    s1 = rows["s1", H0]
    assert (s1.input_kwh, s1.subscribers_kwh) == (10.0, 8.5)
    assert (s1.input_meters, s1.input_expected, s1.subscriber_meters) == (1, 1, 3)
    assert (rows["h1", H0].input_kwh, rows["h1", H0].subscribers_kwh) == (6.0, 5.0)
    assert rows["h2", H0].input_kwh is None and rows["h2", H0].input_expected == 0
    # the region sums the feeder and the other district's house input, and every subscriber
    r1 = rows["r1", H0 + 3600]
    assert (r1.input_kwh, r1.subscribers_kwh) == (11.0 + 5.0, 3.0 + 4.0 + 4.5 + 4.0)
    assert (r1.input_expected, r1.subscribers_expected) == (2, 4)
    assert not any(node == "f1" for node, _ in rows)  # flats are read from their meters
    # one node only, and the materialised roll-up, give the same rows
    only = await grid.balance("r1/d1/s1/", "s1", H0, H0 + 3 * 3600)
    assert only == [rows["s1", H0 + h * 3600] for h in range(3)]
    assert await grid.rollup(H0, H0 + 3 * 3600) == len(rows)
    assert await grid.stored_balance("s1", H0, H0 + 3 * 3600) == only
    assert await grid.rollup(H0, H0 + 3 * 3600) == len(rows)  # re-run replaces, adds nothing


async def test_missing_readings_lower_completeness(storage: Storage) -> None:
    await _network(storage, hours=2, skip=("m2", 1))
    rows = await storage.grid().balance("r1/d1/s1/h1/", "h1", H0, H0 + 2 * 3600)
    assert [r.subscriber_meters for r in rows] == [2, 1]
    assert rows[1].subscribers_expected == 2 and rows[1].subscribers_kwh == 3.0
    readings = await storage.grid().meter_readings("r1/d1/s1/h1/", H0, H0 + 2 * 3600)
    assert sorted((r.meter_id, r.hour) for r in readings) == [
        ("h1in", H0),
        ("h1in", H0 + 3600),
        ("m1", H0),
        ("m1", H0 + 3600),
        ("m2", H0),
    ]


async def test_a_moved_node_takes_its_subtree(storage: Storage) -> None:
    grid = storage.grid()
    await grid.import_hierarchy(*parse_csv(NETWORK))
    await grid.import_hierarchy([GridNode("h1", "d2", "house", "H1 moved")], [])
    f1 = await grid.get_node("f1")
    assert f1 is not None and f1.path == "r1/d2/h1/f1/" and f1.depth == 3
    with pytest.raises(HierarchyError, match=r"cycle|cannot sit below"):
        await grid.import_hierarchy([GridNode("d2", "h1", "district", "D2")], [])
    assert (await grid.get_node("d2")) is not None
    assert (await grid.get_node("d2")).path == "r1/d2/"  # type: ignore[union-attr]


async def test_bad_imports_write_nothing(storage: Storage) -> None:
    grid = storage.grid()
    await grid.import_hierarchy(*parse_csv(NETWORK))
    nodes, meters = parse_csv(
        "kind,id,parent,level,name,target,role,phase,ven_id,resource_name\n"
        "node,x1,r1,city,X,,,,,\n"
        "meter,mx,f1,,,,feeder,,v9,x\n"
    )
    with pytest.raises(HierarchyError, match="cannot sit on a flat"):
        await grid.import_hierarchy(nodes, meters)
    assert await grid.get_node("x1") is None
    # the same readings claimed by a second meter
    nodes, meters = parse_csv(
        "kind,id,parent,level,name,target,role,phase,ven_id,resource_name\n"
        "node,x2,r1,city,X,,,,,\n"
        "meter,dup,h2,,,,subscriber,,v1,m1\n"
    )
    with pytest.raises(HierarchyError, match="claimed"):
        await grid.import_hierarchy(nodes, meters)
    assert await grid.get_node("x2") is None
    assert await grid.delete_node("d1") and await grid.get_node("f2") is None
    assert {m.id for m in await grid.list_meters("")} == {"h3in", "m4"}


async def test_operator_users(storage: Storage) -> None:
    grid = storage.grid()
    user = OperatorUser("ann", "scrypt$x", "viewer", "d1", time.time())
    await grid.put_user(user)
    assert await grid.get_user("ann") == user
    await grid.put_user(OperatorUser("ann", "scrypt$y", "admin", None, user.created_at))
    again = await grid.get_user("ann")
    assert again is not None and (again.role, again.scope_node_id) == ("admin", None)
    assert [u.username for u in await grid.list_users()] == ["ann"]
    assert await grid.delete_user("ann") and not await grid.delete_user("ann")
    assert await grid.get_user("ann") is None
