"""/vens and their resources: /resources and the nested /vens/{venID}/resources of 3.0.1.

BL creates a VEN's ven object and grants targets to it and its resources; the VEN owns them.
"""

from __future__ import annotations

from aiohttp import web

from balance_aggregator.auth import Principal
from balance_aggregator.services.objects import ObjectService
from balance_aggregator.storage import ObjectQuery

from .common import object_id_param
from .objects import Filters, ObjectHandlers
from .state import AppState


async def ven_filters(request: web.Request, principal: Principal, query: ObjectQuery) -> None:
    """``venName``."""
    name = request.query.get("venName")
    if name is not None:
        query.unique_name = name


def resource_filters(objects: ObjectService) -> Filters:
    async def filters(request: web.Request, principal: Principal, query: ObjectQuery) -> None:
        """``venID`` (or the nested path's VEN, which must be the principal's), ``resourceName``."""
        query.ven_id = request.match_info.get("ven") or object_id_param(request, "venID")
        if "ven" in request.match_info:
            await objects.ven_for(principal, request.match_info["ven"])
        query.resource_name = request.query.get("resourceName")

    return filters


def routes(state: AppState) -> list[web.RouteDef]:
    resources = ObjectHandlers(state, "RESOURCE", resource_filters(state.objects))
    return [
        *ObjectHandlers(state, "VEN", ven_filters).routes("/vens"),
        *resources.routes("/resources"),
        *resources.routes("/vens/{ven}/resources"),
    ]
