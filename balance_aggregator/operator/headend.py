"""The head-end in the operator API: concentrators (admins register and remove them), their
meters with assignment and position, VEE counts per meter, field alarms with filters, and
estimates on request (operators; marked and audited)."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from balance_aggregator.http.common import Problem
from balance_aggregator.services.headend import estimate_gaps
from balance_aggregator.services.headend.worker import FLAGS
from balance_aggregator.storage import Storage
from balance_aggregator.storage.headend import (
    Concentrator,
    FieldAlarm,
    HeadendStore,
    meter_name,
)
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
#: a concentrator's meter list counts every estimated hour a meter has (they are few)
ALL_TIME = 2**53


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class HeadendApi:
    def __init__(self, api: OperatorApi) -> None:
        self.api = api

    @property
    def store(self) -> HeadendStore:
        return self.api.storage.headend()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(PREFIX + "/concentrators", self.concentrators)
        r.add_post(PREFIX + "/concentrators", self.add)
        r.add_delete(PREFIX + "/concentrators/{name}", self.remove)
        r.add_get(PREFIX + "/concentrators/{name}/meters", self.meters)
        r.add_get(PREFIX + "/headend/vee", self.vee)
        r.add_get(PREFIX + "/headend/alarms", self.alarms)
        r.add_post(PREFIX + "/headend/estimate", self.estimate)

    async def _visible(self, op: Operator) -> list[tuple[Concentrator, StoredNode | None]]:
        """The concentrators this operator sees, with their grid node: a scoped operator sees
        those on a node of their subtree, an unscoped one all."""
        out: list[tuple[Concentrator, StoredNode | None]] = []
        for c in await self.store.list_concentrators():
            node = None if c.node_id is None else await self.api.storage.grid().get_node(c.node_id)
            if op.scope is not None and (node is None or not op.sees(node)):
                continue
            out.append((c, node))
        return out

    async def concentrators(self, request: web.Request) -> web.Response:
        op = await self.api._operator(request)
        vee = await self.store.vee_counts()
        meters = await self.store.list_meters()
        offline = {
            a.concentrator_id
            for a in await self.store.alarms(kind="concentrator_offline", open_only=True)
        }
        now = time.time()
        out = []
        for c, node in await self._visible(op):
            mine = [m for m in meters if m.concentrator_id == c.id]
            served = c.lease_until > now
            out.append(
                asdict(c)
                | {
                    "serial": None if c.serial is None else f"{c.serial:08X}",
                    "lease_owner": c.lease_owner if served else None,
                    # online: a head-end process serves it and its link is up
                    "status": "online"
                    if served and c.state == "connected" and c.id not in offline
                    else "offline",
                    "last_heard": _iso(c.last_seen),
                    "node_name": None if node is None else node.name,
                    "modules": len(await self.store.list_modules(c.id)),
                    "meters": len(mine),
                    "unassigned": sum(m.grid_meter_id is None for m in mine),
                    "rejected": sum(
                        v.count for v in vee if v.concentrator_id == c.id and v.rule not in FLAGS
                    ),
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
        op = await self.api._operator(request)
        name = request.match_info["name"]
        if name not in {c.id for c, _ in await self._visible(op)}:
            raise Problem(404, "Not Found", "no such concentrator")
        rows = await self.store.list_meters(name)
        vee: dict[str, dict[str, int]] = {}
        for v in await self.store.vee_counts(name):
            vee.setdefault(meter_name(v.module_serial, v.channel), {})[v.rule] = v.count
        estimated: dict[str, int] = {}
        for resource, _ in await self.store.estimated_hours(0, ALL_TIME):
            estimated[resource] = estimated.get(resource, 0) + 1
        grid_meters = {m.id: m for m in await self.api.storage.grid().list_meters("")}
        out = []
        for m in rows:
            key = meter_name(m.module_serial, m.channel)
            gm = grid_meters.get(m.grid_meter_id or "")
            rules = vee.get(key, {})
            out.append(
                asdict(m)
                | {
                    "meter": key,
                    "assignment": m.grid_meter_id or "unassigned",
                    "role": None if gm is None else gm.role,
                    "grid_node": None if gm is None else gm.node_id,
                    "last_hour": None if m.counter_hour is None else _iso(m.counter_hour * 3600),
                    "vee": rules,
                    "rejected": sum(n for rule, n in rules.items() if rule not in FLAGS),
                    "flags": sorted(rule for rule in rules if rule in FLAGS and rule != "gap"),
                    "estimated_hours": estimated.get(key, 0),
                }
            )
        return web.json_response({"concentrator": name, "meters": out})

    async def vee(self, request: web.Request) -> web.Response:
        await self.api._operator(request)
        rows = await self.store.vee_counts(request.query.get("concentrator"))
        return web.json_response(
            {"vee": [asdict(v) | {"meter": f"{v.module_serial:08X}/{v.channel}"} for v in rows]}
        )

    async def alarms(self, request: web.Request) -> web.Response:
        op = await self.api._operator(request)
        q = request.query
        rows = await self.field_alarms(
            op,
            "" if op.scope is None else op.scope.path,
            concentrator_id=q.get("concentrator"),
            kind=q.get("kind"),
            severity=q.get("severity"),
            open_only=q.get("open") in ("1", "true"),
        )
        return web.json_response({"alarms": rows})

    async def field_alarms(
        self,
        op: Operator,
        prefix: str,
        *,
        start: float | None = None,
        end: float | None = None,
        concentrator_id: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        open_only: bool = False,
    ) -> list[dict[str, Any]]:
        """The field alarms of the concentrators on nodes under ``prefix`` (every one for ""),
        open at some time in [start, end), in the shape of the operator's alarm list."""
        where = {
            c.id: node
            for c, node in await self._visible(op)
            if (node.path.startswith(prefix) if node is not None else prefix == "")
        }
        rows = await self.store.alarms(
            concentrator_id=concentrator_id, kind=kind, severity=severity, open_only=open_only
        )
        return [
            _alarm_json(a, where[a.concentrator_id])
            for a in rows
            if a.concentrator_id in where
            and (end is None or a.since < end)
            and (start is None or a.cleared is None or a.cleared >= start)
        ]

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


def _alarm_json(a: FieldAlarm, node: StoredNode | None) -> dict[str, Any]:
    if a.module_serial == 0:
        at = a.concentrator_id
    elif a.channel < 0:
        at = f"module {a.module_serial:08X}"
    else:
        at = f"meter {meter_name(a.module_serial, a.channel)}"
    return {
        "source": "field",
        "id": a.id,
        "node": None if node is None else node.id,
        "node_name": a.concentrator_id if node is None else node.name,
        "path": None if node is None else node.path,
        "day": datetime.fromtimestamp(a.since, UTC).date().isoformat(),
        "kind": a.kind,
        "severity": a.severity,
        "since": _iso(a.since),
        "cleared": _iso(a.cleared),
        "open": a.cleared is None,
        "concentrator": a.concentrator_id,
        "meter": None
        if a.module_serial == 0
        else (
            f"{a.module_serial:08X}" if a.channel < 0 else meter_name(a.module_serial, a.channel)
        ),
        "message": f"{a.kind.replace('_', ' ')}: {at} on {a.concentrator_id}"
        + (f" ({a.detail})" if a.detail and a.kind != "unassigned_meter" else ""),
    }
