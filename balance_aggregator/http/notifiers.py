"""/notifiers: the bindings the VTN offers (webhooks, MQTT) and the MQTT topic names.

Program-wide topics carry every VEN's events, so only BL gets them; a VEN is pointed at its own
VEN-scoped topics. Where the spec documents no 403 for an endpoint, a VEN is answered 404 (there
is no such topic for it).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from balance_aggregator.auth import Principal
from balance_aggregator.services.kinds import COLLECTION

from .common import Problem, require
from .state import AppState

_VEN_SCOPED = ("events", "programs", "resources")


class NotifierHandlers:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/notifiers", self.notifiers),
            web.get("/notifiers/{binding}/topics/{rest:.+}", self.topics),
        ]

    async def notifiers(self, request: web.Request) -> web.Response:
        require(request, "read_all" if request["principal"].is_bl else "read_targets")
        settings = self.state.settings
        body: dict[str, Any] = {"WEBHOOK": True}
        if self.state.notifications.mqtt.enabled:
            uris = settings.mqtt_public_uris or [
                f"mqtt://{settings.mqtt_host}:{settings.mqtt_port}"
            ]
            auth: dict[str, str] = {"method": settings.mqtt_auth_method}
            if settings.mqtt_auth_method == "OAUTH2_BEARER_TOKEN":
                auth["username"] = "{clientID}"
            body["MQTT"] = {"URIS": uris, "serialization": "JSON", "authentication": auth}
        return web.json_response(body)

    async def topics(self, request: web.Request) -> web.Response:
        principal: Principal = request["principal"]
        mqtt = self.state.notifications.mqtt
        objects = self.state.objects
        if request.match_info["binding"].lower() != "mqtt" or not mqtt.enabled:
            raise Problem(404, "Not Found", "no such notifier binding")
        parts = request.match_info["rest"].strip("/").split("/")
        t = mqtt.topics
        collections = {v: k for k, v in COLLECTION.items()}
        bl_only = Problem(
            404, "Not Found", "program topics are for BL; VENs use /notifiers/mqtt/topics/vens/..."
        )
        names: dict[str, str] | None = None
        if len(parts) == 1 and parts[0] in collections:
            kind = collections[parts[0]]
            if kind == "PROGRAM" and not principal.is_bl:
                raise bl_only
            require(request, "read_all" if kind == "PROGRAM" else "read_bl")
            names = t.all(kind)
        elif len(parts) == 2 and parts[0] in ("programs", "vens"):
            kind = collections[parts[0]]
            if kind == "VEN":
                await objects.ven_for(require(request, "read_ven_objects"), parts[1])
            else:
                if not principal.is_bl:
                    raise bl_only
                await objects.exists("PROGRAM", parts[1])
            names = t.one(kind, parts[1])
        elif len(parts) == 3 and parts[0] == "programs" and parts[2] in collections:
            if not principal.is_bl:
                raise bl_only
            await objects.exists("PROGRAM", parts[1])
            names = t.of_program(collections[parts[2]], parts[1])
        elif len(parts) == 3 and parts[0] == "vens" and parts[2] in _VEN_SCOPED:
            await objects.ven_for(require(request, "read_ven_objects"), parts[1])
            names = t.of_ven(collections[parts[2]], parts[1])
        if names is None:
            raise Problem(404, "Not Found", "no such topic endpoint")
        return web.json_response({"topics": names})


def routes(state: AppState) -> list[web.RouteDef]:
    return NotifierHandlers(state).routes()
