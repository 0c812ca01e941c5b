"""The head-end in the operator API: concentrators (admins register and remove them), their
meters with assignment and position, VEE counts per meter, field alarms with filters, and
estimates on request (operators; marked and audited)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Protocol

from aiohttp import web

from balance_aggregator.http.common import Problem
from balance_aggregator.services.headend import estimate_gaps
from balance_aggregator.storage import Storage
from balance_aggregator.storage.headend import Concentrator, HeadendStore
from balance_grid.hierarchy import StoredNode

from .auth import Operator


class OperatorApi(Protocol):
    """What the head-end's handlers use of the operator API: its storage, sessions and bodies."""

    storage: Storage

    async def _operator(self, request: web.Request, *, write: bool = False) -> Operator: ...

    async def _node(self, operator: Operator, node_id: str) -> StoredNode: ...

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]: ...


PREFIX = "/operator/api"


class HeadendApi:
    def __init__(self, api: OperatorApi) -> None:
        self.api = api

    @property
    def store(self) -> HeadendStore:
        return self.api.storage.headend()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(PREFIX + "/concentrators", self.list)
        r.add_post(PREFIX + "/concentrators", self.add)
        r.add_delete(PREFIX + "/concentrators/{name}", self.remove)
        r.add_get(PREFIX + "/concentrators/{name}/meters", self.meters)
        r.add_get(PREFIX + "/headend/vee", self.vee)
        r.add_get(PREFIX + "/headend/alarms", self.alarms)
        r.add_post(PREFIX + "/headend/estimate", self.estimate)

    async def list(self, request: web.Request) -> web.Response:
        await self.api._operator(request)
        vee = await self.store.vee_counts()
        meters = await self.store.list_meters()
        now = time.time()
        out = []
        for c in await self.store.list_concentrators():
            mine = [m for m in meters if m.concentrator_id == c.id]
            out.append(
                asdict(c)
                | {
                    "serial": None if c.serial is None else f"{c.serial:08X}",
                    "lease_owner": c.lease_owner if c.lease_until > now else None,
                    "meters": len(mine),
                    "unassigned": sum(m.grid_meter_id is None for m in mine),
                    "rejected": sum(v.count for v in vee if v.concentrator_id == c.id),
                }
            )
        return web.json_response({"concentrators": out})

    async def add(self, request: web.Request) -> web.Response:
        op = await self.api._operator(request, write=True)
        if not op.is_admin:
            raise Problem(403, "Forbidden", "only an admin registers concentrators")
        body = await self.api._body(request)
        name, url = str(body.get("name", "")).strip(), str(body.get("url", "")).strip()
        if not name or not url:
            raise Problem(400, "Bad Request", "name and url are required")
        node = body.get("node")
        if node is not None:
            await self.api._node(op, str(node))
        now = time.time()
        backfill = int(body.get("backfill_hours", 24))
        c = Concentrator(name, url, node, now, int(now // 3600) - backfill)
        if not await self.store.add_concentrator(c):
            raise Problem(409, "Conflict", "a concentrator with this name or URL exists")
        return web.json_response(asdict(c), status=201)

    async def remove(self, request: web.Request) -> web.Response:
        op = await self.api._operator(request, write=True)
        if not op.is_admin:
            raise Problem(403, "Forbidden", "only an admin removes concentrators")
        if not await self.store.remove_concentrator(request.match_info["name"]):
            raise Problem(404, "Not Found", "no such concentrator")
        return web.json_response({"removed": request.match_info["name"]})

    async def meters(self, request: web.Request) -> web.Response:
        await self.api._operator(request)
        rows = await self.store.list_meters(request.match_info["name"])
        return web.json_response(
            {"meters": [asdict(m) | {"meter": f"{m.module_serial:08X}/{m.channel}"} for m in rows]}
        )

    async def vee(self, request: web.Request) -> web.Response:
        await self.api._operator(request)
        rows = await self.store.vee_counts(request.query.get("concentrator"))
        return web.json_response(
            {"vee": [asdict(v) | {"meter": f"{v.module_serial:08X}/{v.channel}"} for v in rows]}
        )

    async def alarms(self, request: web.Request) -> web.Response:
        await self.api._operator(request)
        q = request.query
        rows = await self.store.alarms(
            concentrator_id=q.get("concentrator"),
            kind=q.get("kind"),
            severity=q.get("severity"),
            open_only=q.get("open") in ("1", "true"),
        )
        return web.json_response({"alarms": [asdict(a) for a in rows]})

    async def estimate(self, request: web.Request) -> web.Response:
        op = await self.api._operator(request, write=True)
        body = await self.api._body(request)
        meter: Any = body.get("meter", "")
        serial_text, _, channel_text = str(meter).partition("/")
        try:
            key = (int(serial_text, 16), int(channel_text or "0"))
            start, end = int(body["start_hour"]), int(body["end_hour"])
        except (KeyError, ValueError) as err:
            raise Problem(400, "Bad Request", "meter SSSSSSSS/c, start_hour, end_hour") from err
        if not 0 < end - start <= 24 * 45:
            raise Problem(400, "Bad Request", "at most 45 days, end after start")
        found = [m for m in await self.store.list_meters() if (m.module_serial, m.channel) == key]
        if not found:
            raise Problem(404, "Not Found", "no such head-end meter")
        written = await estimate_gaps(
            self.api.storage, found[0], start, end, f"operator:{op.user.username}"
        )
        return web.json_response({"meter": meter, "estimated_hours": written})
