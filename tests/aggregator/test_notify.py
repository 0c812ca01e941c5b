"""DR broadcast: MQTT push through the real Mosquitto, webhooks, polling, acknowledgements."""

from __future__ import annotations

import asyncio
import time

import pytest

from balance_openadr.client import VtnError, mqtt_notifications

from .conftest import RunningVtn, VtnFactory
from .helpers import callback_server, simple_event

# generous bounds that only stop a broken test from hanging; nothing asserts on speed
WAIT = 20.0


async def test_mqtt_round_trip_reaches_only_targeted_vens(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    pid = (await bl.request("POST", "/programs", json_body={"programName": "dr"}))["id"]
    ven_a, a = await vtn.ven(bl, "house-a", ["feeder-1"])
    ven_b, b = await vtn.ven(bl, "house-b", ["feeder-2"])
    host, port, topic_a = await ven_a.mqtt_details(a["id"])
    _, _, topic_b = await ven_b.mqtt_details(b["id"])
    assert topic_a.endswith(f"events/vens/{a['id']}/+")
    async with (
        mqtt_notifications(host, port, [topic_a]) as inbox_a,
        mqtt_notifications(host, port, [topic_b]) as inbox_b,
    ):
        created = time.time()
        event = await bl.request(
            "POST", "/events", json_body=simple_event(pid, 2, ["feeder-1", "feeder-3"])
        )
        got = await asyncio.wait_for(inbox_a.get(), WAIT)
        assert got.object_type == "EVENT" and got.operation == "CREATE"
        assert got.object["id"] == event["id"]
        assert got.object["targets"] == ["feeder-1"]  # feeder-3 is hidden from house-a
        assert got.object["intervals"][0]["payloads"][0] == {"type": "SIMPLE", "values": [2]}
        assert got.topic.endswith(f"events/vens/{a['id']}/create")
        await vtn.vtn.drain()
        # house-b's first message is the broadcast that came after: it never saw feeder-1's
        everyone = await bl.request("POST", "/events", json_body=simple_event(pid, 1, None))
        got_b = await asyncio.wait_for(inbox_b.get(), WAIT)
        assert got_b.object["id"] == everyone["id"]
        assert (await asyncio.wait_for(inbox_a.get(), WAIT)).object["id"] == everyone["id"]
        # the VEN acknowledges; the VTN stores the answer and the delivery latency
        await ven_a.acknowledge(event, received_at=got.received_at, channel="MQTT")
        await ven_b.acknowledge(everyone, received_at=got_b.received_at, channel="MQTT")
        await ven_a.acknowledge(everyone, received_at=time.time(), channel="MQTT", opt_out=True)
        updated = dict(event, eventName="cancelled")
        await bl.request("PUT", f"/events/{event['id']}", json_body=updated)
        got = await asyncio.wait_for(inbox_a.get(), WAIT)
        assert got.operation == "UPDATE" and got.object["eventName"] == "cancelled"
    deliveries = await bl.request("GET", f"/balance/events/{event['id']}/deliveries")
    assert [(d["venID"], d["status"], d["channel"]) for d in deliveries] == [
        (a["id"], "ACK", "MQTT")
    ]
    assert 0 <= deliveries[0]["latencySeconds"] <= time.time() - created
    answers = await bl.request("GET", f"/balance/events/{everyone['id']}/deliveries")
    assert {(d["venID"], d["status"]) for d in answers} == {(a["id"], "OPT_OUT"), (b["id"], "ACK")}


async def test_polling_sees_the_event_without_mqtt(start_vtn: VtnFactory) -> None:
    vtn = await start_vtn(mqtt_host="")
    bl = await vtn.bl()
    pid = (await bl.request("POST", "/programs", json_body={"programName": "dr"}))["id"]
    ven, _ = await vtn.ven(bl, "house", ["g"])
    assert await ven.events(active=True) == []
    event = await bl.request("POST", "/events", json_body=simple_event(pid, 3, ["g"]))
    assert [e["id"] for e in await ven.events(active=True)] == [event["id"]]
    notifiers = await bl.request("GET", "/notifiers")
    assert notifiers == {"WEBHOOK": True}


async def test_notifier_topics_respect_privacy(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    ven_a, a = await vtn.ven(bl, "house-a", ["g"])
    _, b = await vtn.ven(bl, "house-b", ["g"])
    pid = (await bl.request("POST", "/programs", json_body={"programName": "dr"}))["id"]
    notifiers = await ven_a.request("GET", "/notifiers")
    assert notifiers["MQTT"]["serialization"] == "JSON"
    assert notifiers["MQTT"]["authentication"] == {"method": "ANONYMOUS"}
    prefix = vtn.vtn.settings.mqtt_topic_prefix
    topics = await bl.request("GET", "/notifiers/mqtt/topics/events")
    assert topics["topics"]["CREATE"] == f"{prefix}/events/create"
    topics = await bl.request("GET", f"/notifiers/mqtt/topics/programs/{pid}")
    assert "CREATE" not in topics["topics"]
    topics = await bl.request("GET", f"/notifiers/mqtt/topics/programs/{pid}/events")
    assert topics["topics"]["ALL"] == f"{prefix}/events/programs/{pid}/+"
    mine = await ven_a.request("GET", f"/notifiers/mqtt/topics/vens/{a['id']}/programs")
    assert mine["topics"]["UPDATE"] == f"{prefix}/programs/vens/{a['id']}/update"
    for path, status in (
        ("/notifiers/mqtt/topics/events", 403),
        (f"/notifiers/mqtt/topics/vens/{b['id']}/events", 404),
        ("/notifiers/kafka/topics/events", 404),
        (f"/notifiers/mqtt/topics/programs/{pid}/events", 404),
        ("/notifiers/mqtt/topics/programs", 404),
    ):
        with pytest.raises(VtnError) as err:
            await ven_a.request("GET", path)
        assert err.value.status == status, path


async def test_webhook_subscription_with_echo_and_retry(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    pid = (await bl.request("POST", "/programs", json_body={"programName": "dr"}))["id"]
    ven, _ = await vtn.ven(bl, "house", ["g1"])
    async with callback_server(fail_first=2) as hook:
        sub = await ven.request(
            "POST",
            "/subscriptions",
            json_body={
                "clientName": "house",
                "programID": pid,
                "objectOperations": [
                    {
                        "objects": ["EVENT"],
                        "operations": ["CREATE", "UPDATE"],
                        "callbackUrl": hook.url,
                        "bearerToken": "hook-secret",
                    }
                ],
            },
        )
        assert sub["clientID"] == ven.client_id
        await bl.request("POST", "/events", json_body=simple_event(pid, 1, ["g2"]))  # not for us
        event = await bl.request("POST", "/events", json_body=simple_event(pid, 2, ["g1"]))
        got = await asyncio.wait_for(hook.received.get(), WAIT)
        assert got["operation"] == "CREATE" and got["object"]["id"] == event["id"]
        assert hook.posts == 3  # two refusals, then delivered by the retry with backoff
        assert hook.auth_headers == ["Bearer hook-secret"]
        await vtn.vtn.drain()
        assert hook.received.empty()  # the g2 event never reached this VEN's webhook
        listed = await ven.request("GET", "/subscriptions", params=[("objects", "EVENT")])
        assert [s["id"] for s in listed] == [sub["id"]]
        assert await ven.request("GET", "/subscriptions", params=[("objects", "REPORT")]) == []


async def test_subscription_refused_when_echo_fails(vtn: RunningVtn) -> None:
    bl = await vtn.bl()
    async with callback_server(echo_ok=False) as hook:
        for url in (hook.url, "http://10.1.2.3/hook", "ftp://127.0.0.1/x"):
            with pytest.raises(VtnError) as err:
                await bl.request(
                    "POST",
                    "/subscriptions",
                    json_body={
                        "clientName": "bl",
                        "objectOperations": [
                            {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": url}
                        ],
                    },
                )
            assert err.value.status == 400, url
    assert await bl.request("GET", "/subscriptions") == []
