"""/events: BL writes events of a program; a VEN reads those whose targets it was granted."""

from __future__ import annotations

import time

from aiohttp import web

from balance_aggregator.auth import Principal
from balance_aggregator.storage import ObjectQuery

from .common import Problem, object_id_param
from .objects import ObjectHandlers
from .state import AppState


async def filters(request: web.Request, principal: Principal, query: ObjectQuery) -> None:
    """``programID``; ``active=true`` leaves out events that have ended."""
    query.program_id = object_id_param(request, "programID")
    active = request.query.get("active")
    if active is not None:
        if active not in ("true", "false"):
            raise Problem(400, "Bad Request", "active must be true or false")
        if active == "true":
            query.not_ended_at = time.time()


def routes(state: AppState) -> list[web.RouteDef]:
    return ObjectHandlers(state, "EVENT", filters).routes("/events")
