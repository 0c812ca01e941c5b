"""/reports: a VEN writes reports on events it may read (readings and DR answers ride along)."""

from __future__ import annotations

from aiohttp import web

from balance_aggregator.auth import Principal
from balance_aggregator.storage import ObjectQuery

from .common import object_id_param
from .objects import ObjectHandlers
from .state import AppState


async def filters(request: web.Request, principal: Principal, query: ObjectQuery) -> None:
    """``programID``, ``eventID``, ``clientName``."""
    query.program_id = object_id_param(request, "programID")
    query.event_id = object_id_param(request, "eventID")
    query.client_name = request.query.get("clientName")


def routes(state: AppState) -> list[web.RouteDef]:
    return ObjectHandlers(state, "REPORT", filters).routes("/reports")
