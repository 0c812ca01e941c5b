"""A real BALANCE VTN in the test's event loop, for the Home Assistant VEN tests.

SQLite in the test's tmp dir and the real Mosquitto (a per-test topic prefix keeps parallel runs
apart). The VTN can be stopped and started again on the same port and database: a VTN outage.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from balance_aggregator.auth import hash_secret, new_secret
from balance_aggregator.config import Settings
from balance_aggregator.storage import Client, open_storage
from balance_aggregator.vtn import Vtn
from balance_openadr.client import VenClient
from custom_components.balance.const import CONF_ENTRY_TYPE, CONF_URL, DOMAIN, ENTRY_TYPE_UTILITY
from custom_components.balance.utility.config_flow import utility_unique_id
from custom_components.balance.utility.const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
)

HOUSE = "house-1"
HOUSE_CLIENT = "house-1-client"
GROUP = "street-1"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class RunningVtn:
    db: str
    mqtt: bool
    prefix: str = field(default_factory=lambda: f"test-{secrets.token_hex(4)}")
    port: int = 0
    vtn: Vtn | None = None
    runner: web.AppRunner | None = None
    session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        settings = Settings(
            db=self.db,
            mqtt_host="127.0.0.1" if self.mqtt else "",
            mqtt_port=1883,
            mqtt_topic_prefix=self.prefix,
        )
        self.vtn = Vtn(settings, open_storage(self.db))
        await self.vtn.start()
        self.runner = self.vtn.runner()
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]
        if self.session is None:
            self.session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.vtn is not None:
            await self.vtn.stop()
            self.vtn = None

    async def close(self) -> None:
        await self.stop()
        if self.session is not None:
            await self.session.close()

    async def client(self, client_id: str, role: str, secret: str | None = None) -> VenClient:
        assert self.vtn is not None and self.session is not None
        secret = secret or new_secret()
        await self.vtn.storage.put_client(Client(client_id, hash_secret(secret), role, time.time()))
        return VenClient(self.url, client_id, secret, session=self.session)

    async def house(self, bl: VenClient) -> VenClient:
        """The house's VEN client, with the ven object BL provisions for it in GROUP."""
        client = await self.client(HOUSE_CLIENT, "ven")
        await bl.request(
            "POST",
            "/vens",
            json_body={
                "objectType": "BL_VEN_REQUEST",
                "clientID": HOUSE_CLIENT,
                "venName": HOUSE,
                "targets": [GROUP],
            },
        )
        return client


@pytest.fixture
async def vtn_factory(tmp_path: Path) -> AsyncIterator[list[RunningVtn]]:
    started: list[RunningVtn] = []
    yield started
    for running in reversed(started):
        await running.close()


async def start_vtn(started: list[RunningVtn], tmp_path: Path, *, mqtt: bool = True) -> RunningVtn:
    running = RunningVtn(f"sqlite:///{tmp_path}/vtn-{len(started)}.db", mqtt)
    await running.start()
    started.append(running)
    return running


def utility_entry(url: str, client: VenClient, **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Utility 127.0.0.1",
        data={
            CONF_ENTRY_TYPE: ENTRY_TYPE_UTILITY,
            CONF_URL: url,
            CONF_CLIENT_ID: client.client_id,
            CONF_CLIENT_SECRET: client._secret,
        },
        options=options,
        unique_id=utility_unique_id(url, client.client_id),
    )


async def program(bl: VenClient, name: str = "dr") -> str:
    body = await bl.request("POST", "/programs", json_body={"programName": name})
    return str(body["id"])


async def post_event(
    bl: VenClient,
    program_id: str,
    payload_type: str,
    value: float,
    *,
    start: datetime,
    duration: str,
    targets: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programID": program_id,
        "eventName": f"{payload_type} {value}",
        "intervalPeriod": {"start": iso(start), "duration": duration},
        "intervals": [{"id": 0, "payloads": [{"type": payload_type, "values": [value]}]}],
        "targets": [GROUP] if targets is None else targets,
        **extra,
    }
    result: dict[str, Any] = await bl.request("POST", "/events", json_body=body)
    return result


async def setup_utility(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
