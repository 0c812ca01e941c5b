"""The VTN service of one process: storage, token issuer, domain services and the application.

:class:`Vtn` only wires the layers together and runs their life cycle:
``http`` (handlers per resource) → ``services`` (objects, notifications, roll-ups, head-end) →
``storage`` (one interface, one folder per database).
"""

from __future__ import annotations

from aiohttp import web

from .auth import TokenIssuer, new_secret
from .config import Settings
from .http.app import build_app, build_runner
from .http.common import TokenBucket
from .http.state import AppState
from .metrics import Metrics
from .services.headend import HeadendService, settings_of
from .services.notifications import Notifications
from .services.objects import ObjectService
from .services.rollup import RollupLoop
from .storage import Storage


def describe_metrics(m: Metrics) -> None:
    m.describe("vtn_http_requests_total", "counter", "HTTP requests by route and status")
    m.describe("vtn_http_request_seconds", "histogram", "HTTP request duration")
    m.describe("vtn_mqtt_published_total", "counter", "MQTT notifications accepted by broker")
    m.describe("vtn_mqtt_dropped_total", "counter", "MQTT notifications not published")
    m.describe("vtn_readings_ingested_total", "counter", "hourly readings new or changed")
    m.describe("vtn_dr_delivery_latency_seconds", "histogram", "event creation to VEN receipt")
    m.describe("vtn_webhook_delivered_total", "counter", "webhook notifications delivered")
    m.describe("vtn_grid_rollup_hours_total", "counter", "node balances stored, in hours")
    m.describe("vtn_grid_rollup_failed_total", "counter", "roll-up turns that failed")


class Vtn:
    """The service: storage, token issuer, notifiers, the roll-up loop and the aiohttp app."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.metrics = Metrics()
        self.notifications = Notifications(settings, storage, self.metrics)
        self.objects = ObjectService(storage, self.notifications, self.metrics)
        self.rollup = RollupLoop(settings, storage, self.metrics)
        self.headend: HeadendService | None = None
        if settings.headend_in_serve:
            self.headend = HeadendService(storage, settings_of(settings))
        self.state = AppState(
            settings=settings,
            storage=storage,
            metrics=self.metrics,
            objects=self.objects,
            notifications=self.notifications,
            limiter=TokenBucket(settings.rate_limit_per_s, settings.rate_limit_burst),
        )
        describe_metrics(self.metrics)

    @property
    def tokens(self) -> TokenIssuer | None:
        return self.state.tokens

    async def start(self) -> None:
        await self.storage.open()
        key = self.settings.token_secret or await self.storage.get_or_create_setting(
            "token_secret", new_secret()
        )
        self.state.tokens = TokenIssuer(key, self.settings.token_ttl_s)
        await self.notifications.start()
        self.rollup.start()
        if self.headend is not None:
            self.headend.start()

    async def stop(self) -> None:
        if self.headend is not None:
            await self.headend.stop()
        await self.rollup.stop()
        await self.notifications.stop()
        await self.storage.close()

    async def drain(self) -> None:
        """Wait until the notifications of past writes are out (tests, shutdown)."""
        await self.notifications.drain()

    def app(self) -> web.Application:
        return build_app(self.state)

    def runner(self) -> web.AppRunner:
        return build_runner(self.state)
