"""Webhook subscriptions: the echo challenge, the callback URL rules, delivery with retries."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from urllib.parse import urlsplit

import aiohttp

from balance_aggregator.config import Settings
from balance_aggregator.metrics import Metrics

_LOGGER = logging.getLogger(__name__)


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
