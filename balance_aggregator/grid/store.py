"""The grid's storage interface; SQLite and PostgreSQL implement it over the VTN's database."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from balance_grid.hierarchy import GridMeter, GridNode, StoredNode

from .model import BalanceRow, MeterReading, OperatorUser

NODE_COLUMNS = "id, parent_id, level, name, target, path, depth"
METER_COLUMNS = "id, node_id, role, phase, ven_id, resource_name"
USER_COLUMNS = "username, password_hash, role, scope_node_id, created_at"


class GridStore(abc.ABC):
    """Every method is one transaction; imports write everything or nothing."""

    @abc.abstractmethod
    async def import_hierarchy(
        self, nodes: Sequence[GridNode], meters: Sequence[GridMeter]
    ) -> tuple[int, int]:
        """Insert or replace nodes and meters (by id); a node that moves takes its subtree
        along. Raises HierarchyError (nothing written) when the result would be inconsistent."""

    @abc.abstractmethod
    async def get_node(self, node_id: str) -> StoredNode | None: ...

    @abc.abstractmethod
    async def list_nodes(self, path_prefix: str, *, flats: bool = True) -> list[StoredNode]:
        """Nodes of a subtree ("" for all), parents before children."""

    @abc.abstractmethod
    async def list_meters(self, path_prefix: str) -> list[GridMeter]:
        """Meters on the nodes of a subtree, by id."""

    @abc.abstractmethod
    async def list_children(self, parent_id: str | None, *, flats: bool = True) -> list[StoredNode]:
        """The nodes right below ``parent_id`` (the roots for None), by name: one level of a
        tree that may hold millions of flats, read by the parent index alone."""

    @abc.abstractmethod
    async def count_children(self, node_ids: Sequence[str]) -> dict[str, int]:
        """How many non-flat children each node has (absent: none), so a tree can show which
        nodes open further without reading their subtrees."""

    @abc.abstractmethod
    async def list_meters_at(self, node_id: str) -> list[GridMeter]:
        """Meters on this node itself, by id."""

    @abc.abstractmethod
    async def delete_node(self, node_id: str) -> bool:
        """Remove a node with its subtree and their meters."""

    @abc.abstractmethod
    async def balance(
        self, path_prefix: str, node_id: str | None, start: int, end: int
    ) -> list[BalanceRow]:
        """Hourly balances of the subtree's non-flat nodes (or only of ``node_id``)."""

    @abc.abstractmethod
    async def rollup(self, start: int, end: int) -> int:
        """Materialise every node's hourly balance of [start, end) into grid_balance_hour."""

    @abc.abstractmethod
    async def rebuild_leaf_sums(self, start: int, end: int) -> int:
        """Recompute the per-house hourly sums of [start, end) from the readings themselves.

        Triggers keep them exact; this is the repair after readings were written behind the
        database's back (a restored partition, a bulk load with triggers disabled)."""

    @abc.abstractmethod
    async def stored_balance(self, node_id: str, start: int, end: int) -> list[BalanceRow]: ...

    @abc.abstractmethod
    async def meter_readings(self, path_prefix: str, start: int, end: int) -> list[MeterReading]:
        """Hourly readings of every meter of a subtree in [start, end)."""

    @abc.abstractmethod
    async def put_user(self, user: OperatorUser) -> None: ...

    @abc.abstractmethod
    async def get_user(self, username: str) -> OperatorUser | None: ...

    @abc.abstractmethod
    async def list_users(self) -> list[OperatorUser]: ...

    @abc.abstractmethod
    async def delete_user(self, username: str) -> bool: ...


def balance_row(row: Sequence[object]) -> BalanceRow:
    def num(value: object) -> float | None:
        return None if value is None else float(str(value))

    return BalanceRow(
        node_id=str(row[0]),
        hour=int(str(row[1])),
        input_kwh=num(row[2]),
        input_meters=int(str(row[3])),
        input_expected=int(str(row[4])),
        subscribers_kwh=num(row[5]),
        subscriber_meters=int(str(row[6])),
        subscribers_expected=int(str(row[7])),
    )
