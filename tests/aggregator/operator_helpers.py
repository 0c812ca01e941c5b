"""Logins and a small network for the operator page's tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from balance_aggregator.grid.model import OperatorUser
from balance_aggregator.operator.auth import hash_password
from balance_aggregator.storage import ReadingRow, Storage
from balance_grid.hierarchy import parse_csv

from .test_grid_storage import H0, NETWORK, VALUES, VENS

PASSWORD = "correct horse battery"
USERS = {
    "admin": ("admin", None),
    "op-d1": ("operator", "d1"),
    "viewer-d2": ("viewer", "d2"),
    "viewer-d1": ("viewer", "d1"),
}


async def seed_network(storage: Storage, hours: int = 48, start: int = H0) -> None:
    await storage.grid().import_hierarchy(*parse_csv(NETWORK))
    rows = [
        ReadingRow(
            VENS[res], res, "electricity", "KWH", start + h * 3600, value * (1 + h % 5 / 10), "r"
        )
        for h in range(hours)
        for res, value in VALUES.items()
    ]
    await storage.ingest_readings(rows)
    hashed = hash_password(PASSWORD)
    for name, (role, scope) in USERS.items():
        await storage.grid().put_user(OperatorUser(name, hashed, role, scope, time.time()))


@dataclass
class Browser:
    """An operator's HTTP session: cookie jar plus the CSRF token the login handed out."""

    base_url: str
    session: aiohttp.ClientSession
    csrf: str = ""

    async def call(
        self, method: str, path: str, body: Any = None, *, csrf: bool = True, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        async with self.session.request(
            method, self.base_url + path, json=body, headers=headers, **kwargs
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def login(self, username: str, password: str = PASSWORD) -> int:
        status, body = await self.call(
            "POST", "/operator/api/login", {"username": username, "password": password}
        )
        if status == 200:
            self.csrf = body["csrf"]
        return status

    async def close(self) -> None:
        await self.session.close()


def browser(base_url: str) -> Browser:
    # the default jar refuses cookies from IP addresses such as 127.0.0.1
    return Browser(base_url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
