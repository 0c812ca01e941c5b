"""What every handler shares: problem bodies, scopes, paging and query parameters, JSON bodies, the
per-client rate limiter."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from balance_aggregator.auth import Principal
from balance_aggregator.errors import Problem

MAX_LIMIT = 50

__all__ = [
    "MAX_LIMIT",
    "Problem",
    "TokenBucket",
    "json_body",
    "object_id_param",
    "page",
    "path_ven",
    "problem_response",
    "query_targets",
    "require",
]


def problem_response(status: int, title: str, detail: str | None, instance: str) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail[:2000]
    if 3 <= len(instance) <= 8000:
        body["instance"] = instance
    return web.json_response(body, status=status)


class TokenBucket:
    """Per-client request budget of this replica (the proxy in front may add a global one)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        tokens, last = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            return False
        self._state[key] = (tokens - 1.0, now)
        if len(self._state) > 100_000:
            self._state.clear()
        return True


def require(request: web.Request, scope: str) -> Principal:
    """The request's principal if its token has the scope (``read_all`` covers every read)."""
    principal: Principal = request["principal"]
    if principal.has(scope) or (scope.startswith("read_") and principal.has("read_all")):
        return principal
    raise Problem(403, "Forbidden", f"scope {scope} is required")


def page(request: web.Request) -> tuple[int, int]:
    """``skip`` and ``limit`` of a search."""

    def number(name: str, default: int, high: int | None) -> int:
        raw = request.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as err:
            raise Problem(400, "Bad Request", f"{name} must be an integer") from err
        if value < 0 or (high is not None and value > high):
            raise Problem(400, "Bad Request", f"{name} out of range")
        return value

    return number("skip", 0, 2**31 - 1), number("limit", MAX_LIMIT, MAX_LIMIT)


def query_targets(request: web.Request) -> list[str] | None:
    """The ``targets`` (3.1) or ``targetValues`` (3.0) of a query, comma lists flattened."""
    values = request.query.getall("targets", []) + request.query.getall("targetValues", [])
    flat = [v for value in values for v in value.split(",") if v]
    for value in flat:
        if len(value) > 128:
            raise Problem(400, "Bad Request", "a target is at most 128 characters")
    return flat or None


def object_id_param(request: web.Request, name: str) -> str | None:
    """A query parameter that must be an objectID if given."""
    value = request.query.get(name)
    if value is not None and (
        not value
        or len(value) > 128
        or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value)
    ):
        raise Problem(400, "Bad Request", f"{name} is not an objectID")
    return value


def path_ven(request: web.Request) -> str | None:
    """The VEN of a nested ``/vens/{venID}/...`` path."""
    return request.match_info.get("ven")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object (UTF-8, no NUL)."""
    try:
        raw = (await request.read()).decode("utf-8")
    except UnicodeDecodeError as err:
        raise Problem(400, "Bad Request", "the body is not UTF-8") from err
    if "\\u0000" in raw or "\x00" in raw:
        raise Problem(400, "Bad Request", "NUL characters are not allowed")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise Problem(400, "Bad Request", "the body is not JSON") from err
    if not isinstance(body, dict):
        raise Problem(400, "Bad Request", "the body must be a JSON object")
    return body
