"""The OpenADR 3.1.0 VTN over HTTP (aiohttp), plus health, metrics and BALANCE's BL extensions.

Every request is authorised from its bearer token alone and every piece of state is in the
database, so any number of these processes can run behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from balance_openadr import models
from balance_openadr.times import parse_datetime, parse_duration

from .auth import Principal, TokenError, TokenIssuer, new_secret, verify_secret
from .config import Settings
from .metrics import Metrics
from .notify import MqttNotifier, WebhookError, WebhookSender, notification
from .reports import extract_deliveries, extract_readings
from .storage import AuditEntry, Conflict, ObjectQuery, Storage, StoredObject

_LOGGER = logging.getLogger(__name__)
_AUDIT = logging.getLogger("balance_aggregator.audit")

PUBLIC_PATHS = frozenset({"/auth/server", "/auth/token", "/health", "/metrics"})
OPERATOR_PATHS = ("/ui", "/operator/")
MAX_LIMIT = 50
_VEN_SCOPED = ("events", "programs", "resources")
JSON = "application/json"


class Problem(Exception):
    """An RFC 7807 problem, the spec's error body."""

    def __init__(self, status: int, title: str, detail: str | None = None) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail


def problem_response(status: int, title: str, detail: str | None, instance: str) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail[:2000]
    if 3 <= len(instance) <= 8000:
        body["instance"] = instance
    return web.json_response(body, status=status)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # objectType
    read_scope: str
    write_scope: str
    targeted: bool  # privacy by targets (programs, events) rather than by owner


KINDS = {
    "PROGRAM": Kind("PROGRAM", "read_targets", "write_programs", True),
    "EVENT": Kind("EVENT", "read_targets", "write_events", True),
    "REPORT": Kind("REPORT", "read_ven_objects", "write_reports", False),
    "SUBSCRIPTION": Kind("SUBSCRIPTION", "read_ven_objects", "write_subscriptions", False),
    "VEN": Kind("VEN", "read_ven_objects", "write_vens", False),
    "RESOURCE": Kind("RESOURCE", "read_ven_objects", "write_vens", False),
}


class TokenBucket:
    """Per-client request budget of this replica (the proxy in front may add a global one)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        tokens, last = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            return False
        self._state[key] = (tokens - 1.0, now)
        if len(self._state) > 100_000:
            self._state.clear()
        return True


ROLLUP_SETTLE_HOURS = 2
"""The current and the previous hour are left to live reads by the roll-up loop."""


class Vtn:
    """The service: storage, token issuer, notifiers and the aiohttp application."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.metrics = Metrics()
        self.mqtt = MqttNotifier(settings, self.metrics)
        self.webhooks = WebhookSender(settings, self.metrics)
        self.tokens: TokenIssuer | None = None
        self._limiter = TokenBucket(settings.rate_limit_per_s, settings.rate_limit_burst)
        self._tasks: set[asyncio.Task[None]] = set()
        self._rollup_task: asyncio.Task[None] | None = None
        self._describe_metrics()

    def _describe_metrics(self) -> None:
        m = self.metrics
        m.describe("vtn_http_requests_total", "counter", "HTTP requests by route and status")
        m.describe("vtn_http_request_seconds", "histogram", "HTTP request duration")
        m.describe("vtn_mqtt_published_total", "counter", "MQTT notifications accepted by broker")
        m.describe("vtn_mqtt_dropped_total", "counter", "MQTT notifications not published")
        m.describe("vtn_readings_ingested_total", "counter", "hourly readings new or changed")
        m.describe("vtn_dr_delivery_latency_seconds", "histogram", "event creation to VEN receipt")
        m.describe("vtn_webhook_delivered_total", "counter", "webhook notifications delivered")
        m.describe("vtn_grid_rollup_hours_total", "counter", "node balances stored, in hours")
        m.describe("vtn_grid_rollup_failed_total", "counter", "roll-up turns that failed")

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await self.storage.open()
        key = self.settings.token_secret or await self.storage.get_or_create_setting(
            "token_secret", new_secret()
        )
        self.tokens = TokenIssuer(key, self.settings.token_ttl_s)
        await self.webhooks.start()
        await self.mqtt.start()
        if self.settings.grid_rollup_interval_s > 0:
            self._rollup_task = asyncio.create_task(self._rollup_loop(), name="vtn-grid-rollup")

    async def _rollup_loop(self) -> None:
        """Store the balances of hours whose sums changed, so a region's month is read from a
        few hundred stored rows instead of millions of per-house sums. Until an hour is rolled
        up again, balances read it live: the loop only makes reads cheaper, never different."""
        grid = self.storage.grid()
        while True:
            try:
                # the last two hours are still being reported: they are read live (two hours
                # of sums are cheap) rather than rolled up again at every turn
                settled = (int(time.time()) // 3600 - ROLLUP_SETTLE_HOURS + 1) * 3600
                kept_from = settled - self.settings.grid_rollup_keep_days * 86400
                await grid.prune_rollup(kept_from)
                done = await grid.rollup_pending(
                    self.settings.grid_rollup_max_hours, settled, kept_from
                )
            except Exception:
                # a database restart or a lock timeout: the marks stay, the next turn retries
                _LOGGER.exception("grid roll-up failed")
                self.metrics.inc("vtn_grid_rollup_failed_total")
                done = 0
            self.metrics.inc("vtn_grid_rollup_hours_total", done)
            if done < self.settings.grid_rollup_max_hours:
                # ingest marks the current hour dirty again and again: roll it at the pace set
                await asyncio.sleep(self.settings.grid_rollup_interval_s)
            # a full turn means a backlog (a bulk load, a hierarchy change): go on at once

    async def stop(self) -> None:
        if self._rollup_task is not None:
            self._rollup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rollup_task
            self._rollup_task = None
        await self.drain()
        await self.mqtt.stop()
        await self.webhooks.stop()
        await self.storage.close()

    async def drain(self) -> None:
        """Wait until the notifications of past writes are out (tests, shutdown)."""
        # not `while self._tasks: await gather(...)`: gather of finished tasks completes eagerly
        # without yielding, so the done-callbacks that empty the set would never run
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.wait(pending)
        await self.webhooks.drain()

    def _background(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                _LOGGER.exception("notification failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- application --------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=8 * 1024 * 1024)
        r = app.router
        r.add_get("/health", self.health)
        r.add_get("/metrics", self.metrics_endpoint)
        r.add_get("/auth/server", self.auth_server)
        r.add_post("/auth/token", self.auth_token)
        for path, kind in (
            ("/programs", "PROGRAM"),
            ("/events", "EVENT"),
            ("/reports", "REPORT"),
            ("/subscriptions", "SUBSCRIPTION"),
            ("/vens", "VEN"),
            ("/resources", "RESOURCE"),
        ):
            r.add_get(path, self._bind(self.search, kind))
            r.add_post(path, self._bind(self.create, kind))
            r.add_get(path + "/{id}", self._bind(self.read_one, kind))
            r.add_put(path + "/{id}", self._bind(self.update, kind))
            r.add_delete(path + "/{id}", self._bind(self.delete, kind))
        # 3.0.1 nested resources
        r.add_get("/vens/{ven}/resources", self._bind(self.search, "RESOURCE"))
        r.add_post("/vens/{ven}/resources", self._bind(self.create, "RESOURCE"))
        r.add_get("/vens/{ven}/resources/{id}", self._bind(self.read_one, "RESOURCE"))
        r.add_put("/vens/{ven}/resources/{id}", self._bind(self.update, "RESOURCE"))
        r.add_delete("/vens/{ven}/resources/{id}", self._bind(self.delete, "RESOURCE"))
        r.add_get("/notifiers", self.notifiers)
        r.add_get("/notifiers/{binding}/topics/{rest:.+}", self.topics)
        r.add_get("/balance/events/{id}/deliveries", self.deliveries)
        r.add_get("/balance/consumption", self.consumption)
        r.add_get("/balance/audit", self.audit_log)
        from .operator.api import OperatorApi

        OperatorApi(self).add_routes(app)
        return app

    def runner(self) -> web.AppRunner:
        """The application ready to serve. Request lines up to 64 KiB: a long list of targets
        in a query must reach the handler (and get a problem body) rather than be cut by the
        HTTP parser with a plain-text error."""
        return web.AppRunner(self.app(), access_log=None, max_line_size=65536, max_field_size=65536)

    @staticmethod
    def _bind(
        handler: Callable[[web.Request, str], Awaitable[web.StreamResponse]], kind: str
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(request, kind)

        return bound

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        started = time.monotonic()
        route = request.match_info.route.resource
        route_name = route.canonical if route is not None else "unmatched"
        status = 500
        try:
            response = await self._guarded(request, handler)
            status = response.status
            return response
        finally:
            elapsed = time.monotonic() - started
            self.metrics.inc(
                "vtn_http_requests_total",
                method=request.method,
                route=route_name,
                status=str(status),
            )
            self.metrics.observe("vtn_http_request_seconds", elapsed, route=route_name)

    async def _guarded(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        # the spec wants an absolute URI of at most 8000 characters: the query is left out
        instance = str(request.url.with_query(None))
        try:
            # PostgreSQL text cannot hold NUL; refuse it everywhere alike, SQLite included
            if "\x00" in request.path or any("\x00" in v for v in request.query.values()):
                raise Problem(400, "Bad Request", "NUL characters are not allowed")
            # the operator page and its API authenticate by session cookie (see operator/)
            if request.path not in PUBLIC_PATHS and not request.path.startswith(OPERATOR_PATHS):
                principal = self._authenticate(request)
                request["principal"] = principal
                if not self._limiter.allow("c:" + principal.client_id):
                    raise Problem(429, "Too Many Requests", "rate limit exceeded")
            elif request.path == "/auth/token" and not self._limiter.allow(
                "ip:" + (request.remote or "")
            ):
                raise Problem(429, "Too Many Requests", "rate limit exceeded")
            return await handler(request)
        except Problem as err:
            return problem_response(err.status, err.title, err.detail, instance)
        except web.HTTPException as err:
            if err.status >= 400:
                return problem_response(err.status, err.reason, err.text, instance)
            raise
        except Exception:
            _LOGGER.exception("unhandled error", extra={"path": request.path})
            return problem_response(500, "Internal Server Error", None, instance)

    def _authenticate(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Unauthorized", "a bearer token is required")
        assert self.tokens is not None
        try:
            return self.tokens.verify(token.strip())
        except TokenError as err:
            raise Problem(401, "Unauthorized", f"invalid token: {err}") from err

    @staticmethod
    def _require(request: web.Request, scope: str) -> Principal:
        principal: Principal = request["principal"]
        if principal.has(scope) or (scope.startswith("read_") and principal.has("read_all")):
            return principal
        raise Problem(403, "Forbidden", f"scope {scope} is required")

    # --- health, metrics, auth ---------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        try:
            await self.storage.ping()
        except Exception as err:
            return web.json_response({"status": "error", "database": str(err)}, status=503)
        return web.json_response(
            {
                "status": "ok",
                "database": "ok",
                "schema": await self.storage.schema_version(),
                "mqtt": "connected" if self.mqtt.connected else "disconnected",
            }
        )

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        self.metrics.set("vtn_mqtt_connected", 1.0 if self.mqtt.connected else 0.0)
        return web.Response(text=self.metrics.render(), content_type="text/plain", charset="utf-8")

    def _base_url(self, request: web.Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    async def auth_server(self, request: web.Request) -> web.Response:
        return web.json_response({"tokenURL": self._base_url(request) + "/auth/token"})

    async def auth_token(self, request: web.Request) -> web.Response:
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return self._auth_error(
                400, "invalid_request", "the body must be application/x-www-form-urlencoded"
            )
        try:
            form = await request.post()
        except (ValueError, LookupError, AssertionError) as err:
            return self._auth_error(400, "invalid_request", f"unreadable form: {err}")
        client_id = str(form.get("client_id", "") or "")
        secret = str(form.get("client_secret", "") or "")
        if request.headers.get("Authorization", "").lower().startswith("basic "):
            import base64
            import binascii
            from urllib.parse import unquote

            try:
                raw = base64.b64decode(request.headers["Authorization"][6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError) as err:
                raise Problem(400, "invalid_request", "malformed Basic credentials") from err
            user, _, password = raw.partition(":")
            client_id, secret = unquote(user), unquote(password)
        grant = form.get("grant_type")
        if grant is None or not client_id or not secret:
            return self._auth_error(400, "invalid_request", "grant_type, client_id and secret")
        if grant != "client_credentials":
            return self._auth_error(400, "unsupported_grant_type", "use client_credentials")
        client = await self.storage.get_client(client_id)
        if client is None or not verify_secret(secret, client.secret_hash):
            return self._auth_error(401, "invalid_client", "unknown client or wrong secret")
        assert self.tokens is not None
        try:
            token, scope = self.tokens.issue(
                client.client_id, client.role, str(form.get("scope", "") or "") or None
            )
        except TokenError as err:
            return self._auth_error(400, "invalid_scope", str(err))
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.tokens.ttl_s,
                "scope": scope,
            },
            headers={"Cache-Control": "no-store"},
        )

    @staticmethod
    def _auth_error(status: int, error: str, detail: str) -> web.Response:
        # the spec's 400/401 here are problem bodies; RFC 6749's "error" rides along
        return web.json_response(
            {
                "type": "about:blank",
                "title": error,
                "status": status,
                "detail": detail,
                "error": error,
                "error_description": detail,
            },
            status=status,
            headers={"WWW-Authenticate": "Basic"} if status == 401 else None,
        )

    # --- query parsing -----------------------------------------------------------------------
    @staticmethod
    def _page(request: web.Request) -> tuple[int, int]:
        def number(name: str, default: int, high: int | None) -> int:
            raw = request.query.get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError as err:
                raise Problem(400, "Bad Request", f"{name} must be an integer") from err
            if value < 0 or (high is not None and value > high):
                raise Problem(400, "Bad Request", f"{name} out of range")
            return value

        return number("skip", 0, 2**31 - 1), number("limit", MAX_LIMIT, MAX_LIMIT)

    @staticmethod
    def _query_targets(request: web.Request) -> list[str] | None:
        values = request.query.getall("targets", []) + request.query.getall("targetValues", [])
        flat = [v for value in values for v in value.split(",") if v]
        for value in flat:
            if len(value) > 128:
                raise Problem(400, "Bad Request", "a target is at most 128 characters")
        return flat or None

    @staticmethod
    def _object_id_param(request: web.Request, name: str) -> str | None:
        value = request.query.get(name)
        if value is not None and (
            not value
            or len(value) > 128
            or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value)
        ):
            raise Problem(400, "Bad Request", f"{name} is not an objectID")
        return value

    async def _effective_targets(
        self, principal: Principal, requested: Sequence[str] | None
    ) -> set[str]:
        """What a VEN may match programs and events by: the targets BL granted to its ven and
        resource objects, narrowed to those it asked for."""
        _, granted = await self.storage.granted_targets(principal.client_id)
        return granted & set(requested) if requested is not None else granted

    def _view(self, obj: StoredObject, visible: set[str] | None) -> dict[str, Any]:
        body = dict(obj.body)
        if visible is not None and obj.targets:
            shown = [t for t in obj.targets if t in visible]
            body["targets"] = shown
        return body

    # --- CRUD --------------------------------------------------------------------------------
    async def search(self, request: web.Request, kind: str) -> web.Response:
        spec = KINDS[kind]
        principal = self._require(request, spec.read_scope)
        skip, limit = self._page(request)
        query = ObjectQuery(kind=kind, skip=skip, limit=limit)
        requested = self._query_targets(request)
        visible: set[str] | None = None
        if spec.targeted:
            if principal.is_bl:
                query.targets = requested
            else:
                visible = await self._effective_targets(principal, requested)
                query.targets = sorted(visible)
                query.untargeted_match = True
        else:
            if not principal.is_bl:
                query.client_id = principal.client_id
            if requested is not None and kind in ("VEN", "RESOURCE"):
                query.targets = requested
        if kind == "EVENT":
            query.program_id = self._object_id_param(request, "programID")
            active = request.query.get("active")
            if active is not None:
                if active not in ("true", "false"):
                    raise Problem(400, "Bad Request", "active must be true or false")
                if active == "true":
                    query.not_ended_at = time.time()
        elif kind == "REPORT":
            query.program_id = self._object_id_param(request, "programID")
            query.event_id = self._object_id_param(request, "eventID")
            query.client_name = request.query.get("clientName")
        elif kind == "SUBSCRIPTION":
            query.program_id = self._object_id_param(request, "programID")
            query.client_name = request.query.get("clientName")
            objects = request.query.getall("objects", [])
            for value in objects:
                if value not in models.OBJECT_TYPES:
                    raise Problem(400, "Bad Request", f"unknown object type {value!r}")
            query.sub_objects = objects
        elif kind == "VEN":
            name = request.query.get("venName")
            if name is not None:
                query.unique_name = name
        elif kind == "RESOURCE":
            ven = request.match_info.get("ven") or self._object_id_param(request, "venID")
            query.ven_id = ven
            if "ven" in request.match_info:
                await self._ven_for(principal, request.match_info["ven"])
            query.resource_name = request.query.get("resourceName")
        found = await self.storage.list_objects(query)
        return web.json_response([self._view(o, visible) for o in found])

    async def _visible_one(self, request: web.Request, kind: str) -> tuple[StoredObject, Any]:
        spec = KINDS[kind]
        principal = self._require(request, spec.read_scope)
        object_id = request.match_info["id"]
        obj = await self.storage.get_object(kind, object_id)
        not_found = Problem(404, "Not Found", f"{kind.lower()} {object_id} not found")
        if obj is None:
            raise not_found
        if "ven" in request.match_info and obj.ven_id != request.match_info["ven"]:
            raise not_found
        visible: set[str] | None = None
        if not principal.is_bl:
            if spec.targeted:
                visible = await self._effective_targets(principal, self._query_targets(request))
                if obj.targets and not visible.intersection(obj.targets):
                    raise not_found
            elif obj.client_id != principal.client_id:
                raise not_found
        return obj, visible

    async def read_one(self, request: web.Request, kind: str) -> web.Response:
        obj, visible = await self._visible_one(request, kind)
        return web.json_response(self._view(obj, visible))

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = (await request.read()).decode("utf-8")
        except UnicodeDecodeError as err:
            raise Problem(400, "Bad Request", "the body is not UTF-8") from err
        if "\\u0000" in raw or "\x00" in raw:
            raise Problem(400, "Bad Request", "NUL characters are not allowed")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise Problem(400, "Bad Request", "the body is not JSON") from err
        if not isinstance(body, dict):
            raise Problem(400, "Bad Request", "the body must be a JSON object")
        return body

    @staticmethod
    def _validate[M: BaseModel](model: type[M], body: dict[str, Any]) -> M:
        try:
            return model.model_validate(body)
        except ValidationError as err:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:10]
            )
            raise Problem(400, "Bad Request", detail) from err

    async def _ven_for(self, principal: Principal, ven_id: str) -> StoredObject:
        ven = await self.storage.get_object("VEN", ven_id)
        if ven is None or (not principal.is_bl and ven.client_id != principal.client_id):
            raise Problem(404, "Not Found", f"ven {ven_id} not found")
        return ven

    async def _build(  # noqa: PLR0917
        self,
        request: web.Request,
        kind: str,
        principal: Principal,
        body: dict[str, Any],
        object_id: str,
        created_at: float,
        previous: StoredObject | None,
    ) -> tuple[StoredObject, dict[str, Any]]:
        """Validate a request body into the object to store; returns it with side data."""
        now = time.time()
        meta = {
            "id": object_id,
            "createdDateTime": _iso(created_at),
            "modificationDateTime": _iso(now),
            "objectType": kind,
        }
        obj = StoredObject(kind=kind, id=object_id, created_at=created_at, modified_at=now, body={})
        side: dict[str, Any] = {}
        if kind == "PROGRAM":
            program = self._validate(models.ProgramRequest, body)
            data = program.to_json()
            obj.unique_name = program.program_name
            obj.program_id = object_id
            obj.targets = list(program.targets or [])
        elif kind == "EVENT":
            event = self._validate(models.EventRequest, body)
            if await self.storage.get_object("PROGRAM", event.program_id) is None:
                raise Problem(409, "Conflict", f"program {event.program_id} does not exist")
            data = event.to_json()
            obj.program_id = event.program_id
            obj.targets = list(event.targets or [])
            obj.starts_at, obj.ends_at = _event_window(event, created_at)
        elif kind == "REPORT":
            report = self._validate(models.ReportRequest, body)
            event_obj = await self.storage.get_object("EVENT", report.event_id)
            if event_obj is not None and event_obj.targets:
                # an event the VEN may not read is, for it, an event that does not exist
                granted = await self._effective_targets(principal, None)
                if not granted.intersection(event_obj.targets):
                    event_obj = None
            if event_obj is None:
                raise Problem(409, "Conflict", f"event {report.event_id} does not exist")
            data = report.to_json()
            data["clientID"] = principal.client_id
            obj.client_id = principal.client_id
            obj.event_id = report.event_id
            obj.program_id = event_obj.program_id
            obj.client_name = report.client_name
            obj.content_hash = hashlib.sha256(
                json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            vens, _ = await self.storage.granted_targets(principal.client_id)
            ven_id = vens[0] if vens else principal.client_id
            side["readings"] = extract_readings(report, ven_id, object_id)
            side["deliveries"] = extract_deliveries(
                report,
                ven_id=ven_id,
                client_id=principal.client_id,
                event_created_at=event_obj.created_at,
                now=now,
            )
        elif kind == "SUBSCRIPTION":
            sub = self._validate(models.SubscriptionRequest, body)
            if sub.program_id and await self.storage.get_object("PROGRAM", sub.program_id) is None:
                raise Problem(409, "Conflict", f"program {sub.program_id} does not exist")
            for url in dict.fromkeys(op.callback_url for op in sub.object_operations):
                try:
                    await self.webhooks.challenge(url)
                except WebhookError as err:
                    raise Problem(400, "Bad Request", str(err)) from err
            data = sub.to_json()
            data["clientID"] = principal.client_id
            obj.client_id = principal.client_id
            obj.client_name = sub.client_name
            obj.program_id = sub.program_id
            obj.targets = list(sub.targets or [])
            objects = {o for op in sub.object_operations for o in op.objects}
            obj.sub_objects = "," + ",".join(sorted(objects)) + ","
        elif kind == "VEN":
            body = dict(body)
            body.setdefault(
                "objectType", "BL_VEN_REQUEST" if principal.is_bl else "VEN_VEN_REQUEST"
            )
            if body.get("objectType") == "BL_VEN_REQUEST":
                if not principal.is_bl:
                    raise Problem(403, "Forbidden", "only BL may write targets and clientID")
                bl_ven = self._validate(models.BlVenRequest, body)
                data = bl_ven.to_json()
                obj.targets = list(bl_ven.targets or [])
                obj.client_id = bl_ven.client_id
            else:
                ven_ven = self._validate(models.VenVenRequest, body)
                data = ven_ven.to_json()
                if previous is not None and principal.is_bl:
                    obj.client_id = previous.client_id
                    obj.targets = list(previous.targets)
                else:
                    obj.client_id = principal.client_id
                    obj.targets = list(previous.targets) if previous is not None else []
                data["clientID"] = obj.client_id
                if obj.targets:
                    data["targets"] = obj.targets
            data.pop("objectType", None)
            obj.unique_name = data["venName"]
            obj.ven_id = object_id
        elif kind == "RESOURCE":
            body = dict(body)
            if "ven" in request.match_info:
                body["venID"] = request.match_info["ven"]
            body.setdefault(
                "objectType", "BL_RESOURCE_REQUEST" if principal.is_bl else "VEN_RESOURCE_REQUEST"
            )
            if body.get("objectType") == "BL_RESOURCE_REQUEST":
                if not principal.is_bl:
                    raise Problem(403, "Forbidden", "only BL may write targets and clientID")
                bl_res = self._validate(models.BlResourceRequest, body)
                await self._ven_for(principal, bl_res.ven_id)
                data = bl_res.to_json()
                obj.targets = list(bl_res.targets or [])
                obj.client_id = bl_res.client_id
                obj.ven_id = bl_res.ven_id
            else:
                ven_res = self._validate(models.VenResourceRequest, body)
                ven = await self._ven_for(principal, ven_res.ven_id)
                data = ven_res.to_json()
                obj.client_id = previous.client_id if previous is not None else ven.client_id
                obj.targets = list(previous.targets) if previous is not None else []
                obj.ven_id = ven_res.ven_id
                data["clientID"] = obj.client_id
                if obj.targets:
                    data["targets"] = obj.targets
            data.pop("objectType", None)
            obj.unique_name = f"{obj.ven_id}/{data['resourceName']}"
        else:  # pragma: no cover - KINDS is closed
            raise Problem(404, "Not Found")
        if obj.targets:
            obj.targets = list(dict.fromkeys(obj.targets))
            data["targets"] = obj.targets
        obj.body = {**meta, **data}
        return obj, side

    def _audit(self, principal: Principal, action: str, obj: StoredObject) -> AuditEntry | None:
        if obj.kind not in ("PROGRAM", "EVENT", "VEN", "RESOURCE"):
            return None
        detail: dict[str, Any] = {"targets": obj.targets}
        if obj.kind == "EVENT":
            detail["programID"] = obj.program_id
            detail["payloads"] = sorted(
                {
                    p.get("type", "")
                    for i in obj.body.get("intervals", [])
                    for p in i.get("payloads", [])
                }
            )
        entry = AuditEntry(
            at=time.time(),
            actor=principal.client_id,
            action=action,
            object_kind=obj.kind,
            object_id=obj.id,
            detail=detail,
        )
        _AUDIT.info(
            "audit",
            extra={"actor": entry.actor, "action": action, "kind": obj.kind, "object": obj.id},
        )
        return entry

    async def create(self, request: web.Request, kind: str) -> web.Response:
        principal = self._require(request, KINDS[kind].write_scope)
        body = await self._json_body(request)
        obj, side = await self._build(
            request, kind, principal, body, secrets.token_hex(8), time.time(), None
        )
        try:
            stored = await self.storage.insert_object(
                obj,
                readings=side.get("readings", ()),
                deliveries=side.get("deliveries", ()),
                audit=self._audit(principal, "CREATE", obj),
            )
        except Conflict as err:
            # POST /vens documents no 409 although venName must be unique: 400 there
            status = 400 if kind == "VEN" else 409
            raise Problem(status, "Conflict", "an object with this name already exists") from err
        if stored is obj:
            self._after_write(kind, "CREATE", stored, side)
        return web.json_response(stored.body, status=201)

    async def create_as(
        self, request: web.Request, principal: Principal, kind: str, body: dict[str, Any]
    ) -> StoredObject:
        """Create an object for a principal that did not come with a bearer token (the operator
        page): the same validation, storage, audit and notifications as POST."""
        obj, side = await self._build(
            request, kind, principal, body, secrets.token_hex(8), time.time(), None
        )
        stored = await self.storage.insert_object(obj, audit=self._audit(principal, "CREATE", obj))
        self._after_write(kind, "CREATE", stored, side)
        return stored

    async def delete_as(self, principal: Principal, kind: str, object_id: str) -> StoredObject:
        """Delete as DELETE does (audit, notifications); Problem 404 if it is not there."""
        obj = await self.storage.get_object(kind, object_id)
        removed = (
            None
            if obj is None
            else await self.storage.delete_object(
                kind, object_id, audit=self._audit(principal, "DELETE", obj)
            )
        )
        if removed is None:
            raise Problem(404, "Not Found", f"{kind.lower()} {object_id} not found")
        self._after_write(kind, "DELETE", removed, {})
        return removed

    def _after_write(
        self, kind: str, operation: str, obj: StoredObject, side: dict[str, Any]
    ) -> None:
        readings = side.get("readings")
        if readings:
            self.metrics.inc("vtn_readings_ingested_total", len(readings))
        for delivery in side.get("deliveries", ()):
            self.metrics.inc("vtn_dr_responses_total", status=delivery.status)
            if delivery.latency_s is not None:
                self.metrics.observe("vtn_dr_delivery_latency_seconds", delivery.latency_s)
        self._background(self._notify(kind, operation, obj))

    async def update(self, request: web.Request, kind: str) -> web.Response:
        principal = self._require(request, KINDS[kind].write_scope)
        previous = await self._owned(request, kind, principal)
        body = await self._json_body(request)
        obj, side = await self._build(
            request, kind, principal, body, previous.id, previous.created_at, previous
        )
        try:
            ok = await self.storage.replace_object(
                obj,
                readings=side.get("readings", ()),
                deliveries=side.get("deliveries", ()),
                audit=self._audit(principal, "UPDATE", obj),
            )
        except Conflict as err:
            raise Problem(409, "Conflict", "an object with this name already exists") from err
        if not ok:
            raise Problem(404, "Not Found", f"{kind.lower()} {previous.id} not found")
        self._after_write(kind, "UPDATE", obj, side)
        return web.json_response(obj.body)

    async def _owned(self, request: web.Request, kind: str, principal: Principal) -> StoredObject:
        obj = await self.storage.get_object(kind, request.match_info["id"])
        if (
            obj is None
            or (not principal.is_bl and obj.client_id != principal.client_id)
            or ("ven" in request.match_info and obj.ven_id != request.match_info["ven"])
        ):
            raise Problem(404, "Not Found", f"{kind.lower()} {request.match_info['id']} not found")
        return obj

    async def delete(self, request: web.Request, kind: str) -> web.Response:
        principal = self._require(request, KINDS[kind].write_scope)
        obj = await self._owned(request, kind, principal)
        removed = await self.storage.delete_object(
            kind, obj.id, audit=self._audit(principal, "DELETE", obj)
        )
        if removed is None:
            raise Problem(404, "Not Found", f"{kind.lower()} {obj.id} not found")
        self._after_write(kind, "DELETE", removed, {})
        return web.json_response(removed.body)

    # --- notifications ----------------------------------------------------------------------
    async def _notify(self, kind: str, operation: str, obj: StoredObject) -> None:
        topics = self.mqtt.topics
        messages: list[tuple[str, bytes]] = []
        full = notification(kind, operation, obj.body, obj.targets or None)
        messages.append((topics.all(kind)[operation], full))
        if operation != "CREATE":
            messages.append((topics.one(kind, obj.id)[operation], full))
        if obj.program_id and kind in ("EVENT", "REPORT", "SUBSCRIPTION"):
            messages.append((topics.of_program(kind, obj.program_id)[operation], full))
        if kind in ("PROGRAM", "EVENT"):
            vens = await self.storage.vens_for_targets(obj.targets or None)
            for ven_id, matched in vens.items():
                view = self._view(obj, matched)
                payload = notification(kind, operation, view, view.get("targets") or None)
                messages.append((topics.of_ven(kind, ven_id)[operation], payload))
        elif kind == "RESOURCE" and obj.ven_id:
            messages.append((topics.of_ven(kind, obj.ven_id)[operation], full))
        if self.mqtt.enabled:
            await self.mqtt.publish_many(messages)
        await self._webhooks(kind, operation, obj)

    async def _webhooks(self, kind: str, operation: str, obj: StoredObject) -> None:
        skip = 0
        while True:
            subs = await self.storage.list_objects(
                ObjectQuery(kind="SUBSCRIPTION", sub_objects=[kind], skip=skip, limit=500)
            )
            for sub in subs:
                await self._maybe_callback(sub, kind, operation, obj)
            if len(subs) < 500:
                return
            skip += 500

    async def _maybe_callback(
        self, sub: StoredObject, kind: str, operation: str, obj: StoredObject
    ) -> None:
        if sub.program_id and obj.program_id != sub.program_id:
            return
        owner = await self.storage.get_client(sub.client_id or "")
        visible: set[str] | None = None
        if owner is None:
            return
        if owner.role == "ven":
            if KINDS[kind].targeted:
                _, granted = await self.storage.granted_targets(owner.client_id)
                visible = granted & set(sub.targets) if sub.targets else granted
                if obj.targets and not visible.intersection(obj.targets):
                    return
            elif obj.client_id != owner.client_id:
                return
        elif sub.targets and obj.targets and not set(sub.targets) & set(obj.targets):
            return
        view = self._view(obj, visible)
        payload = notification(kind, operation, view, view.get("targets") or None)
        for op in sub.body.get("objectOperations", []):
            if kind in op.get("objects", []) and operation in op.get("operations", []):
                self.webhooks.send(op["callbackUrl"], op.get("bearerToken"), payload)

    # --- notifier endpoints -----------------------------------------------------------------
    async def notifiers(self, request: web.Request) -> web.Response:
        self._require(request, "read_all" if request["principal"].is_bl else "read_targets")
        body: dict[str, Any] = {"WEBHOOK": True}
        if self.mqtt.enabled:
            uris = self.settings.mqtt_public_uris or [
                f"mqtt://{self.settings.mqtt_host}:{self.settings.mqtt_port}"
            ]
            auth: dict[str, str] = {"method": self.settings.mqtt_auth_method}
            if self.settings.mqtt_auth_method == "OAUTH2_BEARER_TOKEN":
                auth["username"] = "{clientID}"
            body["MQTT"] = {"URIS": uris, "serialization": "JSON", "authentication": auth}
        return web.json_response(body)

    async def topics(self, request: web.Request) -> web.Response:
        """Topic names of the MQTT binding. Program-wide topics carry every VEN's events, so only
        BL gets them; a VEN is pointed at its own VEN-scoped topics. Where the spec documents no
        403 for an endpoint, a VEN is answered 404 (there is no such topic for it)."""
        principal: Principal = request["principal"]
        if request.match_info["binding"].lower() != "mqtt" or not self.mqtt.enabled:
            raise Problem(404, "Not Found", "no such notifier binding")
        parts = request.match_info["rest"].strip("/").split("/")
        t = self.mqtt.topics
        collections = {v: k for k, v in _collections().items()}
        bl_only = Problem(
            404, "Not Found", "program topics are for BL; VENs use /notifiers/mqtt/topics/vens/..."
        )
        names: dict[str, str] | None = None
        if len(parts) == 1 and parts[0] in collections:
            kind = collections[parts[0]]
            if kind == "PROGRAM" and not principal.is_bl:
                raise bl_only
            self._require(request, "read_all" if kind == "PROGRAM" else "read_bl")
            names = t.all(kind)
        elif len(parts) == 2 and parts[0] in ("programs", "vens"):
            kind = collections[parts[0]]
            if kind == "VEN":
                await self._ven_for(self._require(request, "read_ven_objects"), parts[1])
            else:
                if not principal.is_bl:
                    raise bl_only
                await self._exists("PROGRAM", parts[1])
            names = t.one(kind, parts[1])
        elif len(parts) == 3 and parts[0] == "programs" and parts[2] in collections:
            if not principal.is_bl:
                raise bl_only
            await self._exists("PROGRAM", parts[1])
            names = t.of_program(collections[parts[2]], parts[1])
        elif len(parts) == 3 and parts[0] == "vens" and parts[2] in _VEN_SCOPED:
            await self._ven_for(self._require(request, "read_ven_objects"), parts[1])
            names = t.of_ven(collections[parts[2]], parts[1])
        if names is None:
            raise Problem(404, "Not Found", "no such topic endpoint")
        return web.json_response({"topics": names})

    async def _exists(self, kind: str, object_id: str) -> None:
        if await self.storage.get_object(kind, object_id) is None:
            raise Problem(404, "Not Found", f"{kind.lower()} {object_id} not found")

    # --- BALANCE extensions (BL only) ----------------------------------------------------------
    async def deliveries(self, request: web.Request) -> web.Response:
        self._require(request, "read_all")
        await self._exists("EVENT", request.match_info["id"])
        rows = await self.storage.list_deliveries(request.match_info["id"])
        return web.json_response(
            [
                {
                    "eventID": d.event_id,
                    "venID": d.ven_id,
                    "clientID": d.client_id,
                    "status": d.status,
                    "receivedDateTime": _iso(d.received_at),
                    "latencySeconds": d.latency_s,
                    "channel": d.channel,
                }
                for d in rows
            ]
        )

    async def consumption(self, request: web.Request) -> web.StreamResponse:
        self._require(request, "read_all")
        target = request.query.get("target")
        try:
            start = parse_datetime(request.query["start"])
            end = parse_datetime(request.query["end"])
        except (KeyError, ValueError) as err:
            raise Problem(400, "Bad Request", "start and end (RFC 3339) are required") from err
        if not target:
            raise Problem(400, "Bad Request", "target is required")
        rows = await self.storage.group_consumption(
            target, int(start.timestamp()), int(end.timestamp())
        )
        if request.query.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["target", "kind", "unit", "hour", "meters", "total"])
            for row in rows:
                writer.writerow(
                    [row.target, row.kind, row.unit, _iso(row.hour), row.meters, row.total]
                )
            return web.Response(
                text=out.getvalue(),
                content_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{target}.csv"'},
            )
        return web.json_response(
            [
                {
                    "target": r.target,
                    "kind": r.kind,
                    "unit": r.unit,
                    "hour": _iso(r.hour),
                    "meters": r.meters,
                    "total": r.total,
                }
                for r in rows
            ]
        )

    async def audit_log(self, request: web.Request) -> web.Response:
        self._require(request, "read_all")
        entries = await self.storage.list_audit(min(int(request.query.get("limit", 100)), 1000))
        return web.json_response(
            [
                {
                    "at": _iso(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "objectType": e.object_kind,
                    "id": e.object_id,
                    "detail": e.detail,
                }
                for e in entries
            ]
        )


def _collections() -> dict[str, str]:
    from .notify import COLLECTION

    return COLLECTION


def _event_window(
    event: models.EventRequest, created_at: float
) -> tuple[float | None, float | None]:
    """[start, end) of an event in epoch seconds; None for an open bound."""
    starts: list[float] = []
    ends: list[float | None] = []
    default = event.interval_period

    def bound(period: models.IntervalPeriod | None, count: int) -> None:
        if period is None or period.start is None:
            return
        start = parse_datetime(period.start)
        begin = created_at if start.year <= 1 else start.timestamp()
        starts.append(begin)
        span = parse_duration(period.duration) if period.duration else None
        if span is None and period.duration:
            ends.append(None)
        elif span is not None:
            ends.append(begin + span.total_seconds() * max(count, 1))

    bound(default, len(event.intervals))
    for interval in event.intervals:
        bound(interval.interval_period, 1)
    if event.duration and starts:
        span = parse_duration(event.duration)
        ends.append(None if span is None else min(starts) + span.total_seconds())
    if not starts:
        return None, None
    if not ends or any(e is None for e in ends):
        return min(starts), None
    return min(starts), max(e for e in ends if e is not None)
