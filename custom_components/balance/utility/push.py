"""The 3.1 MQTT notifier binding from the VEN's side: where to connect, and the message loop.

Only what /notifiers and the topic endpoints say is used, so any VTN with the binding works. A
broken connection is retried with backoff; after every (re)connect the VEN polls, as the binding
recommends (notifications published while it was away are not replayed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from balance_openadr.client import VenClient, VtnError

_LOGGER = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool
    topic: str
    bearer: bool
    """OAUTH2_BEARER_TOKEN: username the clientID, password a fresh access token."""


async def async_mqtt_endpoint(client: VenClient, ven_id: str) -> MqttEndpoint | None:
    """The broker and this VEN's event topic, or None when the VTN offers no MQTT binding."""
    try:
        notifiers = await client.request("GET", "/notifiers")
    except VtnError as err:
        if err.status == 404:
            return None  # a 3.0.1 VTN: no notifier discovery, webhooks or polling only
        raise
    mqtt = notifiers.get("MQTT") if isinstance(notifiers, dict) else None
    if not isinstance(mqtt, dict) or not mqtt.get("URIS"):
        return None
    if str(mqtt.get("serialization", "JSON")).upper() != "JSON":
        return None
    uri = urlsplit(str(mqtt["URIS"][0]))
    tls = uri.scheme in ("mqtts", "ssl", "wss")
    topics = await client.request("GET", f"/notifiers/mqtt/topics/vens/{ven_id}/events")
    method = str((mqtt.get("authentication") or {}).get("method", "ANONYMOUS")).upper()
    return MqttEndpoint(
        host=uri.hostname or "127.0.0.1",
        port=uri.port or (8883 if tls else 1883),
        tls=tls,
        topic=str(topics["topics"]["ALL"]),
        bearer=method == "OAUTH2_BEARER_TOKEN",
    )


async def async_run_push(
    client: VenClient,
    endpoint: MqttEndpoint,
    on_connected: Callable[[], Awaitable[None]],
    on_notification: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Runs until cancelled: subscribe, hand every notification object on, reconnect on loss."""
    backoff = 1.0
    while True:
        try:
            password = await client.token() if endpoint.bearer else None
            mqtt = aiomqtt.Client(
                endpoint.host,
                endpoint.port,
                username=client.client_id if endpoint.bearer else None,
                password=password,
                tls_params=aiomqtt.TLSParameters() if endpoint.tls else None,
            )
            # aiomqtt cancelled while it connects (in a thread, then waiting for CONNACK) leaves
            # the socket and its housekeeping task behind: let the attempt finish, then close
            # it (bounded: the broker may be gone).
            connecting = asyncio.ensure_future(mqtt.__aenter__())
            try:
                await asyncio.shield(connecting)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await connecting
                        await mqtt.__aexit__(None, None, None)
                raise
            try:
                await mqtt.subscribe(endpoint.topic, qos=1)
                backoff = 1.0
                await on_connected()
                async for message in mqtt.messages:
                    payload = message.payload
                    try:
                        body = json.loads(payload)
                    except ValueError, TypeError:
                        _LOGGER.warning("Not JSON on %s: %r", message.topic, payload[:200])
                        continue
                    if isinstance(body, dict):
                        await on_notification(body)
            finally:
                await mqtt.__aexit__(None, None, None)
        except asyncio.CancelledError:
            raise
        except (aiomqtt.MqttError, VtnError, OSError) as err:
            _LOGGER.info("MQTT notifier connection lost (%s); polling until it is back", err)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
