"""Print every decoded DMesh event as one JSON line: ``python -m dmesh_lib.monitor URL``.

For people debugging a real installation: pipe it to ``jq``, grep it, keep it as a log. Every
line has a ``type`` field (``meter_reading``, ``sensor_report``, ``unknown_frame``, ...).
Garbage on the line is counted, not fatal; a lost connection is retried.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any, TextIO

from .client import ConcentratorClient, ConnectionState, Event
from .transport import ConnectError


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def to_jsonable(value: Any) -> Any:
    """Messages and events as plain JSON: enums by name, bytes as hex, serials as hex strings."""
    if isinstance(value, Enum):
        return value.name.lower() if value.name else str(value.value)
    if isinstance(value, bytes):
        return value.hex()
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if f.name in ("serial", "module", "parent") and isinstance(item, int):
                out[f.name] = f"{item:08X}"
            else:
                out[f.name] = to_jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def event_line(event: Event) -> str:
    body = to_jsonable(event)
    return json.dumps({"type": _snake(type(event).__name__), **body}, ensure_ascii=False)


async def monitor(url: str, out: TextIO, *, stop: asyncio.Event | None = None) -> int:
    client = ConcentratorClient(url, sync_time=False)
    client.subscribe(lambda e: print(event_line(e), file=out, flush=True))

    def on_state(state: ConnectionState) -> None:
        print(
            json.dumps({"type": "connection", "state": state.value, "url": url}),
            file=out,
            flush=True,
        )

    client.on_connection_state(on_state)
    try:
        identity = await client.connect()
    except ConnectError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "type": "concentrator",
                "serial": f"{identity.serial:08X}",
                "firmware": identity.firmware,
                "subnet_id": identity.subnet_id,
                "modules": len(client.modules),
            }
        ),
        file=out,
        flush=True,
    )
    stop = stop or asyncio.Event()
    await stop.wait()
    stats = client.link_stats
    await client.close()
    print(json.dumps({"type": "link_stats", **stats}), file=out, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dmesh_lib.monitor", description=__doc__)
    parser.add_argument("url", help="serial device path or socket://host:port")
    args = parser.parse_args(argv)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        return await monitor(args.url, sys.stdout, stop=stop)

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
