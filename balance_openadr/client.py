"""A small typed OpenADR 3.1 VEN client: tokens, reads, reports and MQTT notifications.

It speaks only the standard API (plus nothing BALANCE-specific), so it works against any 3.1 VTN;
the Home Assistant integration and the tests and benchmarks here use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiomqtt


class VtnError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"VTN answered HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class Notification:
    topic: str
    object_type: str
    operation: str
    object: dict[str, Any]
    received_at: float


class VenClient:
    """One client (VEN or BL) of a VTN. Tokens are fetched on first use and renewed on expiry."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._own_session = session is None
        self._session = session
        self._token: str | None = None
        self._expires = 0.0

    async def __aenter__(self) -> VenClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def token(self) -> str:
        if self._token is None or time.time() > self._expires - 30:
            async with self.session.get(self.base_url + "/auth/server") as response:
                token_url = (await response.json())["tokenURL"]
            async with self.session.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self._secret,
                },
            ) as response:
                body = await response.json()
                if response.status != 200:
                    raise VtnError(response.status, body)
            self._token = str(body["access_token"])
            self._expires = time.time() + float(body.get("expires_in", 3600))
        return self._token

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Sequence[tuple[str, str]] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {await self.token()}"}
        async with self.session.request(
            method, self.base_url + path, json=json_body, params=params, headers=headers
        ) as response:
            body = await response.json(content_type=None)
            if response.status >= 400:
                raise VtnError(response.status, body)
            return body

    # --- typed helpers ----------------------------------------------------------------------
    async def programs(self, targets: Sequence[str] = ()) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request(
            "GET", "/programs", params=[("targets", t) for t in targets]
        )
        return result

    async def events(
        self, *, program_id: str | None = None, targets: Sequence[str] = (), active: bool = False
    ) -> list[dict[str, Any]]:
        params = [("targets", t) for t in targets]
        if program_id:
            params.append(("programID", program_id))
        if active:
            params.append(("active", "true"))
        result: list[dict[str, Any]] = await self.request("GET", "/events", params=params)
        return result

    async def create_ven(self, ven_name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/vens", json_body={"objectType": "VEN_VEN_REQUEST", "venName": ven_name}
        )
        return result

    async def my_vens(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/vens")
        return result

    async def send_report(self, report: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", "/reports", json_body=report)
        return result

    async def acknowledge(
        self, event: dict[str, Any], *, received_at: float, channel: str, opt_out: bool = False
    ) -> dict[str, Any]:
        """Report receipt of an event (and optionally opt out of it)."""
        payloads: list[dict[str, Any]] = [
            {
                "type": "ACKNOWLEDGED",
                "values": [_iso(received_at), channel],
            }
        ]
        if opt_out:
            payloads.append({"type": "OPT_OUT", "values": [True]})
        return await self.send_report(
            {
                "eventID": event["id"],
                "clientName": self.client_id,
                "reportName": f"ack-{event['id']}",
                "resources": [
                    {
                        "resourceName": "AGGREGATED_REPORT",
                        "intervals": [{"id": 0, "payloads": payloads}],
                    }
                ],
            }
        )

    async def mqtt_details(self, ven_id: str) -> tuple[str, int, str]:
        """Broker host, port and this VEN's event topic (ALL operations)."""
        notifiers = await self.request("GET", "/notifiers")
        uri = urlsplit(notifiers["MQTT"]["URIS"][0])
        topics = await self.request("GET", f"/notifiers/mqtt/topics/vens/{ven_id}/events")
        return uri.hostname or "127.0.0.1", uri.port or 1883, str(topics["topics"]["ALL"])


@contextlib.asynccontextmanager
async def mqtt_notifications(
    host: str, port: int, topics: Sequence[str], *, identifier: str | None = None
) -> AsyncIterator[asyncio.Queue[Notification]]:
    """Subscribe to topics; notifications arrive on the yielded queue until the block exits."""
    queue: asyncio.Queue[Notification] = asyncio.Queue()
    async with aiomqtt.Client(host, port, identifier=identifier) as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)

        async def pump() -> None:
            async for message in client.messages:
                received = time.time()
                raw = message.payload
                text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
                body = json.loads(text)
                await queue.put(
                    Notification(
                        topic=str(message.topic),
                        object_type=body["objectType"],
                        operation=body["operation"],
                        object=body["object"],
                        received_at=received,
                    )
                )

        task = asyncio.create_task(pump())
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
