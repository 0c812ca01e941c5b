"""Print every decoded DMesh event as one JSON line: ``python -m dmesh_lib.monitor URL``.

For people debugging a real installation: pipe it to ``jq``, grep it, keep it as a log. Every
line has a ``type`` field (``meter_reading``, ``sensor_report``, ``unknown_frame``, ...);
``rejected`` lines are events the client refused (dmesh_lib.validation), and on exit a
``rejections`` line counts them per reason, module and meter before the ``link_stats`` line.
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
import time
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any, TextIO

from .client import ConcentratorClient, ConnectionState, Event
from .transport import ConnectError
from .validation import GuardLimits


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


async def monitor(
    url: str,
    out: TextIO,
    *,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.time,
    limits: GuardLimits | None = None,
) -> int:
    client = ConcentratorClient(url, sync_time=False, clock=clock, limits=limits)
    client.subscribe(lambda e: print(event_line(e), file=out, flush=True))
    # What the guard refused is printed too: the point of a field tool is to see it.
    client.guard.on_rejection(
        lambda r: print(
            json.dumps({"type": "rejected", **to_jsonable(r)}, ensure_ascii=False),
            file=out,
            flush=True,
        )
    )

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
    rejections = client.guard.snapshot()
    rejections.pop("recent")
    print(json.dumps({"type": "rejections", **rejections}), file=out, flush=True)
    print(json.dumps({"type": "link_stats", **stats}), file=out, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dmesh_lib.monitor", description=__doc__)
    parser.add_argument("url", help="serial device path or socket://host:port")
    parser.add_argument(
        "--clock-skew",
        type=float,
        default=GuardLimits().max_future_s,
        metavar="S",
        help="how far report timestamps may run ahead of this host's clock before they are"
        " rejected (raise it for an accelerated simulator)",
    )
    args = parser.parse_args(argv)
    limits = GuardLimits(max_future_s=args.clock_skew)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        return await monitor(args.url, sys.stdout, stop=stop, limits=limits)

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
