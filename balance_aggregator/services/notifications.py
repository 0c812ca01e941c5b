"""Fan-out of object operations to the MQTT notifier binding and to webhook subscriptions.

Objects with targets are published to the VEN-scoped topics of exactly the VENs that may read
them, with the targets each VEN may not see removed (the spec's target hiding); the broker's ACL
keeps VEN A off VEN B's topics. Webhooks go to the subscriptions whose owner may read the object.
Both run in the background: a write answers before its notifications are out.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

from balance_aggregator.config import Settings
from balance_aggregator.metrics import Metrics
from balance_aggregator.storage import ObjectQuery, Storage, StoredObject

from .kinds import KINDS, view
from .mqtt import MqttNotifier
from .webhooks import WebhookSender

_LOGGER = logging.getLogger(__name__)


def notification(
    kind: str, operation: str, obj: dict[str, Any], targets: list[str] | None
) -> bytes:
    body: dict[str, Any] = {"objectType": kind, "operation": operation, "object": obj}
    if targets:
        body["targets"] = targets
    return json.dumps(body, separators=(",", ":")).encode()


class Notifications:
    """The notifiers of one VTN process and the notifications of its writes under way."""

    def __init__(self, settings: Settings, storage: Storage, metrics: Metrics) -> None:
        self.storage = storage
        self.mqtt = MqttNotifier(settings, metrics)
        self.webhooks = WebhookSender(settings, metrics)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.webhooks.start()
        await self.mqtt.start()

    async def stop(self) -> None:
        await self.drain()
        await self.mqtt.stop()
        await self.webhooks.stop()

    async def drain(self) -> None:
        """Wait until the notifications of past writes are out (tests, shutdown)."""
        # not `while self._tasks: await gather(...)`: gather of finished tasks completes eagerly
        # without yielding, so the done-callbacks that empty the set would never run
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.wait(pending)
        await self.webhooks.drain()

    def object_changed(self, kind: str, operation: str, obj: StoredObject) -> None:
        """Notify an operation in the background."""
        self._background(self._notify(kind, operation, obj))

    def _background(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                _LOGGER.exception("notification failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
                shown = view(obj, matched)
                payload = notification(kind, operation, shown, shown.get("targets") or None)
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
        shown = view(obj, visible)
        payload = notification(kind, operation, shown, shown.get("targets") or None)
        for op in sub.body.get("objectOperations", []):
            if kind in op.get("objects", []) and operation in op.get("operations", []):
                self.webhooks.send(op["callbackUrl"], op.get("bearerToken"), payload)
