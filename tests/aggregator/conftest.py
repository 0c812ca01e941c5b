"""A real VTN on 127.0.0.1 (port 0), on SQLite and on PostgreSQL, with the real Mosquitto.

Every test that takes ``vtn`` runs twice, once per storage: the same suite proves both. PostgreSQL
tests get a schema of their own in the shared ``test`` database, dropped afterwards; MQTT topics
get a per-test prefix so parallel runs on one broker never see each other's messages.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from balance_aggregator.auth import hash_secret, new_secret
from balance_aggregator.config import Settings
from balance_aggregator.storage import Client, Storage, open_storage
from balance_aggregator.vtn import Vtn
from balance_openadr.client import VenClient

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


def _port_open(port: int) -> bool:
    # a child process: session fixtures run before the per-test socket permission is granted
    probe = subprocess.run(
        ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"],
        check=False,
        capture_output=True,
        timeout=10,
    )
    return probe.returncode == 0


def _ensure_service(port: int, name: str, start: list[str]) -> None:
    if _port_open(port):
        return
    if shutil.which(start[0]) is not None:
        subprocess.run(start, check=False, capture_output=True, timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _port_open(port):
            time.sleep(0.2)
    if not _port_open(port):
        pytest.fail(f"{name} is not running on 127.0.0.1:{port} and could not be started")


@pytest.fixture(scope="session")
def services() -> None:
    """PostgreSQL and Mosquitto are part of the test environment; start them if they stopped."""
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) or ["15"]
    _ensure_service(
        5432,
        "PostgreSQL",
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
    )
    _ensure_service(1883, "Mosquitto", ["mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"])


@pytest.fixture(autouse=True)
def _real_sockets(socket_enabled: None, services: None) -> None:
    """Home Assistant's test plugin blocks sockets; these tests use real loopback TCP on purpose."""


def _pg_url() -> str:
    return f"{PG_BASE}?schema=vtn_test_{secrets.token_hex(6)}"


@pytest.fixture(params=["sqlite", "postgres"])
async def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/vtn.db"
        return
    url = _pg_url()
    yield url
    from balance_aggregator.storage.postgres import PostgresStorage

    await PostgresStorage(url).drop_schema()


@pytest.fixture
async def storage(storage_url: str) -> AsyncIterator[Storage]:
    store = open_storage(storage_url)
    await store.open()
    yield store
    await store.close()


@dataclass
class RunningVtn:
    vtn: Vtn
    base_url: str
    session: aiohttp.ClientSession
    clients: list[VenClient] = field(default_factory=list)

    @property
    def storage(self) -> Storage:
        return self.vtn.storage

    async def client(self, client_id: str, role: str) -> VenClient:
        secret = new_secret()
        await self.storage.put_client(Client(client_id, hash_secret(secret), role, time.time()))
        client = VenClient(self.base_url, client_id, secret, session=self.session)
        self.clients.append(client)
        return client

    async def bl(self) -> VenClient:
        return await self.client("bl-" + secrets.token_hex(3), "bl")

    async def ven(
        self, bl: VenClient, name: str, targets: list[str] | None = None
    ) -> tuple[VenClient, dict[str, Any]]:
        """A VEN client with a ven object BL created for it, granted ``targets``."""
        client = await self.client(f"{name}-client", "ven")
        ven = await bl.request(
            "POST",
            "/vens",
            json_body={
                "objectType": "BL_VEN_REQUEST",
                "clientID": client.client_id,
                "venName": name,
                "targets": targets or [],
            },
        )
        return client, ven


VtnFactory = Callable[..., Awaitable[RunningVtn]]


@pytest.fixture
async def start_vtn(storage_url: str) -> AsyncIterator[VtnFactory]:
    started: list[tuple[RunningVtn, web.AppRunner]] = []

    async def start(**overrides: Any) -> RunningVtn:
        options: dict[str, Any] = {
            "db": storage_url,
            "mqtt_host": MQTT_HOST,
            "mqtt_port": MQTT_PORT,
            "mqtt_topic_prefix": f"test-{secrets.token_hex(4)}",
            "webhook_allow_http": True,
            "webhook_allowed_hosts": ["127.0.0.1"],
            "webhook_backoff_s": 0.05,
            "webhook_retries": 3,
        }
        settings = Settings(**(options | overrides))
        vtn = Vtn(settings, open_storage(storage_url))
        await vtn.start()
        runner = vtn.runner()
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        running = RunningVtn(vtn, f"http://127.0.0.1:{port}", aiohttp.ClientSession())
        started.append((running, runner))
        return running

    yield start
    for running, runner in reversed(started):
        await running.session.close()
        await runner.cleanup()
        await running.vtn.stop()
    await asyncio.sleep(0)


@pytest.fixture
async def vtn(start_vtn: VtnFactory) -> RunningVtn:
    return await start_vtn()
