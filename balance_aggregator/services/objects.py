"""OpenADR objects between a request and the storage: validation, privacy, audit, notification.

Nothing here knows HTTP beyond the :class:`~balance_aggregator.errors.Problem` it raises: the
handlers of :mod:`balance_aggregator.http` parse a request into a principal, a body and the ids
in its path, and the operator page calls the same methods for its users.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from balance_aggregator.auth import Principal
from balance_aggregator.errors import Problem
from balance_aggregator.metrics import Metrics
from balance_aggregator.storage import AuditEntry, Conflict, ObjectQuery, Storage, StoredObject
from balance_openadr import models
from balance_openadr.times import parse_datetime, parse_duration

from .kinds import KINDS, view
from .notifications import Notifications
from .reports import extract_deliveries, extract_readings
from .webhooks import WebhookError

_AUDIT = logging.getLogger("balance_aggregator.audit")


def iso(ts: float) -> str:
    """Epoch seconds as the spec's date-time (UTC, milliseconds)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def validate[M: BaseModel](model: type[M], body: dict[str, Any]) -> M:
    """A request body as its wire model; Problem 400 naming the first ten errors."""
    try:
        return model.model_validate(body)
    except ValidationError as err:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:10]
        )
        raise Problem(400, "Bad Request", detail) from err


def not_found(kind: str, object_id: str) -> Problem:
    return Problem(404, "Not Found", f"{kind.lower()} {object_id} not found")


class ObjectService:
    """Create, read, update and delete OpenADR objects for a principal."""

    def __init__(self, storage: Storage, notifications: Notifications, metrics: Metrics) -> None:
        self.storage = storage
        self.notifications = notifications
        self.metrics = metrics

    # --- privacy ------------------------------------------------------------------------------
    async def effective_targets(
        self, principal: Principal, requested: Sequence[str] | None
    ) -> set[str]:
        """What a VEN may match programs and events by: the targets BL granted to its ven and
        resource objects, narrowed to those it asked for."""
        _, granted = await self.storage.granted_targets(principal.client_id)
        return granted & set(requested) if requested is not None else granted

    async def scoped_query(
        self, principal: Principal, kind: str, requested: Sequence[str] | None, query: ObjectQuery
    ) -> set[str] | None:
        """Narrow a search to what the principal may read; returns the targets it may see of
        what is found (None: all of them)."""
        if KINDS[kind].targeted:
            if principal.is_bl:
                query.targets = requested
                return None
            visible = await self.effective_targets(principal, requested)
            query.targets = sorted(visible)
            query.untargeted_match = True
            return visible
        if not principal.is_bl:
            query.client_id = principal.client_id
        if requested is not None and kind in ("VEN", "RESOURCE"):
            query.targets = requested
        return None

    async def search(
        self, principal: Principal, query: ObjectQuery, requested: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        """The bodies of the objects a search finds, as the principal may see them."""
        visible = await self.scoped_query(principal, query.kind, requested, query)
        return [view(o, visible) for o in await self.storage.list_objects(query)]

    async def visible_one(
        self,
        principal: Principal,
        kind: str,
        object_id: str,
        requested: Callable[[], Sequence[str] | None],
        path_ven: str | None = None,
    ) -> tuple[StoredObject, set[str] | None]:
        """One object the principal may read, and the targets it may see; Problem 404 if it may
        not (an object one may not read does not exist for one). ``requested`` gives the targets
        asked for; only a VEN's read of a program or event asks it."""
        obj = await self.storage.get_object(kind, object_id)
        if obj is None or (path_ven is not None and obj.ven_id != path_ven):
            raise not_found(kind, object_id)
        visible: set[str] | None = None
        if not principal.is_bl:
            if KINDS[kind].targeted:
                visible = await self.effective_targets(principal, requested())
                if obj.targets and not visible.intersection(obj.targets):
                    raise not_found(kind, object_id)
            elif obj.client_id != principal.client_id:
                raise not_found(kind, object_id)
        return obj, visible

    async def owned(
        self, principal: Principal, kind: str, object_id: str, path_ven: str | None = None
    ) -> StoredObject:
        """An object the principal may write; Problem 404 otherwise."""
        obj = await self.storage.get_object(kind, object_id)
        if (
            obj is None
            or (not principal.is_bl and obj.client_id != principal.client_id)
            or (path_ven is not None and obj.ven_id != path_ven)
        ):
            raise not_found(kind, object_id)
        return obj

    async def ven_for(self, principal: Principal, ven_id: str) -> StoredObject:
        """A ven object the principal owns (BL: any); Problem 404 otherwise."""
        ven = await self.storage.get_object("VEN", ven_id)
        if ven is None or (not principal.is_bl and ven.client_id != principal.client_id):
            raise Problem(404, "Not Found", f"ven {ven_id} not found")
        return ven

    async def exists(self, kind: str, object_id: str) -> None:
        """Problem 404 unless the object is stored."""
        if await self.storage.get_object(kind, object_id) is None:
            raise not_found(kind, object_id)

    # --- writes -------------------------------------------------------------------------------
    async def create(
        self,
        principal: Principal,
        kind: str,
        body: dict[str, Any],
        path_ven: str | None = None,
    ) -> StoredObject:
        """Validate and store a new object; a report already stored (same client, same content)
        is returned as it is, with nothing written or notified again."""
        obj, side = await self.build(
            kind, principal, body, secrets.token_hex(8), time.time(), None, path_ven
        )
        try:
            stored = await self.storage.insert_object(
                obj,
                readings=side.get("readings", ()),
                deliveries=side.get("deliveries", ()),
                audit=self.audit(principal, "CREATE", obj),
            )
        except Conflict as err:
            # POST /vens documents no 409 although venName must be unique: 400 there
            status = 400 if kind == "VEN" else 409
            raise Problem(status, "Conflict", "an object with this name already exists") from err
        if stored is obj:
            self._after_write(kind, "CREATE", stored, side)
        return stored

    async def update(
        self,
        principal: Principal,
        previous: StoredObject,
        body: dict[str, Any],
        path_ven: str | None = None,
    ) -> StoredObject:
        """Replace an object the principal owns (see :meth:`owned`) with a new body."""
        kind = previous.kind
        obj, side = await self.build(
            kind, principal, body, previous.id, previous.created_at, previous, path_ven
        )
        try:
            ok = await self.storage.replace_object(
                obj,
                readings=side.get("readings", ()),
                deliveries=side.get("deliveries", ()),
                audit=self.audit(principal, "UPDATE", obj),
            )
        except Conflict as err:
            raise Problem(409, "Conflict", "an object with this name already exists") from err
        if not ok:
            raise not_found(kind, previous.id)
        self._after_write(kind, "UPDATE", obj, side)
        return obj

    async def delete(self, principal: Principal, obj: StoredObject) -> StoredObject:
        """Delete an object (a VEN with its resources); Problem 404 if it is gone already."""
        removed = await self.storage.delete_object(
            obj.kind, obj.id, audit=self.audit(principal, "DELETE", obj)
        )
        if removed is None:
            raise not_found(obj.kind, obj.id)
        self._after_write(obj.kind, "DELETE", removed, {})
        return removed

    async def delete_by_id(self, principal: Principal, kind: str, object_id: str) -> StoredObject:
        """Delete by id, for a caller that checked the principal may; Problem 404 if absent."""
        obj = await self.storage.get_object(kind, object_id)
        if obj is None:
            raise not_found(kind, object_id)
        return await self.delete(principal, obj)

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
        self.notifications.object_changed(kind, operation, obj)

    def audit(self, principal: Principal, action: str, obj: StoredObject) -> AuditEntry | None:
        """The audit entry of a write of a program, event, ven or resource (None for others)."""
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

    # --- building -----------------------------------------------------------------------------
    async def build(  # noqa: PLR0917
        self,
        kind: str,
        principal: Principal,
        body: dict[str, Any],
        object_id: str,
        created_at: float,
        previous: StoredObject | None,
        path_ven: str | None = None,
    ) -> tuple[StoredObject, dict[str, Any]]:
        """Validate a request body into the object to store; returns it with side data (the
        readings and DR deliveries a report carries). ``path_ven`` is the VEN of a nested
        ``/vens/{venID}/resources`` path."""
        now = time.time()
        meta = {
            "id": object_id,
            "createdDateTime": iso(created_at),
            "modificationDateTime": iso(now),
            "objectType": kind,
        }
        obj = StoredObject(kind=kind, id=object_id, created_at=created_at, modified_at=now, body={})
        side: dict[str, Any] = {}
        if kind == "PROGRAM":
            data = self._program(obj, body, object_id)
        elif kind == "EVENT":
            data = await self._event(obj, body, created_at)
        elif kind == "REPORT":
            data = await self._report(obj, body, principal, object_id, now, side)
        elif kind == "SUBSCRIPTION":
            data = await self._subscription(obj, body, principal)
        elif kind == "VEN":
            data = self._ven(obj, body, principal, object_id, previous)
        elif kind == "RESOURCE":
            data = await self._resource(obj, body, principal, previous, path_ven)
        else:  # pragma: no cover - KINDS is closed
            raise Problem(404, "Not Found")
        if obj.targets:
            obj.targets = list(dict.fromkeys(obj.targets))
            data["targets"] = obj.targets
        obj.body = {**meta, **data}
        return obj, side

    @staticmethod
    def _program(obj: StoredObject, body: dict[str, Any], object_id: str) -> dict[str, Any]:
        program = validate(models.ProgramRequest, body)
        obj.unique_name = program.program_name
        obj.program_id = object_id
        obj.targets = list(program.targets or [])
        return program.to_json()

    async def _event(
        self, obj: StoredObject, body: dict[str, Any], created_at: float
    ) -> dict[str, Any]:
        event = validate(models.EventRequest, body)
        if await self.storage.get_object("PROGRAM", event.program_id) is None:
            raise Problem(409, "Conflict", f"program {event.program_id} does not exist")
        obj.program_id = event.program_id
        obj.targets = list(event.targets or [])
        obj.starts_at, obj.ends_at = event_window(event, created_at)
        return event.to_json()

    async def _report(  # noqa: PLR0917
        self,
        obj: StoredObject,
        body: dict[str, Any],
        principal: Principal,
        object_id: str,
        now: float,
        side: dict[str, Any],
    ) -> dict[str, Any]:
        report = validate(models.ReportRequest, body)
        event_obj = await self.storage.get_object("EVENT", report.event_id)
        if event_obj is not None and event_obj.targets:
            # an event the VEN may not read is, for it, an event that does not exist
            granted = await self.effective_targets(principal, None)
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
        return data

    async def _subscription(
        self, obj: StoredObject, body: dict[str, Any], principal: Principal
    ) -> dict[str, Any]:
        sub = validate(models.SubscriptionRequest, body)
        if sub.program_id and await self.storage.get_object("PROGRAM", sub.program_id) is None:
            raise Problem(409, "Conflict", f"program {sub.program_id} does not exist")
        for url in dict.fromkeys(op.callback_url for op in sub.object_operations):
            try:
                await self.notifications.webhooks.challenge(url)
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
        return data

    @staticmethod
    def _ven(
        obj: StoredObject,
        body: dict[str, Any],
        principal: Principal,
        object_id: str,
        previous: StoredObject | None,
    ) -> dict[str, Any]:
        body = dict(body)
        body.setdefault("objectType", "BL_VEN_REQUEST" if principal.is_bl else "VEN_VEN_REQUEST")
        if body.get("objectType") == "BL_VEN_REQUEST":
            if not principal.is_bl:
                raise Problem(403, "Forbidden", "only BL may write targets and clientID")
            bl_ven = validate(models.BlVenRequest, body)
            data = bl_ven.to_json()
            obj.targets = list(bl_ven.targets or [])
            obj.client_id = bl_ven.client_id
        else:
            ven_ven = validate(models.VenVenRequest, body)
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
        return data

    async def _resource(
        self,
        obj: StoredObject,
        body: dict[str, Any],
        principal: Principal,
        previous: StoredObject | None,
        path_ven: str | None,
    ) -> dict[str, Any]:
        body = dict(body)
        if path_ven is not None:
            body["venID"] = path_ven
        body.setdefault(
            "objectType", "BL_RESOURCE_REQUEST" if principal.is_bl else "VEN_RESOURCE_REQUEST"
        )
        if body.get("objectType") == "BL_RESOURCE_REQUEST":
            if not principal.is_bl:
                raise Problem(403, "Forbidden", "only BL may write targets and clientID")
            bl_res = validate(models.BlResourceRequest, body)
            await self.ven_for(principal, bl_res.ven_id)
            data = bl_res.to_json()
            obj.targets = list(bl_res.targets or [])
            obj.client_id = bl_res.client_id
            obj.ven_id = bl_res.ven_id
        else:
            ven_res = validate(models.VenResourceRequest, body)
            ven = await self.ven_for(principal, ven_res.ven_id)
            data = ven_res.to_json()
            obj.client_id = previous.client_id if previous is not None else ven.client_id
            obj.targets = list(previous.targets) if previous is not None else []
            obj.ven_id = ven_res.ven_id
            data["clientID"] = obj.client_id
            if obj.targets:
                data["targets"] = obj.targets
        data.pop("objectType", None)
        obj.unique_name = f"{obj.ven_id}/{data['resourceName']}"
        return data


def event_window(
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
