"""Hourly readings into the aggregator's readings store: PostgreSQL (COPY) and SQLite.

The utility case is one wave an hour: every meter's last hour arrives in VEN reports. The
benchmark registers the meters (a first wave, timed separately because it also creates the meter
rows), then times steady waves: each wave is the batches the VTN writes for the reports of many
houses (``Storage.ingest_readings``, the same call report ingest makes, one transaction a batch).
PostgreSQL is written by concurrent writers as several VTN workers would; SQLite has one writer.

A second figure goes through the whole HTTP path (token, JSON, validation, report object and its
readings in one transaction) with VEN reports of 24 hourly values for 10 meters each.

Rates are medians over the waves. Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# run as a script from a checkout without an editable install, as `make bench` may
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from balance_aggregator.storage import ReadingRow, Storage, open_storage

PG = os.environ.get("BALANCE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wave(meters: int, hour: int, houses_per_batch: int) -> list[list[ReadingRow]]:
    """One hour of every meter, cut into batches of ``houses_per_batch`` houses (3 meters each)."""
    rows = [
        ReadingRow(
            f"ven-{m // 3}", f"meter-{m % 3}", "electricity", "KWH", hour, 0.1 + (m % 97) / 100, "b"
        )
        for m in range(meters)
    ]
    size = houses_per_batch * 3
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def ingest(storage: Storage, batches: list[list[ReadingRow]], writers: int) -> float:
    queue: asyncio.Queue[list[ReadingRow]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def writer() -> None:
        while not queue.empty():
            await storage.ingest_readings(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - started


async def measure_store(url: str, meters: int, waves: int, writers: int) -> dict[str, float]:
    storage = open_storage(url)
    await storage.open()
    try:
        first = wave(meters, START, 2000)
        elapsed = await ingest(storage, first, writers)
        first_rate = meters / elapsed
        name = url.split(":", maxsplit=1)[0]
        log(f"{name}: first wave (registers {meters} meters) {first_rate:,.0f}/s")
        rates = []
        for n in range(1, waves + 1):
            batches = wave(meters, START + n * 3600, 2000)
            elapsed = await ingest(storage, batches, writers)
            rates.append(meters / elapsed)
            log(f"{name}: wave {n}: {rates[-1]:,.0f} readings/s")
        again = await ingest(storage, wave(meters, START + 3600, 2000), writers)
        assert await storage.count_readings() == meters * (waves + 1)
        log(f"{name}: re-sent wave {meters / again:,.0f} readings/s, nothing added")
        return {"steady": statistics.median(rates), "first": first_rate}
    finally:
        if url.startswith("postgresql"):
            from balance_aggregator.storage.postgres import PostgresStorage

            assert isinstance(storage, PostgresStorage)
            await storage.drop_schema()
        else:
            await storage.close()


async def measure_http(url: str, reports: int) -> float:
    """Readings/s through POST /reports: 10 meters x 24 hours per report, 8 VENs at once."""
    import aiohttp
    from aiohttp import web

    from balance_aggregator.auth import hash_secret
    from balance_aggregator.config import Settings
    from balance_aggregator.storage import Client
    from balance_aggregator.vtn import Vtn
    from balance_openadr.client import VenClient

    vtn = Vtn(Settings(db=url, mqtt_host="", rate_limit_burst=10**9), open_storage(url))
    await vtn.start()
    runner = vtn.runner()
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            secret = secrets.token_urlsafe(32)
            await vtn.storage.put_client(Client("bl", hash_secret(secret), "bl", time.time()))
            bl = VenClient(base, "bl", secret, session=session)
            pid = (await bl.request("POST", "/programs", json_body={"programName": "m"}))["id"]
            event = await bl.request("POST", "/events", json_body={"programID": pid})
            vens = []
            for n in range(8):
                await vtn.storage.put_client(
                    Client(f"ven-{n}", hash_secret(secret), "ven", time.time())
                )
                vens.append(VenClient(base, f"ven-{n}", secret, session=session))
            day = datetime(2026, 2, 1, tzinfo=UTC)

            def body(n: int) -> dict[str, object]:
                start = (day + timedelta(days=n)).isoformat().replace("+00:00", "Z")
                return {
                    "eventID": event["id"],
                    "clientName": "bench",
                    "payloadDescriptors": [
                        {
                            "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                            "payloadType": "USAGE",
                            "units": "KWH",
                        }
                    ],
                    "resources": [
                        {
                            "resourceName": f"meter-{m}",
                            "intervalPeriod": {"start": start, "duration": "PT1H"},
                            "intervals": [
                                {"id": h, "payloads": [{"type": "USAGE", "values": [0.5]}]}
                                for h in range(24)
                            ],
                        }
                        for m in range(10)
                    ],
                }

            async def sender(ven: VenClient, numbers: range) -> None:
                for n in numbers:
                    await ven.send_report(body(n))

            per = reports // len(vens)
            started = time.perf_counter()
            await asyncio.gather(
                *(sender(v, range(i * per, (i + 1) * per)) for i, v in enumerate(vens))
            )
            elapsed = time.perf_counter() - started
            return per * len(vens) * 240 / elapsed
    finally:
        await runner.cleanup()
        await vtn.stop()


async def run(quick: bool) -> dict[str, object]:
    meters = 60_000 if quick else 600_000
    waves = 3 if quick else 5
    pg_url = f"{PG}?schema=bench_ingest_{secrets.token_hex(4)}"
    pg = await measure_store(pg_url, meters, waves, writers=3)
    with tempfile.TemporaryDirectory() as tmp:
        lite = await measure_store(f"sqlite:///{tmp}/bench.db", meters, waves, writers=1)
        http_sqlite = await measure_http(f"sqlite:///{tmp}/http.db", 80 if quick else 400)
    http_pg_url = f"{PG}?schema=bench_http_{secrets.token_hex(4)}"
    try:
        http_pg = await measure_http(http_pg_url, 80 if quick else 400)
    finally:
        from balance_aggregator.storage.postgres import PostgresStorage

        await PostgresStorage(http_pg_url).drop_schema()
    log(f"HTTP reports: PostgreSQL {http_pg:,.0f} readings/s, SQLite {http_sqlite:,.0f}/s")
    return {
        "postgres_readings_per_s": round(pg["steady"]),
        "sqlite_readings_per_s": round(lite["steady"]),
        "postgres_first_wave_readings_per_s": round(pg["first"]),
        "sqlite_first_wave_readings_per_s": round(lite["first"]),
        "http_postgres_readings_per_s": round(http_pg),
        "http_sqlite_readings_per_s": round(http_sqlite),
        "meters": meters,
        "waves": waves,
        "postgres_writers": 3,
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="60,000 meters, under a minute")
    args = parser.parse_args()
    result = asyncio.run(run(args.quick))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
