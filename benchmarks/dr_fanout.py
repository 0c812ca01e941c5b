"""DR fan-out: from event creation to receipt by 1,000 simulated VENs, over MQTT and by polling.

The VTN runs as its own process (``python -m balance_aggregator serve`` on PostgreSQL), Mosquitto
is the broker, and this process plays 1,000 houses: each has its own OAuth2 client, its own ven
object in group ``feeder-1``, its own MQTT connection subscribed to its own VEN-scoped event topic
(``events/vens/{venID}/+``, from the topic endpoint), and for the polling run its own poll loop.

A latency is the time from just before BL's ``POST /events`` to the moment a VEN holds the event:
the VTN resolving the group to its VENs, publishing one message per VEN, the broker delivering,
and this process handing it to the VEN. Per event, p50 and p99 over the VENs; the figures are
medians over the events. After the first event every VEN acknowledges it with a report, and the
VTN's own per-VEN latency record (``/balance/events/{id}/deliveries``) is checked to hold 1,000.

Polling VENs ask ``GET /events?active=true`` every ``--poll-interval`` seconds (random phase), so
their latency is dominated by the interval: it is reported with it.

Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

# run as a script from a checkout without an editable install, as `make bench` may
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from balance_aggregator.auth import hash_secret
from balance_aggregator.storage import Client, open_storage
from balance_openadr.client import VenClient

PG = os.environ.get("BALANCE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
WAIT_S = 60.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def event_body(program_id: str, level: int) -> dict[str, Any]:
    return {
        "programID": program_id,
        "eventName": f"feeder-1 overload, level {level}",
        "targets": ["feeder-1"],
        "intervalPeriod": {
            "start": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "duration": "PT1H",
        },
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [level]}]}],
    }


class Vtn:
    """The VTN as a separate process, as it is deployed."""

    def __init__(self, db: str, workdir: Path) -> None:
        self.db = db
        self.log = workdir / "vtn.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.prefix = f"bench-{secrets.token_hex(4)}"

    def start(self) -> str:
        env = dict(
            os.environ,
            BALANCE_VTN_DB=self.db,
            BALANCE_VTN_PORT="0",
            BALANCE_VTN_MQTT_TOPIC_PREFIX=self.prefix,
            BALANCE_VTN_RATE_LIMIT_BURST="1000000",
            BALANCE_VTN_LOG_LEVEL="INFO",
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "balance_aggregator", "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("msg") == "vtn listening":
                    return f"http://127.0.0.1:{entry['bound_port']}"
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.1)
        raise RuntimeError("the VTN did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


async def provision(db: str, vens: int, secret: str) -> None:
    storage = open_storage(db)
    await storage.open()
    try:
        hashed = hash_secret(secret)
        await storage.put_client(Client("operator", hashed, "bl", time.time()))
        for n in range(vens):
            await storage.put_client(Client(f"house-{n:04d}", hashed, "ven", time.time()))
    finally:
        await storage.close()


async def gather_limited(coros: Sequence[Any], limit: int = 50) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


class MqttVen:
    def __init__(self, index: int, topic: str) -> None:
        self.index = index
        self.topic = topic
        self.received: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.wanted: dict[str, asyncio.Event] = {}

    async def run(self, host: str, port: int, stop: asyncio.Event) -> None:
        async with aiomqtt.Client(host, port, identifier=f"bench-ven-{self.index}") as client:
            await client.subscribe(self.topic, qos=1)
            self.ready.set()
            reader = asyncio.create_task(self._read(client))
            await stop.wait()
            reader.cancel()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            now = time.time()
            payload = message.payload
            assert isinstance(payload, bytes | bytearray)
            body = json.loads(payload)
            if body["operation"] == "CREATE":
                self.received.setdefault(body["object"]["id"], now)


async def poll_once(
    bl: VenClient, houses: list[VenClient], program_id: str, interval: float, k: int
) -> float:
    """p99 over the VENs of the time until a polling VEN holds a new event."""
    seen: dict[int, float] = {}
    target: dict[str, str] = {}
    halt = asyncio.Event()
    everyone = asyncio.Event()

    async def poller(n: int, house: VenClient) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while not halt.is_set():
            events = await house.events(active=True)
            if target and any(e["id"] == target["id"] for e in events):
                seen.setdefault(n, time.time())
                if len(seen) == len(houses):
                    everyone.set()
                return
            await asyncio.sleep(interval)

    pollers = [asyncio.create_task(poller(n, h)) for n, h in enumerate(houses)]
    await asyncio.sleep(interval * 1.5)  # every poller is in its steady rhythm
    t0 = time.time()
    event = await bl.request("POST", "/events", json_body=event_body(program_id, 3))
    target["id"] = event["id"]
    try:
        await asyncio.wait_for(everyone.wait(), WAIT_S + interval)
    finally:
        halt.set()
        await asyncio.gather(*pollers, return_exceptions=True)
    latencies = [t - t0 for t in seen.values()]
    p99 = quantile(latencies, 0.99)
    log(f"poll event {k}: p50 {quantile(latencies, 0.5):.3f} s, p99 {p99:.3f} s")
    return p99


async def run(vens_n: int, events_n: int, poll_events: int, poll_interval: float) -> dict[str, Any]:
    schema = f"bench_fanout_{secrets.token_hex(4)}"
    db = f"{PG}?schema={schema}"
    secret = secrets.token_urlsafe(32)
    await provision(db, vens_n, secret)
    with tempfile.TemporaryDirectory() as tmp:
        vtn = Vtn(db, Path(tmp))
        base = vtn.start()
        try:
            return await measure(base, vens_n, events_n, poll_events, poll_interval, secret)
        finally:
            vtn.stop()
            from balance_aggregator.storage.postgres import PostgresStorage

            await PostgresStorage(db).drop_schema()


async def measure(  # noqa: PLR0917
    base: str,
    vens_n: int,
    events_n: int,
    poll_events: int,
    poll_interval: float,
    secret: str,
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        bl = VenClient(base, "operator", secret, session=session)
        houses = [VenClient(base, f"house-{n:04d}", secret, session=session) for n in range(vens_n)]
        program = await bl.request("POST", "/programs", json_body={"programName": "feeder DR"})
        started = time.perf_counter()
        ven_objects = await gather_limited(
            [
                bl.request(
                    "POST",
                    "/vens",
                    json_body={
                        "objectType": "BL_VEN_REQUEST",
                        "clientID": h.client_id,
                        "venName": h.client_id,
                        "targets": ["feeder-1"],
                    },
                )
                for h in houses
            ]
        )
        details = await gather_limited(
            [h.mqtt_details(v["id"]) for h, v in zip(houses, ven_objects, strict=True)]
        )
        took = time.perf_counter() - started
        log(f"{vens_n} VENs provisioned, tokens and topics fetched in {took:.1f} s")

        # --- MQTT ---------------------------------------------------------------------------
        host, port, _ = details[0]
        mqtt_vens = [MqttVen(n, topic) for n, (_, _, topic) in enumerate(details)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(v.run(host, port, stop)) for v in mqtt_vens]
        await asyncio.wait_for(asyncio.gather(*(v.ready.wait() for v in mqtt_vens)), WAIT_S)
        log(f"{vens_n} MQTT connections subscribed")
        p50s, p99s, maxima = [], [], []
        ack_p99 = None
        for k in range(events_n):
            t0 = time.time()
            event = await bl.request("POST", "/events", json_body=event_body(program["id"], k % 4))
            deadline = time.monotonic() + WAIT_S
            while any(event["id"] not in v.received for v in mqtt_vens):
                if time.monotonic() > deadline:
                    missing = sum(event["id"] not in v.received for v in mqtt_vens)
                    raise RuntimeError(f"{missing} VENs never received event {k}")
                await asyncio.sleep(0.005)
            latencies = [v.received[event["id"]] - t0 for v in mqtt_vens]
            p50s.append(quantile(latencies, 0.5))
            p99s.append(quantile(latencies, 0.99))
            maxima.append(max(latencies))
            log(f"MQTT event {k}: p50 {p50s[-1]:.3f} s, p99 {p99s[-1]:.3f} s, max {maxima[-1]:.3f}")
            if k == 0:
                await gather_limited(
                    [
                        h.acknowledge(event, received_at=v.received[event["id"]], channel="MQTT")
                        for h, v in zip(houses, mqtt_vens, strict=True)
                    ]
                )
                stored = await bl.request("GET", f"/balance/events/{event['id']}/deliveries")
                assert len(stored) == vens_n, len(stored)
                ack_p99 = quantile([d["latencySeconds"] for d in stored], 0.99)
                log(f"VTN holds {len(stored)} acknowledgements, p99 latency {ack_p99:.3f} s")
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

        # --- polling ------------------------------------------------------------------------
        poll_latencies = [
            await poll_once(bl, houses, program["id"], poll_interval, k) for k in range(poll_events)
        ]
    return {
        "mqtt_p50_s": round(statistics.median(p50s), 4),
        "mqtt_p99_s": round(statistics.median(p99s), 4),
        "mqtt_max_s": round(max(maxima), 4),
        "poll_p99_s": round(statistics.median(poll_latencies), 4),
        "poll_interval_s": poll_interval,
        "ack_p99_s": round(ack_p99 or 0.0, 4),
        "vens": vens_n,
        "mqtt_events": events_n,
        "poll_events": poll_events,
        "storage": "postgresql",
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer events, under a minute")
    parser.add_argument("--vens", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    args = parser.parse_args()
    events, polls = (3, 1) if args.quick else (10, 3)
    result = asyncio.run(run(args.vens, events, polls, args.poll_interval))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
