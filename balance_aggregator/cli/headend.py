"""Head-end subcommands of ``python -m balance_aggregator``: ``concentrator add|list|remove``,
``headend`` (run the head-end alone, as one of any number of processes) and
``headend-estimate`` (fill a meter's gaps with marked, audited estimates)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from balance_aggregator.config import Settings
from balance_aggregator.services.headend import (
    HeadendService,
    estimate_gaps,
    settings_of,
)
from balance_aggregator.storage import Storage, open_storage
from balance_aggregator.storage.headend import Concentrator

COMMANDS = ("concentrator", "headend", "headend-estimate")
log = logging.getLogger("balance_aggregator.headend")


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    conc = sub.add_parser("concentrator", help="register, list or remove DMesh concentrators")
    action = conc.add_subparsers(dest="action", required=True)
    add = action.add_parser("add", help="register a concentrator the head-end reads")
    common(add)
    add.add_argument("name")
    add.add_argument("url", help="socket://host:port (TCP/GPRS bridge) or a serial device")
    add.add_argument("--node", help="the grid node it serves")
    add.add_argument(
        "--backfill-hours",
        type=int,
        default=24,
        help="hours before now the first backlog asks for (modules keep 45 days)",
    )
    lst = action.add_parser("list", help="concentrators with lease, state and meter counts")
    common(lst)
    rm = action.add_parser("remove", help="stop reading a concentrator (readings stay)")
    common(rm)
    rm.add_argument("name")
    run = sub.add_parser("headend", help="run the head-end alone (any number, sharing the list)")
    common(run)
    est = sub.add_parser("headend-estimate", help="estimate a head-end meter's missing hours")
    common(est)
    est.add_argument("meter", help="SSSSSSSS/c: module serial (hex) and channel")
    est.add_argument("--start-hour", type=int, required=True, help="unix hour index")
    est.add_argument("--end-hour", type=int, required=True)
    est.add_argument("--actor", default="cli")


async def _with_storage[T](db: str, fn: Callable[[Storage], Any]) -> T:
    storage = open_storage(db)
    await storage.open()
    try:
        result: T = await fn(storage)
        return result
    finally:
        await storage.close()


async def _list(storage: Storage) -> list[dict[str, Any]]:
    store = storage.headend()
    meters = await store.list_meters()
    vee = await store.vee_counts()
    out = []
    for c in await store.list_concentrators():
        mine = [m for m in meters if m.concentrator_id == c.id]
        out.append(
            {
                "name": c.id,
                "url": c.url,
                "node": c.node_id,
                "serial": None if c.serial is None else f"{c.serial:08X}",
                "state": c.state,
                "lease_owner": c.lease_owner if c.lease_until > time.time() else None,
                "meters": len(mine),
                "unassigned": sum(m.grid_meter_id is None for m in mine),
                "rejected": sum(v.count for v in vee if v.concentrator_id == c.id),
            }
        )
    return out


async def run_headend(settings: Settings) -> None:
    """The head-end as its own process, until SIGINT/SIGTERM."""
    storage = open_storage(settings.db)
    await storage.open()
    service = HeadendService(storage, settings_of(settings))
    service.start()
    log.info("head-end running", extra={"headend_process": service.process_id})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await service.stop()
        await storage.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    db = settings.db
    if args.command == "headend":
        asyncio.run(run_headend(settings))
        return 0
    if args.command == "headend-estimate":
        serial_text, _, channel_text = args.meter.partition("/")
        serial, channel = int(serial_text, 16), int(channel_text or "0")

        async def estimate(storage: Storage) -> int:
            meters = [
                m
                for m in await storage.headend().list_meters()
                if (m.module_serial, m.channel) == (serial, channel)
            ]
            if not meters:
                raise SystemExit(f"no head-end meter {args.meter}")
            return await estimate_gaps(
                storage, meters[0], args.start_hour, args.end_hour, args.actor
            )

        written: int = asyncio.run(_with_storage(db, estimate))
        print(json.dumps({"meter": args.meter, "estimated_hours": written}))
        return 0
    if args.action == "add":
        now = time.time()
        c = Concentrator(
            args.name, args.url, args.node, now, int(now // 3600) - args.backfill_hours
        )

        async def add(storage: Storage) -> bool:
            return await storage.headend().add_concentrator(c)

        ok: bool = asyncio.run(_with_storage(db, add))
        print(json.dumps({"name": args.name, "url": args.url, "added": ok}))
        return 0 if ok else 1
    if args.action == "list":
        rows: list[dict[str, Any]] = asyncio.run(_with_storage(db, _list))
        print(json.dumps({"concentrators": rows}))
        return 0

    async def remove(storage: Storage) -> bool:
        return await storage.headend().remove_concentrator(args.name)

    removed: bool = asyncio.run(_with_storage(db, remove))
    print(json.dumps({"name": args.name, "removed": removed}))
    return 0 if removed else 1
