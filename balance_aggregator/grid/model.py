"""Records the aggregator stores beside the hierarchy (whose own records are balance_grid's)."""

from __future__ import annotations

from dataclasses import dataclass

USER_ROLES = ("admin", "operator", "viewer")


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
