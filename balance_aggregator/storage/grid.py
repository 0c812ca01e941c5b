"""The grid's storage interface; SQLite and PostgreSQL implement it over the VTN's database."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from decimal import Decimal

from balance_aggregator.grid.model import BalanceRow, MeterReading, OperatorUser
from balance_grid.hierarchy import GridMeter, GridNode, StoredNode

from .grid_sql import ALL_HOURS

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
        """Hourly balances of the subtree's non-flat nodes (or only of ``node_id``), by node
        and hour: from the stored roll-up for hours it holds unchanged, live for the rest."""

    @abc.abstractmethod
    async def rollup(self, start: int, end: int) -> int:
        """Materialise every node's hourly balance of [start, end) into grid_balance_hour and
        count those hours as rolled up; returns the rows written."""

    @abc.abstractmethod
    async def rollup_pending(
        self, max_hours: int, before: int = ALL_HOURS[1], since: int = ALL_HOURS[0]
    ) -> int:
        """Roll up again up to ``max_hours`` hours of [since, before) whose sums changed after
        they were last rolled up (the newest first); returns how many hours were rolled up. The
        roll-up loop of ``serve`` calls it, leaving out the hours still being filled by ingest and
        those past retention."""

    @abc.abstractmethod
    async def prune_rollup(self, older_than: int) -> None:
        """Drop the stored balances of hours before ``older_than`` (they are read live)."""

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


HOUR = 3600
#: more separate live stretches than this and one live read covers them all
MAX_LIVE_RANGES = 4
#: dirty hours this close together are rolled up as one stretch (one pass over the hierarchy)
ROLLUP_GAP_HOURS = 6


def live_ranges(start: int, end: int, clean: Sequence[int]) -> list[tuple[int, int]]:
    """The stretches of [start, end) the stored roll-up does not answer for (``clean`` sorted).

    Few stretches are read live one by one; beyond MAX_LIVE_RANGES one read spans them all and
    the caller drops the live rows of clean hours."""
    gaps: list[tuple[int, int]] = []
    at = start
    for hour in clean:
        if hour > at:
            gaps.append((at, hour))
        at = max(at, hour + HOUR)
    if at < end:
        gaps.append((at, end))
    if len(gaps) > MAX_LIVE_RANGES:
        return [(gaps[0][0], gaps[-1][1])]
    return gaps


def merge_live(
    stored: list[BalanceRow], live: list[BalanceRow], clean: Sequence[int]
) -> list[BalanceRow]:
    """Stored rows of clean hours and live rows of the others, by node and hour."""
    clean_set = set(clean)
    rows = stored + [r for r in live if r.hour not in clean_set]
    rows.sort(key=lambda r: (r.node_id, r.hour))
    return rows


def rollup_stretches(hours: Sequence[int]) -> list[tuple[int, int]]:
    """Dirty hours as [start, end) stretches; near ones joined (re-rolling a clean hour between
    them gives the same rows and saves a pass over the whole hierarchy)."""
    out: list[tuple[int, int]] = []
    for hour in sorted(set(hours)):
        if out and hour - out[-1][1] <= ROLLUP_GAP_HOURS * HOUR:
            out[-1] = (out[-1][0], hour + HOUR)
        else:
            out.append((hour, hour + HOUR))
    return out


def hours_of(start: int, end: int) -> list[int]:
    """The hour keys in [start, end)."""
    first = -(-start // HOUR) * HOUR
    return list(range(first, end, HOUR))


def balance_row(row: Sequence[object]) -> BalanceRow:
    def num(value: object) -> float | None:
        return None if value is None else float(str(value))

    def count(value: object) -> int:
        # PostgreSQL sums counts as numeric: a region's 20,000 meters arrive as Decimal('2E+4')
        return int(Decimal(str(value)))

    return BalanceRow(
        node_id=str(row[0]),
        hour=int(str(row[1])),
        input_kwh=num(row[2]),
        input_meters=count(row[3]),
        input_expected=count(row[4]),
        subscribers_kwh=num(row[5]),
        subscriber_meters=count(row[6]),
        subscribers_expected=count(row[7]),
    )
