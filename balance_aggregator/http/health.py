"""/health (load balancers) and /metrics (Prometheus), both without a token."""

from __future__ import annotations

from aiohttp import web

from .state import AppState


class HealthHandlers:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/health", self.health), web.get("/metrics", self.metrics)]

    async def health(self, request: web.Request) -> web.Response:
        storage = self.state.storage
        try:
            await storage.ping()
        except Exception as err:
            return web.json_response({"status": "error", "database": str(err)}, status=503)
        return web.json_response(
            {
                "status": "ok",
                "database": "ok",
                "schema": await storage.schema_version(),
                "mqtt": "connected" if self.state.notifications.mqtt.connected else "disconnected",
            }
        )

    async def metrics(self, request: web.Request) -> web.Response:
        metrics = self.state.metrics
        metrics.set("vtn_mqtt_connected", 1.0 if self.state.notifications.mqtt.connected else 0.0)
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")


def routes(state: AppState) -> list[web.RouteDef]:
    return HealthHandlers(state).routes()
