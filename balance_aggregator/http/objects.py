"""Search, create, read, update and delete of one object type: the handlers every resource module
binds to its paths, with the query filters of its own search."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from balance_aggregator.auth import Principal
from balance_aggregator.services.kinds import KINDS, view
from balance_aggregator.storage import ObjectQuery

from .common import json_body, page, path_ven, query_targets, require
from .state import AppState

#: a resource's own search parameters, written into the query (Problem 400 if malformed)
type Filters = Callable[[web.Request, Principal, ObjectQuery], Awaitable[None]]


async def no_filters(request: web.Request, principal: Principal, query: ObjectQuery) -> None:
    """A search with the common parameters only (skip, limit, targets)."""


class ObjectHandlers:
    def __init__(self, state: AppState, kind: str, filters: Filters = no_filters) -> None:
        self.objects = state.objects
        self.kind = kind
        self.spec = KINDS[kind]
        self.filters = filters

    def routes(self, prefix: str) -> list[web.RouteDef]:
        return [
            web.get(prefix, self.search),
            web.post(prefix, self.create),
            web.get(prefix + "/{id}", self.read_one),
            web.put(prefix + "/{id}", self.update),
            web.delete(prefix + "/{id}", self.delete),
        ]

    async def search(self, request: web.Request) -> web.Response:
        principal = require(request, self.spec.read_scope)
        skip, limit = page(request)
        query = ObjectQuery(kind=self.kind, skip=skip, limit=limit)
        requested = query_targets(request)
        await self.filters(request, principal, query)
        return web.json_response(await self.objects.search(principal, query, requested))

    async def create(self, request: web.Request) -> web.Response:
        principal = require(request, self.spec.write_scope)
        body = await json_body(request)
        stored = await self.objects.create(principal, self.kind, body, path_ven(request))
        return web.json_response(stored.body, status=201)

    async def read_one(self, request: web.Request) -> web.Response:
        principal = require(request, self.spec.read_scope)
        obj, visible = await self.objects.visible_one(
            principal,
            self.kind,
            request.match_info["id"],
            lambda: query_targets(request),
            path_ven(request),
        )
        return web.json_response(view(obj, visible))

    async def update(self, request: web.Request) -> web.Response:
        principal = require(request, self.spec.write_scope)
        previous = await self.objects.owned(
            principal, self.kind, request.match_info["id"], path_ven(request)
        )
        body = await json_body(request)
        obj = await self.objects.update(principal, previous, body, path_ven(request))
        return web.json_response(obj.body)

    async def delete(self, request: web.Request) -> web.Response:
        principal = require(request, self.spec.write_scope)
        obj = await self.objects.owned(
            principal, self.kind, request.match_info["id"], path_ven(request)
        )
        removed = await self.objects.delete(principal, obj)
        return web.json_response(removed.body)
