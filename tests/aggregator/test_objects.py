"""CRUD of the OpenADR objects: validation, conflicts, pagination, filters, 3.0.1 paths, audit."""

from __future__ import annotations

from typing import Any

import pytest

from balance_openadr.client import VtnError

from .conftest import RunningVtn
from .helpers import past_event, simple_event


async def _status(call: Any) -> tuple[int, dict[str, Any]]:
    try:
        await call
    except VtnError as err:
        return err.status, err.body
    raise AssertionError("the VTN accepted what it should have refused")


async def test_program_crud_and_conflicts(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    program = await bl.request(
        "POST",
        "/programs",
        json_body={"programName": "peak", "targets": ["g1"], "attributes": []},
    )
    assert program["objectType"] == "PROGRAM"
    assert program["createdDateTime"].endswith("Z")
    pid = program["id"]
    assert (await bl.request("GET", f"/programs/{pid}"))["programName"] == "peak"
    status, body = await _status(bl.request("POST", "/programs", json_body={"programName": "peak"}))
    assert status == 409 and body["status"] == 409
    updated = await bl.request(
        "PUT", f"/programs/{pid}", json_body={"programName": "peak-2", "targets": ["g2"]}
    )
    assert updated["id"] == pid and updated["targets"] == ["g2"]
    assert updated["createdDateTime"] == program["createdDateTime"]
    deleted = await bl.request("DELETE", f"/programs/{pid}")
    assert deleted["programName"] == "peak-2"
    status, _ = await _status(bl.request("GET", f"/programs/{pid}"))
    assert status == 404
    status, _ = await _status(bl.request("DELETE", f"/programs/{pid}"))
    assert status == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"programName": ""},
        {"programName": 5},
        {"programName": "x", "intervalPeriod": {"start": "yesterday"}},
        {"programName": "x", "intervalPeriod": {"duration": "1 hour"}},
        {"programName": "x", "targets": "g1"},
        [1, 2],
    ],
)
async def test_invalid_bodies_are_400_problems(vtn: RunningVtn, body: Any) -> None:
    bl = await vtn.bl()
    status, problem = await _status(bl.request("POST", "/programs", json_body=body))
    assert status == 400
    assert problem["title"] == "Bad Request" and problem["status"] == 400


async def test_event_needs_an_existing_program(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    status, _ = await _status(
        bl.request("POST", "/events", json_body=simple_event("nope", 1, None))
    )
    assert status == 409


async def test_pagination_and_filters(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    p1 = (await bl.request("POST", "/programs", json_body={"programName": "p1"}))["id"]
    p2 = (await bl.request("POST", "/programs", json_body={"programName": "p2"}))["id"]
    ids = [
        (await bl.request("POST", "/events", json_body=simple_event(p1, n % 4, None)))["id"]
        for n in range(7)
    ]
    old = (await bl.request("POST", "/events", json_body=past_event(p2)))["id"]
    page = await bl.request(
        "GET", "/events", params=[("programID", p1), ("skip", "2"), ("limit", "3")]
    )
    assert [e["id"] for e in page] == ids[2:5]
    assert await bl.request("GET", "/events", params=[("limit", "0")]) == []
    assert [e["id"] for e in await bl.events(program_id=p2)] == [old]
    active = {e["id"] for e in await bl.events(active=True)}
    assert old not in active and set(ids) <= active
    for params in ([("limit", "51")], [("skip", "-1")], [("limit", "x")], [("active", "maybe")]):
        status, _ = await _status(bl.request("GET", "/events", params=params))
        assert status == 400


async def test_dr_payload_types_round_trip(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    pid = (await bl.request("POST", "/programs", json_body={"programName": "dr"}))["id"]
    ven, _ = await vtn.ven(bl, "house", ["feeder-7"])
    bodies = [simple_event(pid, level, ["feeder-7"]) for level in range(4)]
    limit = simple_event(pid, 0, ["feeder-7"])
    limit["payloadDescriptors"] = [
        {
            "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
            "payloadType": "IMPORT_CAPACITY_LIMIT",
            "units": "KW",
        }
    ]
    limit["intervals"] = [
        {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [3.5]}]}
    ]
    price = simple_event(pid, 0, ["feeder-7"])
    price["payloadDescriptors"] = [
        {
            "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
            "payloadType": "PRICE",
            "units": "KWH",
            "currency": "EUR",
        }
    ]
    price["intervals"] = [
        {"id": h, "payloads": [{"type": "PRICE", "values": [0.1 + h / 100]}]} for h in range(24)
    ]
    created = [await bl.request("POST", "/events", json_body=b) for b in [*bodies, limit, price]]
    polled = {e["id"]: e for e in await ven.events()}
    for event in created:
        assert polled[event["id"]]["intervals"] == event["intervals"]
    assert [polled[e["id"]]["intervals"][0]["payloads"][0]["values"] for e in created[:4]] == [
        [0],
        [1],
        [2],
        [3],
    ]
    assert polled[created[4]["id"]]["payloadDescriptors"][0]["units"] == "KW"
    assert len(polled[created[5]["id"]]["intervals"]) == 24


async def test_resources_3_1_and_3_0_1_paths(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    ven, ven_obj = await vtn.ven(bl, "house", ["street-1"])
    vid = ven_obj["id"]
    # 3.1: a first-level resource; BL grants a target to one meter
    meter = await bl.request(
        "POST",
        "/resources",
        json_body={
            "objectType": "BL_RESOURCE_REQUEST",
            "clientID": ven.client_id,
            "resourceName": "meter-1",
            "venID": vid,
            "targets": ["transformer-9"],
        },
    )
    assert meter["venID"] == vid and meter["targets"] == ["transformer-9"]
    # 3.0.1: nested under the ven, targets as valuesMaps, no objectType
    legacy = await ven.request(
        "POST", f"/vens/{vid}/resources", json_body={"resourceName": "meter-2"}
    )
    assert legacy["venID"] == vid and legacy["clientID"] == ven.client_id
    listed = await ven.request("GET", f"/vens/{vid}/resources")
    assert {r["resourceName"] for r in listed} == {"meter-1", "meter-2"}
    named = await bl.request("GET", "/resources", params=[("resourceName", "meter-2")])
    assert [r["id"] for r in named] == [legacy["id"]]
    assert (await ven.request("GET", f"/vens/{vid}/resources/{legacy['id']}"))["id"] == legacy["id"]
    status, _ = await _status(
        ven.request("POST", f"/vens/{vid}/resources", json_body={"resourceName": "meter-2"})
    )
    assert status == 409
    legacy_ven = await bl.request(
        "POST",
        "/vens",
        json_body={
            "clientID": "someone",
            "venName": "legacy",
            "targets": [{"type": "GROUP", "values": ["street-2"]}],
        },
    )
    assert legacy_ven["targets"] == ["street-2"]
    found = await bl.request(
        "GET", "/vens", params=[("targetType", "GROUP"), ("targetValues", "street-2")]
    )
    assert [v["id"] for v in found] == [legacy_ven["id"]]
    # a resource target grants the VEN the events of that target
    pid = (await bl.request("POST", "/programs", json_body={"programName": "dr"}))["id"]
    event = await bl.request("POST", "/events", json_body=simple_event(pid, 2, ["transformer-9"]))
    assert [e["id"] for e in await ven.events()] == [event["id"]]
    # deleting the ven removes its resources
    await bl.request("DELETE", f"/vens/{vid}")
    assert await bl.request("GET", "/resources", params=[("venID", vid)]) == []


async def test_audit_log_records_dr_events(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    pid = (await bl.request("POST", "/programs", json_body={"programName": "dr"}))["id"]
    event = await bl.request("POST", "/events", json_body=simple_event(pid, 3, ["g1"]))
    await bl.request("DELETE", f"/events/{event['id']}")
    entries = await bl.request("GET", "/balance/audit")
    mine = [(e["action"], e["objectType"], e["id"]) for e in entries if e["actor"] == bl.client_id]
    assert ("CREATE", "EVENT", event["id"]) in mine
    assert ("DELETE", "EVENT", event["id"]) in mine
    created = next(e for e in entries if e["action"] == "CREATE" and e["id"] == event["id"])
    assert created["detail"]["payloads"] == ["SIMPLE"]
    assert created["detail"]["targets"] == ["g1"]
    ven, _ = await vtn.ven(bl, "house", [])
    status, _ = await _status(ven.request("GET", "/balance/audit"))
    assert status == 403
