"""/programs: BL writes programs; a VEN reads those whose targets it was granted (or none)."""

from __future__ import annotations

from aiohttp import web

from .objects import ObjectHandlers
from .state import AppState


def routes(state: AppState) -> list[web.RouteDef]:
    return ObjectHandlers(state, "PROGRAM").routes("/programs")
