"""Tokens, scopes and object privacy: who may read and write what."""

from __future__ import annotations

import aiohttp
import pytest

from balance_openadr.client import VtnError

from .conftest import RunningVtn, VtnFactory
from .helpers import simple_event


async def test_auth_server_points_at_token_endpoint(vtn: RunningVtn) -> None:
    async with vtn.session.get(vtn.base_url + "/auth/server") as response:
        assert response.status == 200
        assert (await response.json())["tokenURL"] == vtn.base_url + "/auth/token"


async def test_token_errors_are_problems(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    url = vtn.base_url + "/auth/token"
    cases = [
        (
            {"grant_type": "client_credentials", "client_id": bl.client_id, "client_secret": "x"},
            401,
        ),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, 401),
        ({"grant_type": "password", "client_id": bl.client_id, "client_secret": "x"}, 400),
        ({"client_id": bl.client_id}, 400),
    ]
    for form, status in cases:
        async with vtn.session.post(url, data=form) as response:
            body = await response.json()
            assert response.status == status
            assert body["status"] == status
            assert body["error"] in ("invalid_client", "unsupported_grant_type", "invalid_request")


async def test_secret_is_stored_hashed(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    stored = await vtn.storage.get_client(bl.client_id)
    assert stored is not None
    assert bl._secret not in stored.secret_hash
    assert stored.secret_hash.startswith("sha256$")
    assert await bl.token()  # and the real secret still works


async def test_requested_scope_narrows_the_token(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    form = {
        "grant_type": "client_credentials",
        "client_id": bl.client_id,
        "client_secret": bl._secret,
        "scope": "read_all",
    }
    async with vtn.session.post(vtn.base_url + "/auth/token", data=form) as response:
        body = await response.json()
    assert body["scope"] == "read_all"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with vtn.session.post(
        vtn.base_url + "/programs", json={"programName": "x"}, headers=headers
    ) as response:
        assert response.status == 403
    form["scope"] = "write_reports"  # a BL client is never granted VEN-only scopes
    async with vtn.session.post(vtn.base_url + "/auth/token", data=form) as response:
        assert response.status == 400


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer not-a-jwt", "Basic abc", "Bearer eyJhbGciOiJub25lIn0.e30."]
)
async def test_every_endpoint_needs_a_valid_token(vtn: RunningVtn, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for path in ("/programs", "/events", "/reports", "/subscriptions", "/vens", "/resources"):
        async with vtn.session.get(vtn.base_url + path, headers=headers) as response:
            assert response.status == 401
            body = await response.json()
            assert body["status"] == 401 and body["title"] == "Unauthorized"


async def test_ven_may_not_write_programs_or_events(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    ven, _ = await vtn.ven(bl, "house-a", ["g1"])
    program = await bl.request("POST", "/programs", json_body={"programName": "dr"})
    for path, body in (
        ("/programs", {"programName": "mine"}),
        ("/events", simple_event(program["id"], 1, None)),
    ):
        with pytest.raises(VtnError) as err:
            await ven.request("POST", path, json_body=body)
        assert err.value.status == 403
        assert err.value.body["status"] == 403
    with pytest.raises(VtnError) as err:
        await bl.request("POST", "/reports", json_body={})
    assert err.value.status == 403  # reports are written by VENs only


async def test_targets_decide_which_events_a_ven_reads(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    program = await bl.request("POST", "/programs", json_body={"programName": "dr"})
    pid = program["id"]
    both = await bl.request("POST", "/events", json_body=simple_event(pid, 1, ["g1", "g2"]))
    only_g2 = await bl.request("POST", "/events", json_body=simple_event(pid, 2, ["g2"]))
    everyone = await bl.request("POST", "/events", json_body=simple_event(pid, 3, None))
    ven_a, _ = await vtn.ven(bl, "house-a", ["g1"])
    ven_b, _ = await vtn.ven(bl, "house-b", ["g2"])
    stranger = await vtn.client("no-ven-object", "ven")

    seen_a = {e["id"]: e for e in await ven_a.events()}
    assert set(seen_a) == {both["id"], everyone["id"]}
    assert seen_a[both["id"]]["targets"] == ["g1"]  # target hiding: g2 is not A's business
    assert {e["id"] for e in await ven_b.events()} == {both["id"], only_g2["id"], everyone["id"]}
    assert {e["id"] for e in await stranger.events()} == {everyone["id"]}
    # asking for targets it was never granted gives nothing more
    assert {e["id"] for e in await ven_a.events(targets=["g2"])} == {everyone["id"]}
    with pytest.raises(VtnError) as err:
        await ven_a.request("GET", f"/events/{only_g2['id']}")
    assert err.value.status == 404
    assert (await ven_b.request("GET", f"/events/{only_g2['id']}"))["targets"] == ["g2"]
    # BL reads everything and filters by targets on request
    assert len(await bl.events()) == 3
    assert {e["id"] for e in await bl.events(targets=["g1"])} == {both["id"]}


async def test_ven_objects_are_private_to_their_client(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    program = await bl.request("POST", "/programs", json_body={"programName": "dr"})
    event = await bl.request("POST", "/events", json_body=simple_event(program["id"], 1, None))
    ven_a, ven_a_obj = await vtn.ven(bl, "house-a", ["g1"])
    ven_b, _ = await vtn.ven(bl, "house-b", ["g1"])
    report = await ven_a.acknowledge(event, received_at=0.0, channel="POLL")
    assert report["clientID"] == ven_a.client_id
    assert [r["id"] for r in await ven_a.request("GET", "/reports")] == [report["id"]]
    assert await ven_b.request("GET", "/reports") == []
    for method in ("GET", "PUT", "DELETE"):
        with pytest.raises(VtnError) as err:
            await ven_b.request(method, f"/reports/{report['id']}", json_body=report)
        assert err.value.status == 404
    assert [v["id"] for v in await ven_a.my_vens()] == [ven_a_obj["id"]]
    # nor may a VEN report on an event that is not for it
    other = await bl.request("POST", "/events", json_body=simple_event(program["id"], 1, ["g9"]))
    with pytest.raises(VtnError) as err:
        await ven_a.acknowledge(other, received_at=0.0, channel="POLL")
    assert err.value.status == 409
    assert len(await bl.request("GET", "/vens")) == 2
    # a VEN cannot grant itself targets
    with pytest.raises(VtnError) as err:
        await ven_a.request(
            "PUT",
            f"/vens/{ven_a_obj['id']}",
            json_body={
                "objectType": "BL_VEN_REQUEST",
                "clientID": ven_a.client_id,
                "venName": "house-a",
                "targets": ["g1", "g2"],
            },
        )
    assert err.value.status == 403
    renamed = await ven_a.request(
        "PUT",
        f"/vens/{ven_a_obj['id']}",
        json_body={"objectType": "VEN_VEN_REQUEST", "venName": "house-a2"},
    )
    assert renamed["venName"] == "house-a2"
    assert renamed["targets"] == ["g1"]  # BL's grant survives the VEN's own update


async def test_rate_limit_answers_429(start_vtn: VtnFactory) -> None:
    vtn = await start_vtn(rate_limit_per_s=0.001, rate_limit_burst=3)
    bl = await vtn.bl()
    statuses = []
    for _ in range(5):
        headers = {"Authorization": f"Bearer {await bl.token()}"}
        async with vtn.session.get(vtn.base_url + "/programs", headers=headers) as response:
            statuses.append(response.status)
    assert statuses == [200, 200, 200, 429, 429]


async def test_health_and_metrics(vtn: RunningVtn) -> None:
    async with vtn.session.get(vtn.base_url + "/health") as response:
        health = await response.json()
    assert response.status == 200
    assert health["status"] == "ok" and health["schema"] == 5
    assert health["mqtt"] == "connected"
    async with vtn.session.get(vtn.base_url + "/metrics") as response:
        text = await response.text()
    assert response.content_type == "text/plain"
    assert "# TYPE vtn_http_requests_total counter" in text
    assert 'route="/health"' in text
    assert "vtn_mqtt_connected 1" in text


async def test_unknown_path_is_a_problem(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    headers = {"Authorization": f"Bearer {await bl.token()}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(vtn.base_url + "/nothing-here", headers=headers) as response,
    ):
        assert response.status == 404
        assert (await response.json())["status"] == 404
