"""Household demand-load management: keep a house under its power limit by switching green, then
yellow sockets, never red; explain every switch; survive restarts.

Pure Python + numpy, no Home Assistant: the integration is a thin adapter over `DlmEngine`.
"""

from .engine import DlmEngine, DlmSettings, DlmStatus
from .limits import (
    DR_SOURCE_HOUSEHOLD,
    DR_SOURCE_UTILITY,
    DemandResponse,
    LimitInForce,
    LimitSource,
    LimitStack,
    TariffWindow,
)
from .model import (
    EngineMode,
    GreenRun,
    PowerReading,
    ShedCause,
    ShedDecision,
    SocketAction,
    SocketColour,
    SocketConfig,
    SocketObservation,
)

__all__ = [
    "DR_SOURCE_HOUSEHOLD",
    "DR_SOURCE_UTILITY",
    "DemandResponse",
    "DlmEngine",
    "DlmSettings",
    "DlmStatus",
    "EngineMode",
    "GreenRun",
    "LimitInForce",
    "LimitSource",
    "LimitStack",
    "PowerReading",
    "ShedCause",
    "ShedDecision",
    "SocketAction",
    "SocketColour",
    "SocketConfig",
    "SocketObservation",
    "TariffWindow",
]
