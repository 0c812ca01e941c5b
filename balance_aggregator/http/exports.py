"""BALANCE's BL extensions under /balance: DR deliveries of an event, a group's hourly
consumption (JSON or CSV), the audit log."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from balance_aggregator.services.objects import iso
from balance_openadr.times import parse_datetime

from .common import Problem, require
from .state import AppState


class ExportHandlers:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/balance/events/{id}/deliveries", self.deliveries),
            web.get("/balance/consumption", self.consumption),
            web.get("/balance/audit", self.audit_log),
        ]

    async def deliveries(self, request: web.Request) -> web.Response:
        require(request, "read_all")
        await self.state.objects.exists("EVENT", request.match_info["id"])
        rows = await self.state.storage.list_deliveries(request.match_info["id"])
        return web.json_response(
            [
                {
                    "eventID": d.event_id,
                    "venID": d.ven_id,
                    "clientID": d.client_id,
                    "status": d.status,
                    "receivedDateTime": iso(d.received_at),
                    "latencySeconds": d.latency_s,
                    "channel": d.channel,
                }
                for d in rows
            ]
        )

    async def consumption(self, request: web.Request) -> web.StreamResponse:
        require(request, "read_all")
        target = request.query.get("target")
        try:
            start = parse_datetime(request.query["start"])
            end = parse_datetime(request.query["end"])
        except (KeyError, ValueError) as err:
            raise Problem(400, "Bad Request", "start and end (RFC 3339) are required") from err
        if not target:
            raise Problem(400, "Bad Request", "target is required")
        rows = await self.state.storage.group_consumption(
            target, int(start.timestamp()), int(end.timestamp())
        )
        if request.query.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            # estimated: how many of the hour's meter values are estimates, not measurements
            writer.writerow(["target", "kind", "unit", "hour", "meters", "total", "estimated"])
            for row in rows:
                writer.writerow(
                    [
                        row.target,
                        row.kind,
                        row.unit,
                        iso(row.hour),
                        row.meters,
                        row.total,
                        row.estimated,
                    ]
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
                    "hour": iso(r.hour),
                    "meters": r.meters,
                    "total": r.total,
                    "estimated": r.estimated,
                }
                for r in rows
            ]
        )

    async def audit_log(self, request: web.Request) -> web.Response:
        require(request, "read_all")
        entries = await self.state.storage.list_audit(
            min(int(request.query.get("limit", 100)), 1000)
        )
        return web.json_response(
            [
                {
                    "at": iso(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "objectType": e.object_kind,
                    "id": e.object_id,
                    "detail": e.detail,
                }
                for e in entries
            ]
        )


def routes(state: AppState) -> list[web.RouteDef]:
    return ExportHandlers(state).routes()
