"""``python -m balance_aggregator serve|migrate|client-add|client-remove``, the grid commands
(seed-demo, grid-import, grid-export, grid-attach, user-add, grid-rollup) and the head-end's
(concentrator add|list|remove, headend, headend-estimate)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time

from aiohttp import web

from .auth import MIN_SECRET_LENGTH, hash_secret, new_secret
from .cli import grid as grid_cli
from .cli import headend as headend_cli
from .config import Settings
from .logs import configure_logging
from .storage import Client, open_storage
from .vtn import Vtn

_LOGGER = logging.getLogger("balance_aggregator")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        args.config,
        db=args.db,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


async def _serve(settings: Settings) -> None:
    vtn = Vtn(settings, open_storage(settings.db))
    await vtn.start()
    runner = vtn.runner()
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else settings.port
    _LOGGER.info(
        "vtn listening",
        extra={
            "host": settings.host,
            "bound_port": bound,
            "db": settings.db.split("@")[-1].split("?")[0],
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        _LOGGER.info("vtn stopping")
        await runner.cleanup()
        await vtn.stop()


async def _migrate(settings: Settings) -> int:
    storage = open_storage(settings.db)
    await storage.open()
    try:
        return await storage.schema_version()
    finally:
        await storage.close()


async def _client_add(settings: Settings, client_id: str, role: str, secret: str | None) -> str:
    secret = secret or new_secret()
    if len(secret) < MIN_SECRET_LENGTH:
        raise SystemExit(f"a client secret needs at least {MIN_SECRET_LENGTH} characters")
    storage = open_storage(settings.db)
    await storage.open()
    try:
        await storage.put_client(Client(client_id, hash_secret(secret), role, time.time()))
    finally:
        await storage.close()
    return secret


async def _client_remove(settings: Settings, client_id: str) -> bool:
    storage = open_storage(settings.db)
    await storage.open()
    try:
        return await storage.delete_client(client_id)
    finally:
        await storage.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="balance_aggregator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="TOML file ([vtn] table or top level)")
        p.add_argument("--db", help="sqlite:///path.db or postgresql://... (overrides config)")

    serve = sub.add_parser("serve", help="run the VTN (migrates the database first)")
    common(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    migrate = sub.add_parser("migrate", help="bring the database schema up to date and exit")
    common(migrate)
    add = sub.add_parser("client-add", help="create or re-key an OAuth2 client; prints the secret")
    common(add)
    add.add_argument("client_id")
    add.add_argument("--role", choices=("bl", "ven"), required=True)
    add.add_argument(
        "--secret", help="use this secret (at least 32 characters) instead of a new one"
    )
    remove = sub.add_parser("client-remove", help="delete an OAuth2 client")
    common(remove)
    remove.add_argument("client_id")
    grid_cli.add_commands(sub, common)
    headend_cli.add_commands(sub, common)
    args = parser.parse_args(argv)
    settings = _settings(args)
    configure_logging(settings.log_level)
    if args.command in grid_cli.COMMANDS:
        return grid_cli.run(args, settings.db)
    if args.command in headend_cli.COMMANDS:
        return headend_cli.run(args, settings)
    if args.command == "serve":
        asyncio.run(_serve(settings))
        return 0
    if args.command == "migrate":
        version = asyncio.run(_migrate(settings))
        print(json.dumps({"schema": version}))
        return 0
    if args.command == "client-add":
        secret = asyncio.run(_client_add(settings, args.client_id, args.role, args.secret))
        print(json.dumps({"client_id": args.client_id, "role": args.role, "client_secret": secret}))
        return 0
    removed = asyncio.run(_client_remove(settings, args.client_id))
    print(json.dumps({"client_id": args.client_id, "removed": removed}))
    return 0 if removed else 1


if __name__ == "__main__":
    sys.exit(main())
