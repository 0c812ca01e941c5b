"""Notifications of object operations: the MQTT notifier binding and webhook subscriptions.

Topic names follow the examples of the 3.1 notifier document (``events/create``,
``events/programs/{programID}/create``, ``events/vens/{venID}/create``, ...). Objects with targets
are published to the VEN-scoped topics of exactly the VENs that may read them, with the targets
each VEN may not see removed (the spec's target hiding); the broker's ACL keeps VEN A off VEN B's
topics. Nothing is retained by default: a (re)connecting VEN GETs current state (spec 16.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiomqtt

from .config import Settings
from .metrics import Metrics

_LOGGER = logging.getLogger(__name__)

OPS = ("CREATE", "UPDATE", "DELETE")
COLLECTION = {
    "PROGRAM": "programs",
    "EVENT": "events",
    "REPORT": "reports",
    "SUBSCRIPTION": "subscriptions",
    "VEN": "vens",
    "RESOURCE": "resources",
}


class Topics:
    """Topic names, as served by the /notifiers/mqtt/topics endpoints and published to."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""

    def _set(self, base: str, create: bool = True) -> dict[str, str]:
        names = {op: f"{self.prefix}{base}/{op.lower()}" for op in OPS}
        if not create:
            del names["CREATE"]
        names["ALL"] = f"{self.prefix}{base}/+"
        return names

    def all(self, kind: str) -> dict[str, str]:
        return self._set(COLLECTION[kind])

    def one(self, kind: str, object_id: str) -> dict[str, str]:
        return self._set(f"{COLLECTION[kind]}/{object_id}", create=False)

    def of_program(self, kind: str, program_id: str) -> dict[str, str]:
        return self._set(f"{COLLECTION[kind]}/programs/{program_id}")

    def of_ven(self, kind: str, ven_id: str) -> dict[str, str]:
        return self._set(f"{COLLECTION[kind]}/vens/{ven_id}")


class MqttNotifier:
    """One connection to the broker, kept up by a background task; publishes never block a request
    for long: when the broker is down a notification is dropped and counted (VENs poll as the
    fallback the spec describes)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._connected = asyncio.Event()
        self.topics = Topics(settings.mqtt_topic_prefix)

    @property
    def enabled(self) -> bool:
        return bool(self._settings.mqtt_host)

    async def start(self, wait_s: float = 5.0) -> None:
        if not self.enabled:
            return
        self._task = asyncio.create_task(self._run(), name="vtn-mqtt")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), wait_s)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            # a graceful DISCONNECT first; cancel only a connection that does not close
            _, pending = await asyncio.wait([task], timeout=10)
            if pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                async with aiomqtt.Client(
                    self._settings.mqtt_host,
                    self._settings.mqtt_port,
                    username=self._settings.mqtt_username or None,
                    password=self._settings.mqtt_password or None,
                    identifier=f"balance-vtn-{secrets.token_hex(4)}",
                    max_inflight_messages=1000,
                    max_queued_outgoing_messages=0,
                ) as client:
                    self._client = client
                    self._connected.set()
                    backoff = 0.5
                    _LOGGER.info("mqtt connected", extra={"broker": self._settings.mqtt_host})
                    await self._stop.wait()
            except aiomqtt.MqttError as err:
                _LOGGER.warning("mqtt unavailable", extra={"error": str(err)})
                self._metrics.inc("vtn_mqtt_connect_errors_total")
            finally:
                self._client = None
                self._connected.clear()
            if not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)

    async def publish_many(self, messages: Iterable[tuple[str, bytes]]) -> int:
        """Publish concurrently; returns how many the broker accepted."""
        client = self._client
        if client is None:
            pending = list(messages)
            self._metrics.inc("vtn_mqtt_dropped_total", len(pending))
            return 0
        qos, retain = self._settings.mqtt_qos, self._settings.mqtt_retain

        async def one(topic: str, payload: bytes) -> bool:
            try:
                await client.publish(topic, payload, qos=qos, retain=retain, timeout=10)
            except aiomqtt.MqttError:
                return False
            return True

        results = await asyncio.gather(*(one(t, p) for t, p in messages))
        sent = sum(results)
        self._metrics.inc("vtn_mqtt_published_total", sent)
        self._metrics.inc("vtn_mqtt_dropped_total", len(results) - sent)
        return sent


def notification(
    kind: str, operation: str, obj: dict[str, Any], targets: list[str] | None
) -> bytes:
    body: dict[str, Any] = {"objectType": kind, "operation": operation, "object": obj}
    if targets:
        body["targets"] = targets
    return json.dumps(body, separators=(",", ":")).encode()


class WebhookError(Exception):
    pass


def check_callback_url(url: str, settings: Settings) -> None:
    """The spec's webhook rules: https only; no loopback/private/reserved address (SSRF)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError(f"callbackUrl must be an absolute https URL: {url!r}")
    if parts.scheme == "http" and not settings.webhook_allow_http:
        raise WebhookError("callbackUrl must use https")
    host = parts.hostname
    if host in settings.webhook_allowed_hosts:
        return
    if settings.webhook_allowed_hosts and settings.webhook_allow_http:
        # development mode: only the listed hosts are ever contacted
        raise WebhookError(f"callback host {host!r} is not allowed")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise WebhookError(f"callback host {host!r} is not allowed") from None
        return
    if not address.is_global:
        raise WebhookError(f"callback address {host} is private or reserved")


class WebhookSender:
    """Echo challenge on subscription, then POSTs with retry and exponential backoff."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_s)
        )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("webhook sender is not started")
        return self._session

    async def challenge(self, url: str) -> None:
        check_callback_url(url, self._settings)
        echo = secrets.token_urlsafe(16)
        try:
            async with self.session.get(
                url, params={"echo": echo}, allow_redirects=False
            ) as response:
                text = await response.text()
                if response.status != 200 or echo not in text:
                    raise WebhookError(
                        f"callback did not answer the echo challenge (HTTP {response.status})"
                    )
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise WebhookError(f"callback unreachable: {err}") from err

    def send(self, url: str, bearer: str | None, payload: bytes) -> None:
        task = asyncio.create_task(self._deliver(url, bearer, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the deliveries under way (tests, shutdown)."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.wait(pending)

    async def _deliver(self, url: str, bearer: str | None, payload: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        delay = self._settings.webhook_backoff_s
        for attempt in range(self._settings.webhook_retries + 1):
            started = time.monotonic()
            try:
                async with self.session.post(
                    url, data=payload, headers=headers, allow_redirects=False
                ) as response:
                    if 200 <= response.status < 300:
                        self._metrics.inc("vtn_webhook_delivered_total")
                        self._metrics.observe("vtn_webhook_seconds", time.monotonic() - started)
                        return
                    error = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as err:
                error = str(err) or type(err).__name__
            self._metrics.inc("vtn_webhook_retries_total")
            _LOGGER.info(
                "webhook attempt failed",
                extra={"url": url, "attempt": attempt + 1, "error": error},
            )
            if attempt < self._settings.webhook_retries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)
        self._metrics.inc("vtn_webhook_failed_total")
        _LOGGER.warning("webhook given up", extra={"url": url})
