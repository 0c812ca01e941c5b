"""Head-end benchmark: simulated concentrators on loopback sockets, 24 simulated hours at speed,
20 % of the concentrators offline for 6 h and back; every meter-hour checked against the modules'
own counters.

    python benchmarks/headend.py [--quick] [--db postgresql://postgres@127.0.0.1/test]

Prints one JSON object: meter_hours_expected, meter_hours_stored, gaps, duplicates, wrong,
catch_up_s, cpu_s_per_1000_meter_hours, rejected_readings; then, on PostgreSQL (``--pg``), two
``python -m balance_aggregator headend`` processes share a few streets and one is killed with
SIGKILL mid-run (the same harness as tests/aggregator/test_headend_leases.py):
gaps_after_kill, duplicates_after_kill, wrong_after_kill, takeover_s (real seconds from the kill
until none of the dead process's leases is left, with a 3 s lease).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from balance_aggregator.services.headend import HeadendService, HeadendSettings, WorkerSettings
from balance_aggregator.storage import open_storage
from balance_aggregator.storage.headend import Concentrator
from tests.aggregator.headend_harness import HOUR, START, sigkill_run, street

START_HOUR = int(START // HOUR)


async def main(args: argparse.Namespace) -> dict[str, object]:
    n = 13 if args.quick else 125
    modules = 80
    hours = 24
    db = args.db
    tmp = tempfile.mkdtemp()
    if db is None:
        db = f"sqlite:///{tmp}/headend.db"
    elif db.startswith("postgres"):
        db += ("&" if "?" in db else "?") + f"schema=bench_headend_{secrets.token_hex(4)}"
    storage = open_storage(db)
    await storage.open()
    streets = [street(modules=modules, index=i, home=False, consumption=False) for i in range(n)]
    for s in streets:
        await s.up()
    for i, s in enumerate(streets):
        await storage.headend().add_concentrator(
            Concentrator(f"c{i:03d}", s.url, None, 0.0, START_HOUR)
        )
    service = HeadendService(
        storage,
        HeadendSettings(
            lease_s=30.0,
            # the streets' frames carry simulated time; the field client checks them against it
            worker=WorkerSettings(sync_time=False, catchup_s=5.0, host_clock=streets[0].clock.now),
        ),
    )
    service.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def reached(hour: int, only: list[int] | None = None) -> None:
        while True:
            meters = await storage.headend().list_meters()
            done = len(meters) == n * modules * 3 and all(
                m.counter_hour is not None and m.counter_hour >= hour for m in meters
            )
            if done:
                return
            await asyncio.sleep(0.2)

    offline = streets[: max(1, n // 5)]
    catch_up_s = 0.0
    for hour in range(1, hours + 1):
        if hour == 6:
            for s in offline:
                await s.down()
        if hour == 12:
            for s in offline:
                await s.up()
            t0 = time.perf_counter()
        for s in streets:
            s.set_time(START + hour * HOUR)
        if 6 <= hour < 12:
            await asyncio.sleep(0.3)
            continue
        await reached(START_HOUR + hour)
        if hour == 12:
            catch_up_s = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    await service.stop()
    expected = stored = gaps = duplicates = wrong = 0
    store = storage.headend()
    for s in streets:
        for serial in s.meter_serials():
            for ch in range(3):
                rows = await store.meter_hours(serial, ch, START_HOUR, START_HOUR + hours)
                seen = [r.hour // HOUR for r in rows]
                expected += hours
                stored += len(set(seen))
                duplicates += len(seen) - len(set(seen))
                gaps += hours - len(set(seen))
                for r in rows:
                    want = s.expected(serial, ch, r.hour // HOUR)
                    if want is None or abs(want - r.value) > 1e-9:
                        wrong += 1
    rejected = sum(v.count for v in await store.vee_counts() if v.rule != "gap")
    for s in streets:
        await s.down()
    await storage.close()
    await drop(db)
    kill = await kill_run(args.pg, quick=args.quick)
    return {
        "concentrators": n,
        "modules": n * modules,
        "db": db.split(":", 1)[0],
        "meter_hours_expected": expected,
        "meter_hours_stored": stored,
        "gaps": gaps,
        "duplicates": duplicates,
        "wrong": wrong,
        "catch_up_s": round(catch_up_s, 2),
        "wall_s": round(wall, 1),
        "cpu_s_per_1000_meter_hours": round(1000 * cpu / max(1, stored), 4),
        "rejected_readings": rejected,
        **kill,
    }


async def drop(db: str) -> None:
    if db.startswith("postgres"):
        from balance_aggregator.storage.postgres import PostgresStorage

        await PostgresStorage(db).drop_schema()


async def kill_run(pg: str, *, quick: bool) -> dict[str, object]:
    """Two head-end processes on PostgreSQL, one SIGKILLed once both serve; 4 simulated hours on."""
    n, modules, since, after = (4, 10, START_HOUR - 6, 2) if quick else (10, 40, START_HOUR - 24, 4)
    db = pg + ("&" if "?" in pg else "?") + f"schema=bench_headend_kill_{secrets.token_hex(4)}"
    storage = open_storage(db)
    await storage.open()
    streets = [
        street(modules=modules, index=i, home=False, consumption=False, seed=11) for i in range(n)
    ]
    try:
        for i, s in enumerate(streets):
            await s.up()
            await storage.headend().add_concentrator(Concentrator(f"c{i}", s.url, None, 0.0, since))
        run = await sigkill_run(storage, streets, db, since, hours_after=after, within=600)
    finally:
        for s in streets:
            await s.down()
        await storage.close()
        await drop(db)
    return {
        "kill_concentrators": n,
        "kill_modules": n * modules,
        "meter_hours_after_kill_expected": run.expected,
        "gaps_after_kill": run.gaps,
        "duplicates_after_kill": run.duplicates,
        "wrong_after_kill": run.wrong,
        "takeover_s": round(run.takeover_s, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--db")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
