"""The aiohttp application of the VTN: the route tables of the resource modules, the operator page,
and one middleware for authentication, rate limits, problem bodies and request metrics.

Every request is authorised from its bearer token alone and every piece of state is in the
database, so any number of these processes can run behind a load balancer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from balance_aggregator.auth import Principal, TokenError
from balance_aggregator.operator.api import OperatorApi

from . import auth, events, exports, health, notifiers, programs, reports, subscriptions, vens
from .common import Problem, problem_response
from .state import AppState

_LOGGER = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/auth/server", "/auth/token", "/health", "/metrics"})
OPERATOR_PATHS = ("/ui", "/operator/")

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the resource modules, in the order their routes are added
RESOURCES = (health, auth, programs, events, reports, subscriptions, vens, notifiers, exports)


def build_app(state: AppState) -> web.Application:
    app = web.Application(middlewares=[_middleware(state)], client_max_size=8 * 1024 * 1024)
    for module in RESOURCES:
        app.router.add_routes(module.routes(state))
    OperatorApi(state.storage, state.objects).add_routes(app)
    return app


def build_runner(state: AppState) -> web.AppRunner:
    """The application ready to serve. Request lines up to 64 KiB: a long list of targets in a
    query must reach the handler (and get a problem body) rather than be cut by the HTTP parser
    with a plain-text error."""
    return web.AppRunner(
        build_app(state), access_log=None, max_line_size=65536, max_field_size=65536
    )


def _middleware(state: AppState) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        route = request.match_info.route.resource
        route_name = route.canonical if route is not None else "unmatched"
        status = 500
        try:
            response = await _guarded(state, request, handler)
            status = response.status
            return response
        finally:
            elapsed = time.monotonic() - started
            state.metrics.inc(
                "vtn_http_requests_total",
                method=request.method,
                route=route_name,
                status=str(status),
            )
            state.metrics.observe("vtn_http_request_seconds", elapsed, route=route_name)

    return middleware


async def _guarded(state: AppState, request: web.Request, handler: Handler) -> web.StreamResponse:
    # the spec wants an absolute URI of at most 8000 characters: the query is left out
    instance = str(request.url.with_query(None))
    limiter = state.limiter
    try:
        # PostgreSQL text cannot hold NUL; refuse it everywhere alike, SQLite included
        if "\x00" in request.path or any("\x00" in v for v in request.query.values()):
            raise Problem(400, "Bad Request", "NUL characters are not allowed")
        # the operator page and its API authenticate by session cookie (see operator/)
        if request.path not in PUBLIC_PATHS and not request.path.startswith(OPERATOR_PATHS):
            principal = _authenticate(state, request)
            request["principal"] = principal
            if not limiter.allow("c:" + principal.client_id):
                raise Problem(429, "Too Many Requests", "rate limit exceeded")
        elif request.path == "/auth/token" and not limiter.allow("ip:" + (request.remote or "")):
            raise Problem(429, "Too Many Requests", "rate limit exceeded")
        return await handler(request)
    except Problem as err:
        return problem_response(err.status, err.title, err.detail, instance)
    except web.HTTPException as err:
        if err.status >= 400:
            return problem_response(err.status, err.reason, err.text, instance)
        raise
    except Exception:
        _LOGGER.exception("unhandled error", extra={"path": request.path})
        return problem_response(500, "Internal Server Error", None, instance)


def _authenticate(state: AppState, request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "Unauthorized", "a bearer token is required")
    try:
        return state.issuer().verify(token.strip())
    except TokenError as err:
        raise Problem(401, "Unauthorized", f"invalid token: {err}") from err
