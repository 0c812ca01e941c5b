"""Records of the grid hierarchy, as stored and as imported or exported."""

from __future__ import annotations

import re
from dataclasses import dataclass

LEVELS = ("region", "city", "district", "street", "house", "flat")
LEVEL_DEPTH = {level: depth for depth, level in enumerate(LEVELS)}
#: feeder and house input meters measure what enters a group; subscriber meters what leaves it
GROUP_ROLES = ("feeder", "house_input")
METER_ROLES = (*GROUP_ROLES, "subscriber")
PHASES = ("A", "B", "C")
USER_ROLES = ("admin", "operator", "viewer")
#: ids become parts of a materialised path joined by "/", and appear in URLs
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


@dataclass(frozen=True, slots=True)
class GridNode:
    id: str
    parent_id: str | None
    level: str
    name: str
    #: the DR group (OpenADR target) the VENs below this node carry, if any
    target: str | None = None


@dataclass(frozen=True, slots=True)
class GridMeter:
    id: str
    node_id: str
    role: str
    phase: str | None
    #: the meter's readings are the VTN's readings of (ven_id, resource_name, electricity)
    ven_id: str
    resource_name: str


@dataclass(frozen=True, slots=True)
class StoredNode:
    """A node as stored: with its materialised path ("r/c/d/") and depth from its root."""

    id: str
    parent_id: str | None
    level: str
    name: str
    target: str | None
    path: str
    depth: int


@dataclass(frozen=True, slots=True)
class OperatorUser:
    username: str
    password_hash: str
    role: str
    #: the subtree this user sees; None for the whole hierarchy
    scope_node_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """One hour of one node's balance, rolled up over its subtree.

    ``input_kwh`` sums the outermost group meters of the subtree (a house input below a feeder
    is not counted twice); ``subscribers_kwh`` sums every subscriber meter of the subtree.
    """

    node_id: str
    hour: int
    input_kwh: float | None
    input_meters: int
    input_expected: int
    subscribers_kwh: float | None
    subscriber_meters: int
    subscribers_expected: int


@dataclass(frozen=True, slots=True)
class MeterReading:
    meter_id: str
    hour: int
    value: float
