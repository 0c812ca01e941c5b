"""Grid subcommands of ``python -m balance_aggregator``: hierarchy import/export, attaching a
VEN's meter to a node, operator users, balance roll-ups and the demo seed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from balance_aggregator.grid.model import USER_ROLES
from balance_aggregator.storage import Storage, open_storage
from balance_grid.hierarchy import (
    METER_ROLES,
    PHASES,
    GridMeter,
    HierarchyError,
    parse_csv,
    parse_json,
    to_csv,
    to_json,
)

COMMANDS = ("seed-demo", "grid-import", "grid-export", "grid-attach", "user-add", "grid-rollup")


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    seed = sub.add_parser("seed-demo", help="demo feeder with thieves, readings, DR group, login")
    common(seed)
    seed.add_argument("--houses", type=int, default=100)
    seed.add_argument("--thieves", type=int, default=2)
    seed.add_argument("--days", type=int, default=30)
    seed.add_argument("--username", default="operator")
    seed.add_argument("--password", help="the login's password (default: a new random one)")
    imp = sub.add_parser("grid-import", help="import a hierarchy (CSV or JSON, by extension)")
    common(imp)
    imp.add_argument("file")
    exp = sub.add_parser("grid-export", help="print the hierarchy as CSV or JSON")
    common(exp)
    exp.add_argument("--format", choices=("csv", "json"), default="csv")
    attach = sub.add_parser("grid-attach", help="hang a VEN's meter (resource) on a node")
    common(attach)
    attach.add_argument("--node", required=True)
    attach.add_argument("--ven", required=True, help="VEN id or venName")
    attach.add_argument("--resource", required=True, help="the resourceName its reports use")
    attach.add_argument("--role", choices=METER_ROLES, default="subscriber")
    attach.add_argument("--phase", choices=PHASES)
    attach.add_argument("--id", help="meter id (default NODE-RESOURCE)")
    user = sub.add_parser("user-add", help="create or re-key an operator login; prints it")
    common(user)
    user.add_argument("username")
    user.add_argument("--role", choices=USER_ROLES, required=True)
    user.add_argument("--scope", help="node id of the subtree the user sees (default: all)")
    user.add_argument("--password", help="default: a new random one")
    rollup = sub.add_parser("grid-rollup", help="materialise hourly balances of every node")
    common(rollup)
    rollup.add_argument("--start", help="RFC 3339 (default: 24 h before --end)")
    rollup.add_argument("--end", help="RFC 3339 (default: the next full hour)")
    rollup.add_argument(
        "--rebuild",
        action="store_true",
        help="first recompute the window's per-house sums from the readings (a repair)",
    )


async def _with_storage[T](url: str, work: Callable[[Storage], Awaitable[T]]) -> T:
    storage = open_storage(url)
    await storage.open()
    try:
        return await work(storage)
    finally:
        await storage.close()


async def _attach(storage: Storage, args: argparse.Namespace) -> dict[str, Any]:
    from balance_aggregator.operator.api import resolve_ven_id

    ven_id = await resolve_ven_id(storage, args.ven)
    meter = GridMeter(
        args.id or f"{args.node}-{args.resource}",
        args.node,
        args.role,
        args.phase,
        ven_id,
        args.resource,
    )
    _, meters = parse_json(json.dumps(to_json([], [meter])))
    await storage.grid().import_hierarchy([], meters)
    return {"meter": meter.id, "node": meter.node_id, "ven_id": ven_id, "resource": args.resource}


async def _user(storage: Storage, args: argparse.Namespace) -> dict[str, Any]:
    from balance_aggregator.operator.auth import save_user

    user, password = await save_user(
        storage.grid(), args.username, args.role, args.scope, args.password
    )
    return {
        "username": user.username,
        "role": user.role,
        "scope": user.scope_node_id,
        "password": password,
    }


async def _export(storage: Storage, fmt: str) -> str:
    grid = storage.grid()
    nodes, meters = await grid.list_nodes(""), await grid.list_meters("")
    return to_csv(nodes, meters) if fmt == "csv" else json.dumps(to_json(nodes, meters), indent=1)


def _window(args: argparse.Namespace) -> tuple[int, int]:
    from balance_openadr.times import parse_datetime

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    end = parse_datetime(args.end) if args.end else now
    start = parse_datetime(args.start) if args.start else end - timedelta(days=1)
    return int(start.timestamp()), int(end.timestamp())


def run(args: argparse.Namespace, db: str) -> int:
    """Run one grid subcommand; prints one JSON object (or the export) and returns the exit code."""
    try:
        if args.command == "seed-demo":
            from .demo import DemoResult, seed_demo

            async def seed(storage: Storage) -> DemoResult:
                return await seed_demo(
                    storage,
                    houses=args.houses,
                    thieves=args.thieves,
                    days=args.days,
                    username=args.username,
                    password=args.password,
                )

            result = asyncio.run(_with_storage(db, seed))
            print(
                json.dumps(
                    {
                        "url": "/ui/",
                        "username": result.username,
                        "password": result.password,
                        "role": result.role,
                        "houses": result.houses,
                        "readings": result.readings,
                        "thieves": result.thieves,
                        "dr_target": result.target,
                        "target": result.target,
                        "street": result.street,
                    }
                )
            )
        elif args.command == "grid-import":
            text = Path(args.file).read_text(encoding="utf-8")
            nodes, meters = parse_json(text) if args.file.endswith(".json") else parse_csv(text)

            async def load(storage: Storage) -> tuple[int, int]:
                return await storage.grid().import_hierarchy(nodes, meters)

            count = asyncio.run(_with_storage(db, load))
            print(json.dumps({"nodes": count[0], "meters": count[1]}))
        elif args.command == "grid-export":
            sys.stdout.write(asyncio.run(_with_storage(db, lambda s: _export(s, args.format))))
        elif args.command == "grid-attach":
            print(json.dumps(asyncio.run(_with_storage(db, lambda s: _attach(s, args)))))
        elif args.command == "user-add":
            print(json.dumps(asyncio.run(_with_storage(db, lambda s: _user(s, args)))))
        else:
            start, end = _window(args)
            started = time.perf_counter()

            async def roll(storage: Storage) -> dict[str, int]:
                grid = storage.grid()
                rebuilt = await grid.rebuild_leaf_sums(start, end) if args.rebuild else None
                done = {"rows": await grid.rollup(start, end)}
                return done if rebuilt is None else done | {"leaf_rows_rebuilt": rebuilt}

            done = asyncio.run(_with_storage(db, roll))
            print(json.dumps(done | {"seconds": round(time.perf_counter() - started, 3)}))
    except (HierarchyError, ValueError, OSError) as err:
        print(json.dumps({"error": str(err)}), file=sys.stderr)
        return 2
    return 0
