"""The MQTT notifier binding: topic names and one connection to the broker.

Topic names follow the examples of the 3.1 notifier document (``events/create``,
``events/programs/{programID}/create``, ``events/vens/{venID}/create``, ...). Nothing is retained
by default: a (re)connecting VEN GETs current state (spec 16.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterable

import aiomqtt

from balance_aggregator.config import Settings
from balance_aggregator.metrics import Metrics

from .kinds import COLLECTION

_LOGGER = logging.getLogger(__name__)

OPS = ("CREATE", "UPDATE", "DELETE")


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
