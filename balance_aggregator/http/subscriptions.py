"""/subscriptions: webhook subscriptions to object operations (the callback is challenged)."""

from __future__ import annotations

from aiohttp import web

from balance_aggregator.auth import Principal
from balance_aggregator.storage import ObjectQuery
from balance_openadr import models

from .common import Problem, object_id_param
from .objects import ObjectHandlers
from .state import AppState


async def filters(request: web.Request, principal: Principal, query: ObjectQuery) -> None:
    """``programID``, ``clientName``, ``objects`` (subscriptions to all of these types)."""
    query.program_id = object_id_param(request, "programID")
    query.client_name = request.query.get("clientName")
    objects = request.query.getall("objects", [])
    for value in objects:
        if value not in models.OBJECT_TYPES:
            raise Problem(400, "Bad Request", f"unknown object type {value!r}")
    query.sub_objects = objects


def routes(state: AppState) -> list[web.RouteDef]:
    return ObjectHandlers(state, "SUBSCRIPTION", filters).routes("/subscriptions")
