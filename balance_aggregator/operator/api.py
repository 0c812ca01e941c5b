"""The operator page (/ui/) and its JSON API (/operator/api/), mounted on the VTN's application.

Every handler checks two things: the role (viewer reads, operator also runs DR, admin also edits
the hierarchy and users) and the scope (a node outside the user's subtree does not exist for
them: 404, never 403, so names of other districts do not leak).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from balance_aggregator.auth import BL_SCOPES, Principal
from balance_aggregator.grid import analysis
from balance_aggregator.http.common import Problem, TokenBucket
from balance_aggregator.services.objects import ObjectService
from balance_aggregator.storage import ObjectQuery, Storage, StoredObject
from balance_aggregator.storage.grid import GridStore
from balance_aggregator.storage.headend import HEADEND_VEN
from balance_grid.hierarchy import (
    GridMeter,
    HierarchyError,
    StoredNode,
    parse_csv,
    parse_json,
    to_csv,
    to_json,
)
from balance_openadr.times import parse_datetime

from .auth import (
    COOKIE,
    Operator,
    SessionError,
    SessionSigner,
    UserError,
    hash_password,
    save_user,
    verify_password,
)
from .headend import HeadendApi

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PREFIX = "/operator/api"
DR_PROGRAM = "balance-operator-dr"
MAX_WINDOW = timedelta(days=120)
# a dummy hash so an unknown user costs as much time as a wrong password
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _window(request: web.Request) -> tuple[int, int]:
    """[start, end) from the query (RFC 3339); default the last 30 days up to the next hour."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    try:
        end = parse_datetime(request.query["end"]) if "end" in request.query else now
        start = (
            parse_datetime(request.query["start"])
            if "start" in request.query
            else end - timedelta(days=30)
        )
    except ValueError as err:
        raise Problem(400, "Bad Request", f"start/end must be RFC 3339: {err}") from err
    if end <= start or end - start > MAX_WINDOW:
        raise Problem(400, "Bad Request", "end must follow start, at most 120 days apart")
    return int(start.timestamp()), int(end.timestamp())


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _node_json(node: StoredNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "parent": node.parent_id,
        "level": node.level,
        "name": node.name,
        "target": node.target,
        "depth": node.depth,
    }


def _meter_json(meter: GridMeter) -> dict[str, Any]:
    return {
        "id": meter.id,
        "node": meter.node_id,
        "role": meter.role,
        "phase": meter.phase,
        "ven_id": meter.ven_id,
        "resource_name": meter.resource_name,
    }


class OperatorApi:
    def __init__(self, storage: Storage, objects: ObjectService) -> None:
        self.storage = storage
        self.objects = objects
        self._signer: SessionSigner | None = None
        self._logins = TokenBucket(rate=0.5, burst=10)
        self.headend = HeadendApi(self)

    @property
    def grid(self) -> GridStore:
        return self.storage.grid()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ui", self.redirect)
        r.add_get("/ui/", self.index)
        r.add_static("/ui/static", STATIC, append_version=False)
        r.add_post(PREFIX + "/login", self.login)
        r.add_post(PREFIX + "/logout", self.logout)
        r.add_get(PREFIX + "/me", self.me)
        r.add_get(PREFIX + "/tree", self.tree)
        r.add_get(PREFIX + "/hierarchy", self.export_hierarchy)
        r.add_post(PREFIX + "/hierarchy", self.import_hierarchy)
        r.add_get(PREFIX + "/nodes/{id}", self.node)
        r.add_get(PREFIX + "/nodes/{id}/balance", self.balance)
        r.add_get(PREFIX + "/nodes/{id}/suspects", self.suspects)
        r.add_get(PREFIX + "/nodes/{id}/phases", self.phases)
        r.add_get(PREFIX + "/nodes/{id}/profiles", self.profiles)
        r.add_post(PREFIX + "/nodes/{id}/meters", self.attach_meter)
        r.add_get(PREFIX + "/nodes/{id}/events", self.events)
        r.add_post(PREFIX + "/nodes/{id}/events", self.create_event)
        r.add_delete(PREFIX + "/events/{id}", self.cancel_event)
        r.add_get(PREFIX + "/alarms", self.alarms)
        r.add_get(PREFIX + "/users", self.users)
        r.add_post(PREFIX + "/users", self.put_user)
        r.add_delete(PREFIX + "/users/{name}", self.delete_user)
        self.headend.add_routes(app)

    # --- sessions -----------------------------------------------------------------------------
    async def _sessions(self) -> SessionSigner:
        if self._signer is None:
            key = await self.storage.get_or_create_setting(
                "operator_session_secret", secrets.token_urlsafe(32)
            )
            self._signer = SessionSigner(key)
        return self._signer

    async def _operator(self, request: web.Request, *, write: bool = False) -> Operator:
        token = request.cookies.get(COOKIE)
        if not token:
            raise Problem(401, "Unauthorized", "log in first")
        try:
            session = (await self._sessions()).verify(token)
        except SessionError as err:
            raise Problem(401, "Unauthorized", f"session expired or invalid: {err}") from err
        user = await self.grid.get_user(session.username)
        if user is None:
            raise Problem(401, "Unauthorized", "this user no longer exists")
        if write and not secrets.compare_digest(
            request.headers.get("X-CSRF-Token", ""), session.csrf
        ):
            raise Problem(403, "Forbidden", "missing or wrong X-CSRF-Token")
        scope = None
        if user.scope_node_id is not None:
            scope = await self.grid.get_node(user.scope_node_id)
            if scope is None:
                raise Problem(403, "Forbidden", "the part of the grid you were given is gone")
        return Operator(user, scope, session.csrf)

    async def _node(self, operator: Operator, node_id: str) -> StoredNode:
        node = await self.grid.get_node(node_id)
        if node is None or not operator.sees(node):
            raise Problem(404, "Not Found", f"node {node_id} not found")
        return node

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise Problem(400, "Bad Request", "the body is not JSON") from err
        if not isinstance(body, dict):
            raise Problem(400, "Bad Request", "the body must be a JSON object")
        return body

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/ui/")

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(
            STATIC / "index.html",
            headers={
                # no external origin is ever needed: the charts are vendored, the map is SVG
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:;"
                " style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                "Cache-Control": "no-store",
            },
        )

    async def login(self, request: web.Request) -> web.Response:
        if not self._logins.allow("ip:" + (request.remote or "")):
            raise Problem(429, "Too Many Requests", "too many login attempts")
        body = await self._body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise Problem(400, "Bad Request", "username and password are required")
        user = await self.grid.get_user(username)
        ok = await asyncio.to_thread(
            verify_password, password, user.password_hash if user else _DUMMY_HASH
        )
        if user is None or not ok:
            raise Problem(401, "Unauthorized", "wrong username or password")
        token, session = (await self._sessions()).issue(user.username)
        response = web.json_response(
            {"username": user.username, "role": user.role, "csrf": session.csrf}
        )
        response.set_cookie(
            COOKIE,
            token,
            max_age=(await self._sessions()).ttl_s,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            path="/",
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        await self._operator(request, write=True)
        response = web.json_response({"logged_out": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        return web.json_response(
            {
                "username": op.user.username,
                "role": op.user.role,
                "scope": None if op.scope is None else _node_json(op.scope),
                "csrf": op.csrf,
            }
        )

    # --- hierarchy ----------------------------------------------------------------------------
    async def tree(self, request: web.Request) -> web.Response:
        """One level of the group tree: the scope's roots, or ``?parent=``'s non-flat children.

        The page opens it a level at a time: a region of 40,000 houses is never sent whole."""
        op = await self._operator(request)
        if "parent" in request.query:
            parent = await self._node(op, request.query["parent"])
            nodes = await self.grid.list_children(parent.id, flats=False)
        elif op.scope is not None:
            nodes = [op.scope]
        else:
            nodes = await self.grid.list_children(None, flats=False)
        counts = await self.grid.count_children([n.id for n in nodes])
        return web.json_response(
            {"nodes": [_node_json(n) | {"children": counts.get(n.id, 0)} for n in nodes]}
        )

    async def node(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        node = await self._node(op, request.match_info["id"])
        children = await self.grid.list_children(node.id)
        meters = await self.grid.list_meters_at(node.id)
        return web.json_response(
            {
                "node": _node_json(node),
                "children": [_node_json(n) for n in children],
                "meters": [_meter_json(m) for m in meters],
            }
        )

    async def export_hierarchy(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        nodes = await self.grid.list_nodes(op.path_prefix)
        meters = await self.grid.list_meters(op.path_prefix)
        if request.query.get("format") == "csv":
            return web.Response(
                text=to_csv(nodes, meters),
                content_type="text/csv",
                headers={"Content-Disposition": 'attachment; filename="hierarchy.csv"'},
            )
        return web.json_response(to_json(nodes, meters))

    async def import_hierarchy(self, request: web.Request) -> web.Response:
        op = await self._operator(request, write=True)
        if not op.is_admin or op.scope is not None:
            raise Problem(403, "Forbidden", "only an admin of the whole grid may import")
        raw = await request.read()
        try:
            if request.content_type == "text/csv":
                nodes, meters = parse_csv(raw.decode("utf-8"))
            else:
                nodes, meters = parse_json(raw)
            count = await self.grid.import_hierarchy(nodes, meters)
        except UnicodeDecodeError as err:
            raise Problem(400, "Bad Request", "the CSV is not UTF-8") from err
        except HierarchyError as err:
            return web.json_response(
                {
                    "type": "about:blank",
                    "title": "Bad Request",
                    "status": 400,
                    "detail": str(err)[:2000],
                    "errors": err.errors,
                },
                status=400,
            )
        return web.json_response({"nodes": count[0], "meters": count[1]})

    async def attach_meter(self, request: web.Request) -> web.Response:
        """Hang a VEN's meter on a node (how a real house joins a demo feeder)."""
        op = await self._operator(request, write=True)
        if not op.is_admin:
            raise Problem(403, "Forbidden", "only an admin may attach meters")
        node = await self._node(op, request.match_info["id"])
        body = await self._body(request)
        ven = str(body.get("ven", ""))
        ven_id = await resolve_ven(self.storage, ven)
        meter = {
            "id": body.get("id") or f"{node.id}-{body.get('resource_name', '')}",
            "node": node.id,
            "role": body.get("role", "subscriber"),
            "phase": body.get("phase"),
            "ven_id": ven_id,
            "resource_name": body.get("resource_name"),
        }
        try:
            _, meters = parse_json(json.dumps({"meters": [meter]}))
            await self.grid.import_hierarchy([], meters)
        except HierarchyError as err:
            raise Problem(400, "Bad Request", str(err)) from err
        return web.json_response(_meter_json(meters[0]), status=201)

    # --- balances and loss analytics -----------------------------------------------------------
    async def _balance_series(
        self, node: StoredNode, start: int, end: int, step: int
    ) -> analysis.BalanceSeries:
        rows = await self.grid.balance(node.path, node.id, start, end)
        return analysis.series(rows, start, end, step)

    async def _estimated(self, node: StoredNode, start: int, end: int) -> dict[str, list[int]]:
        """The hours (epoch seconds) of [start, end) whose value is an estimate, by grid meter
        of the subtree (only head-end meters are ever estimated)."""
        by_name = {
            m.resource_name: m.id
            for m in await self.grid.list_meters(node.path)
            if m.ven_id == HEADEND_VEN
        }
        if not by_name:
            return {}
        out: dict[str, list[int]] = {}
        for resource, hour in await self.storage.headend().estimated_hours(start, end):
            if resource in by_name:
                out.setdefault(by_name[resource], []).append(hour)
        return out

    async def balance(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        node = await self._node(op, request.match_info["id"])
        start, end = _window(request)
        step = analysis.DAY if request.query.get("resolution") == "day" else analysis.HOUR
        data = (await self._balance_series(node, start, end, step)).as_json()
        # per step, how many of the meter-hours summed are estimates (0: all measured)
        first = start - start % step
        counts = [0] * len(data["t"])
        estimated = await self._estimated(node, start, end)
        for hours in estimated.values():
            for hour in hours:
                i = (hour - first) // step
                if 0 <= i < len(counts):
                    counts[i] += 1
        data |= {
            "node": node.id,
            "resolution": "day" if step == analysis.DAY else "hour",
            "estimated": counts,
            "estimated_meters": sorted(estimated),
        }
        return web.json_response(data)

    async def _matrix(self, node: StoredNode, start: int, end: int) -> analysis.MeterMatrix:
        meters = await self.grid.list_meters(node.path)
        readings = await self.grid.meter_readings(node.path, start, end)
        return analysis.subscriber_matrix(meters, readings, start, end)

    async def suspects(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        node = await self._node(op, request.match_info["id"])
        start, end = _window(request)
        series = await self._balance_series(node, start, end, analysis.HOUR)
        matrix = await self._matrix(node, start, end)
        ranked = await asyncio.to_thread(analysis.suspects_json, series, matrix)
        return web.json_response({"node": node.id, "suspects": ranked})

    async def phases(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        node = await self._node(op, request.match_info["id"])
        start, end = _window(request)
        try:
            max_moves = min(20, max(0, int(request.query.get("max_moves", "5"))))
        except ValueError as err:
            raise Problem(400, "Bad Request", "max_moves must be an integer") from err
        matrix = await self._matrix(node, start, end)
        plan = await asyncio.to_thread(analysis.phases_json, matrix, max_moves)
        return web.json_response({"node": node.id, **plan})

    async def profiles(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        node = await self._node(op, request.match_info["id"])
        start, end = _window(request)
        wanted = [m for m in request.query.get("meters", "").split(",") if m][:20]
        matrix = await self._matrix(node, start, end)
        estimated = await self._estimated(node, start, end)
        return web.json_response(
            {
                "t": [int(h.timestamp()) for h in matrix.hours],
                "profiles": analysis.profiles_json(matrix, wanted),
                # the hours of each profile that are estimates, marked as such on the page
                "estimated": {m: estimated[m] for m in wanted if m in estimated},
            }
        )

    async def alarms(self, request: web.Request) -> web.Response:
        """The balance's daily alarms and the head-end's field alarms in one list, the open ones
        first, newest first; ``kind``, ``severity`` and ``open=1`` filter both."""
        op = await self._operator(request)
        start, end = _window(request)
        root = await self._node(op, request.query["node"]) if "node" in request.query else op.scope
        prefix = "" if root is None else root.path
        rows = await self.grid.balance(prefix, None, start, end)
        nodes = await self.grid.list_nodes(prefix, flats=False)
        names = {n.id: n.name for n in nodes}
        paths = {n.id: n.path for n in nodes}
        found = analysis.alarms(rows, start, end)
        kind, severity = request.query.get("kind"), request.query.get("severity")
        open_only = request.query.get("open") in ("1", "true")
        now = time.time()
        merged: list[dict[str, Any]] = []
        for a in found:
            if (kind is not None and a.kind != kind) or (
                severity is not None and a.severity != severity
            ):
                continue
            # a day's finding: raised when the day began, over when the day is
            over = a.day + analysis.DAY
            cleared = _iso(over) if over <= now else None
            if open_only and cleared is not None:
                continue
            merged.append(
                a.as_json(names)
                | {
                    "source": "balance",
                    "path": paths.get(a.node_id),
                    "since": _iso(a.day),
                    "cleared": cleared,
                    "open": cleared is None,
                }
            )
        merged += await self.headend.field_alarms(
            op, prefix, start=start, end=end, kind=kind, severity=severity, open_only=open_only
        )
        merged.sort(key=lambda a: a["since"] or "", reverse=True)
        merged.sort(key=lambda a: not a["open"])
        # the path lets the page mark an alarm on the nearest group it has open
        return web.json_response({"alarms": merged[:500]})

    # --- users ------------------------------------------------------------------------------
    async def _grid_admin(self, request: web.Request, *, write: bool = False) -> Operator:
        op = await self._operator(request, write=write)
        # a scoped admin could otherwise hand out a wider scope than their own
        if not op.is_admin or op.scope is not None:
            raise Problem(403, "Forbidden", "only an admin of the whole grid manages users")
        return op

    async def users(self, request: web.Request) -> web.Response:
        await self._grid_admin(request)
        return web.json_response(
            {
                "users": [
                    {"username": u.username, "role": u.role, "scope": u.scope_node_id}
                    for u in await self.grid.list_users()
                ]
            }
        )

    async def put_user(self, request: web.Request) -> web.Response:
        op = await self._grid_admin(request, write=True)
        body = await self._body(request)
        username, role = body.get("username"), body.get("role")
        scope, password = body.get("scope") or None, body.get("password") or None
        if not all(isinstance(v, str | None) for v in (username, role, scope, password)):
            raise Problem(400, "Bad Request", "username, role, scope and password are strings")
        if username == op.user.username and (role != "admin" or scope is not None):
            raise Problem(409, "Conflict", "you cannot take away your own admin rights")
        try:
            user, password = await save_user(
                self.grid, str(username or ""), str(role or ""), scope, password
            )
        except UserError as err:
            raise Problem(400, "Bad Request", str(err)) from err
        log.info("operator %s saved user %s (%s)", op.user.username, user.username, user.role)
        return web.json_response(
            {
                "username": user.username,
                "role": user.role,
                "scope": user.scope_node_id,
                "password": password,
            }
        )

    async def delete_user(self, request: web.Request) -> web.Response:
        op = await self._grid_admin(request, write=True)
        name = request.match_info["name"]
        if name == op.user.username:
            raise Problem(409, "Conflict", "you cannot delete yourself")
        if not await self.grid.delete_user(name):
            raise Problem(404, "Not Found", f"user {name} not found")
        log.info("operator %s deleted user %s", op.user.username, name)
        return web.json_response({"deleted": name})

    # --- DR console ---------------------------------------------------------------------------
    @staticmethod
    def _principal(op: Operator) -> Principal:
        # the operator acts as business logic, under their own name in the audit log
        return Principal(f"operator:{op.user.username}", "bl", frozenset(BL_SCOPES))

    async def _program_id(self, op: Operator) -> str:
        found = await self.storage.list_objects(
            ObjectQuery(kind="PROGRAM", unique_name=DR_PROGRAM, limit=1)
        )
        if found:
            return found[0].id
        program = await self.objects.create(
            self._principal(op), "PROGRAM", {"programName": DR_PROGRAM}
        )
        return program.id

    async def _event_json(self, event: StoredObject) -> dict[str, Any]:
        deliveries = await self.storage.list_deliveries(event.id)
        return {
            "id": event.id,
            "name": event.body.get("eventName"),
            "targets": event.targets,
            "created": datetime.fromtimestamp(event.created_at, UTC).isoformat(),
            "start": None
            if event.starts_at is None
            else datetime.fromtimestamp(event.starts_at, UTC).isoformat(),
            "end": None
            if event.ends_at is None
            else datetime.fromtimestamp(event.ends_at, UTC).isoformat(),
            "intervals": event.body.get("intervals", []),
            "deliveries": [
                {
                    "ven_id": d.ven_id,
                    "status": d.status,
                    "received": datetime.fromtimestamp(d.received_at, UTC).isoformat(),
                    "latency_s": d.latency_s,
                    "channel": d.channel,
                }
                for d in deliveries
            ],
        }

    async def events(self, request: web.Request) -> web.Response:
        op = await self._operator(request)
        node = await self._node(op, request.match_info["id"])
        if node.target is None:
            return web.json_response({"node": node.id, "target": None, "events": []})
        found = await self.storage.list_objects(
            ObjectQuery(kind="EVENT", targets=[node.target], limit=50)
        )
        found.sort(key=lambda e: -e.created_at)
        return web.json_response(
            {
                "node": node.id,
                "target": node.target,
                "events": [await self._event_json(e) for e in found],
            }
        )

    async def create_event(self, request: web.Request) -> web.Response:
        op = await self._operator(request, write=True)
        if not op.can_write_events:
            raise Problem(403, "Forbidden", "a viewer cannot run DR events")
        node = await self._node(op, request.match_info["id"])
        if node.target is None:
            raise Problem(409, "Conflict", f"node {node.id} has no DR group (target)")
        body = await self._body(request)
        level, minutes = body.get("level", 1), body.get("duration_minutes", 60)
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 3:
            raise Problem(400, "Bad Request", "level must be an integer 0..3")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 1440:
            raise Problem(400, "Bad Request", "duration_minutes must be 1..1440")
        start = body.get("start") or datetime.now(UTC).isoformat().replace("+00:00", "Z")
        event_body = {
            "programID": await self._program_id(op),
            "eventName": f"{node.name}: shed level {level}",
            "targets": [node.target],
            "intervalPeriod": {"start": start, "duration": f"PT{minutes}M"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [level]}]}],
        }
        event = await self.objects.create(self._principal(op), "EVENT", event_body)
        return web.json_response(await self._event_json(event), status=201)

    async def cancel_event(self, request: web.Request) -> web.Response:
        op = await self._operator(request, write=True)
        if not op.can_write_events:
            raise Problem(403, "Forbidden", "a viewer cannot cancel DR events")
        event = await self.storage.get_object("EVENT", request.match_info["id"])
        targets = set(event.targets) if event is not None else set()
        visible = {
            n.target for n in await self.grid.list_nodes(op.path_prefix, flats=False) if n.target
        }
        if event is None or not targets or not targets <= visible:
            raise Problem(404, "Not Found", f"event {request.match_info['id']} not found")
        await self.objects.delete_by_id(self._principal(op), "EVENT", event.id)
        return web.json_response({"id": event.id, "cancelled": True})


async def resolve_ven(storage: Storage, ven: str) -> str:
    """A VEN's id from its id or its venName (readings are stored under the id)."""
    if not ven:
        raise Problem(400, "Bad Request", "ven (a VEN id or name) is required")
    return await resolve_ven_id(storage, ven)


async def resolve_ven_id(storage: Any, ven: str) -> str:
    if await storage.get_object("VEN", ven) is not None:
        return ven
    named = await storage.list_objects(ObjectQuery(kind="VEN", unique_name=ven, limit=1))
    return str(named[0].id) if named else ven
