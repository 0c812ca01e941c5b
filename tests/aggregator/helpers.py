"""Bodies and small servers the aggregator tests share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

DAY = datetime(2026, 1, 15, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def usage_report(
    event_id: str,
    meters: dict[str, list[float]],
    *,
    start: datetime = DAY,
    payload_type: str = "USAGE",
    units: str = "KWH",
) -> dict[str, Any]:
    """A VEN report of hourly usage, one resource per meter."""
    return {
        "eventID": event_id,
        "clientName": "house",
        "reportName": "hourly usage",
        "payloadDescriptors": [
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": payload_type,
                "readingType": "DIRECT_READ",
                "units": units,
            }
        ],
        "resources": [
            {
                "resourceName": meter,
                "intervalPeriod": {"start": iso(start), "duration": "PT1H"},
                "intervals": [
                    {"id": i, "payloads": [{"type": payload_type, "values": [value]}]}
                    for i, value in enumerate(values)
                ],
            }
            for meter, values in meters.items()
        ],
    }


def simple_event(program_id: str, level: int, targets: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programID": program_id,
        "eventName": f"shed level {level}",
        "intervalPeriod": {"start": iso(datetime.now(UTC)), "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [level]}]}],
    }
    if targets is not None:
        body["targets"] = targets
    return body


def past_event(program_id: str) -> dict[str, Any]:
    return {
        "programID": program_id,
        "intervalPeriod": {"start": iso(DAY - timedelta(days=30)), "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}],
    }


@dataclass
class CallbackServer:
    """A webhook receiver: answers the echo challenge, records notifications."""

    url: str = ""
    echo_ok: bool = True
    fail_first: int = 0
    posts: int = 0
    received: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    auth_headers: list[str] = field(default_factory=list)

    async def handle_get(self, request: web.Request) -> web.Response:
        echo = request.query.get("echo", "")
        return web.Response(text=echo if self.echo_ok else "nope")

    async def handle_post(self, request: web.Request) -> web.Response:
        self.posts += 1
        if self.posts <= self.fail_first:
            return web.Response(status=503)
        self.auth_headers.append(request.headers.get("Authorization", ""))
        await self.received.put(await request.json())
        return web.Response(text="ok")


@asynccontextmanager
async def callback_server(**options: Any) -> AsyncIterator[CallbackServer]:
    server = CallbackServer(**options)
    app = web.Application()
    app.router.add_get("/hook", server.handle_get)
    app.router.add_post("/hook", server.handle_post)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield server
    finally:
        await runner.cleanup()
