"""The grid on the VTN's PostgreSQL database: COPY for imports, one SQL statement per roll-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from balance_aggregator.grid.model import BalanceRow, MeterReading, OperatorUser
from balance_aggregator.storage.grid import (
    METER_COLUMNS,
    NODE_COLUMNS,
    USER_COLUMNS,
    GridStore,
    balance_row,
    hours_of,
    live_ranges,
    merge_live,
    rollup_stretches,
)
from balance_aggregator.storage.grid_sql import (
    ALL_HOURS,
    BALANCE_SQL,
    CLEAN_HOURS,
    INVALIDATE_ROLLED,
    LEAF_DELETE,
    LEAF_INSERT,
    METER_READINGS_SQL,
    NEWEST_DIRTY,
    PRUNE_ROLLUP,
    REFRESH_ROLLUP_NODE,
    ROLLUP_DELETE,
    ROLLUP_SELECT,
    ROLLUP_WORK_MEM,
    STORED_BALANCE_SQL,
)
from balance_grid.hierarchy import (
    GridMeter,
    GridNode,
    HierarchyError,
    StoredNode,
    check_meters,
    place_nodes,
)


class PostgresPool(Protocol):
    """What the grid needs of the PostgreSQL storage: its connection pool."""

    @property
    def pool(self) -> asyncpg.Pool: ...


_PREFIX = "substr(path, 1, length($1::text)) = $1::text"
# Moving meters (an import, a deletion) or rebuilding sums waits for ingest in flight and holds
# new ingest back until it commits: the leaf-sum triggers of both then see each other's rows, so a
# reading is never summed into a house its meter has just left. Imports are rare, ingest retries.
_HOLD_READINGS = "LOCK TABLE reading IN SHARE MODE"
# One roll-up at a time, and none while a hierarchy change is in flight. A hierarchy change takes
# its lock before it marks anything dirty, so a roll-up never waits on its marks while holding
# what it waits for.
_ONE_ROLLUP = "LOCK TABLE grid_rolled_hour IN EXCLUSIVE MODE"
_HOLD_ROLLUPS = "LOCK TABLE grid_rolled_hour IN ROW EXCLUSIVE MODE"
# A mark an uncommitted writer holds is skipped, not waited for: the roll-up never waits on ingest
# (no deadlock whatever order writers mark hours in), and the skipped hour stays dirty, so it is
# read live and taken by a later turn. A writer marking an hour whose mark this roll-up has just
# deleted waits for the roll-up to commit and then marks it again.
_LOCK_MARKS = (
    "SELECT hour FROM grid_dirty_hour WHERE hour = ANY($1::bigint[]) ORDER BY hour"
    " FOR UPDATE SKIP LOCKED"
)
_DROP_MARKS = "DELETE FROM grid_dirty_hour WHERE hour = ANY($1::bigint[])"
# An upsert leaves a row as it is when nothing in it changed, so re-importing an unchanged
# hierarchy (a nightly sync from the GIS) changes no row and keeps the stored balances.
_NODE_FIELDS = ("parent_id", "level", "name", "target", "path", "depth")
_NODE_SET = ", ".join(f"grid_node.{c}" for c in _NODE_FIELDS)
_NODE_NEW = ", ".join(f"excluded.{c}" for c in _NODE_FIELDS)
_METER_FIELDS = ("node_id", "role", "phase", "ven_id", "resource_name", "meter_ref")
_METER_SET = ", ".join(f"grid_meter.{c}" for c in _METER_FIELDS)
_METER_NEW = ", ".join(f"excluded.{c}" for c in _METER_FIELDS)


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[1])


def _node(row: asyncpg.Record) -> StoredNode:
    return StoredNode(
        row["id"],
        row["parent_id"],
        row["level"],
        row["name"],
        row["target"],
        row["path"],
        int(row["depth"]),
    )


def _meter(row: asyncpg.Record) -> GridMeter:
    return GridMeter(
        row["id"], row["node_id"], row["role"], row["phase"], row["ven_id"], row["resource_name"]
    )


class PostgresGridStore(GridStore):
    def __init__(self, storage: PostgresPool) -> None:
        self._storage = storage

    async def import_hierarchy(
        self, nodes: Sequence[GridNode], meters: Sequence[GridMeter]
    ) -> tuple[int, int]:
        async with self._storage.pool.acquire() as conn, conn.transaction():
            await conn.execute(_HOLD_READINGS)
            await conn.execute(_HOLD_ROLLUPS)
            in_file = {n.id for n in nodes}
            wanted = {n.parent_id for n in nodes if n.parent_id} | in_file
            wanted |= {m.node_id for m in meters}
            rows = await conn.fetch(
                f"SELECT {NODE_COLUMNS} FROM grid_node WHERE id = ANY($1::text[])", list(wanted)
            )
            existing = {r["id"]: _node(r) for r in rows}
            placed = place_nodes(nodes, {k: v for k, v in existing.items() if k not in in_file})
            levels = {k: v.level for k, v in existing.items()} | {n.id: n.level for n in placed}
            check_meters(meters, levels)
            for n in placed:
                old = existing.get(n.id)
                if old is not None and old.path != n.path:
                    # a moved node takes its subtree along
                    await conn.execute(
                        "UPDATE grid_node SET path = $1 || substr(path, length($2) + 1),"
                        " depth = depth + $3 WHERE substr(path, 1, length($2)) = $2"
                        " AND id <> $4",
                        n.path,
                        old.path,
                        n.depth - old.depth,
                        n.id,
                    )
            # COPY into a scratch table, then one upsert: millions of nodes in seconds
            await conn.execute(
                "CREATE TEMP TABLE grid_node_in (LIKE grid_node) ON COMMIT DROP;"
                " CREATE TEMP TABLE grid_meter_in (id text, node_id text, role text, phase text,"
                " ven_id text, resource_name text) ON COMMIT DROP"
            )
            await conn.copy_records_to_table(
                "grid_node_in",
                records=[
                    (n.id, n.parent_id, n.level, n.name, n.target, n.path, n.depth) for n in placed
                ],
                columns=NODE_COLUMNS.split(", "),
                schema_name="pg_temp",
            )
            await conn.copy_records_to_table(
                "grid_meter_in",
                records=[
                    (m.id, m.node_id, m.role, m.phase, m.ven_id, m.resource_name) for m in meters
                ],
                columns=METER_COLUMNS.split(", "),
                schema_name="pg_temp",
            )
            changed = _count(
                await conn.execute(
                    f"INSERT INTO grid_node ({NODE_COLUMNS}) SELECT {NODE_COLUMNS}"
                    " FROM grid_node_in ORDER BY depth ON CONFLICT (id) DO UPDATE SET"
                    " parent_id = excluded.parent_id, level = excluded.level,"
                    " name = excluded.name, target = excluded.target, path = excluded.path,"
                    f" depth = excluded.depth WHERE ({_NODE_SET}) IS DISTINCT FROM ({_NODE_NEW})"
                )
            )
            # the VTN's meter row is made now if no reading made it yet
            await conn.execute(
                "INSERT INTO meter (ven_id, resource_name, kind, unit)"
                " SELECT ven_id, resource_name, 'electricity', 'KWH' FROM grid_meter_in"
                " ON CONFLICT DO NOTHING"
            )
            try:
                changed += _count(
                    await conn.execute(
                        f"INSERT INTO grid_meter ({METER_COLUMNS}, meter_ref, rollup_node)"
                        f" SELECT {', '.join('i.' + c for c in METER_COLUMNS.split(', '))},"
                        " m.id, '' FROM grid_meter_in i JOIN meter m ON m.ven_id = i.ven_id"
                        " AND m.resource_name = i.resource_name AND m.kind = 'electricity'"
                        " ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id,"
                        " role = excluded.role, phase = excluded.phase,"
                        " ven_id = excluded.ven_id, resource_name = excluded.resource_name,"
                        " meter_ref = excluded.meter_ref"
                        f" WHERE ({_METER_SET}) IS DISTINCT FROM ({_METER_NEW})"
                    )
                )
            except asyncpg.UniqueViolationError as err:
                raise HierarchyError(
                    [f"meters: {err} (readings claimed by another meter)"]
                ) from err
            changed += _count(await conn.execute(REFRESH_ROLLUP_NODE))
            if changed:
                # which meters count where may have changed for every hour: roll them all up
                await conn.execute(INVALIDATE_ROLLED)
                await conn.execute("DELETE FROM grid_rolled_hour")
            return len(placed), len(meters)

    async def get_node(self, node_id: str) -> StoredNode | None:
        row = await self._storage.pool.fetchrow(
            f"SELECT {NODE_COLUMNS} FROM grid_node WHERE id = $1", node_id
        )
        return None if row is None else _node(row)

    async def list_nodes(self, path_prefix: str, *, flats: bool = True) -> list[StoredNode]:
        extra = "" if flats else " AND level <> 'flat'"
        rows = await self._storage.pool.fetch(
            f"SELECT {NODE_COLUMNS} FROM grid_node WHERE {_PREFIX}{extra} ORDER BY depth, name, id",
            path_prefix,
        )
        return [_node(r) for r in rows]

    async def list_meters(self, path_prefix: str) -> list[GridMeter]:
        rows = await self._storage.pool.fetch(
            f"SELECT {', '.join('m.' + c for c in METER_COLUMNS.split(', '))}"
            " FROM grid_meter m JOIN grid_node n ON n.id = m.node_id"
            " WHERE substr(n.path, 1, length($1::text)) = $1::text ORDER BY m.id",
            path_prefix,
        )
        return [_meter(r) for r in rows]

    async def list_children(self, parent_id: str | None, *, flats: bool = True) -> list[StoredNode]:
        extra = "" if flats else " AND level <> 'flat'"
        if parent_id is None:
            rows = await self._storage.pool.fetch(
                f"SELECT {NODE_COLUMNS} FROM grid_node WHERE parent_id IS NULL{extra}"
                " ORDER BY name, id"
            )
        else:
            rows = await self._storage.pool.fetch(
                f"SELECT {NODE_COLUMNS} FROM grid_node WHERE parent_id = $1{extra}"
                " ORDER BY name, id",
                parent_id,
            )
        return [_node(r) for r in rows]

    async def count_children(self, node_ids: Sequence[str]) -> dict[str, int]:
        rows = await self._storage.pool.fetch(
            "SELECT parent_id, count(*) FROM grid_node WHERE parent_id = ANY($1::text[])"
            " AND level <> 'flat' GROUP BY parent_id",
            list(node_ids),
        )
        return {r[0]: int(r[1]) for r in rows}

    async def list_meters_at(self, node_id: str) -> list[GridMeter]:
        rows = await self._storage.pool.fetch(
            f"SELECT {METER_COLUMNS} FROM grid_meter WHERE node_id = $1 ORDER BY id", node_id
        )
        return [_meter(r) for r in rows]

    async def delete_node(self, node_id: str) -> bool:
        async with self._storage.pool.acquire() as conn, conn.transaction():
            await conn.execute(_HOLD_READINGS)
            await conn.execute(_HOLD_ROLLUPS)
            status = await conn.execute("DELETE FROM grid_node WHERE id = $1", node_id)
            if status.endswith(" 0"):
                return False
            await conn.execute(INVALIDATE_ROLLED)
            await conn.execute("DELETE FROM grid_rolled_hour")
        return True

    async def balance(
        self, path_prefix: str, node_id: str | None, start: int, end: int
    ) -> list[BalanceRow]:
        # one snapshot: a roll-up committing meanwhile cannot make an hour count twice or never
        async with (
            self._storage.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            clean = [int(r[0]) for r in await conn.fetch(CLEAN_HOURS, start, end)]
            stored = (
                [
                    balance_row(tuple(r))
                    for r in await conn.fetch(STORED_BALANCE_SQL, path_prefix, node_id, start, end)
                ]
                if clean
                else []
            )
            live = [
                balance_row(tuple(r))
                for a, b in live_ranges(start, end, clean)
                for r in await conn.fetch(BALANCE_SQL, path_prefix, node_id, a, b)
            ]
        return merge_live(stored, live, clean)

    async def _roll(self, conn: PoolConnectionProxy[asyncpg.Record], start: int, end: int) -> int:
        await conn.execute(ROLLUP_DELETE, start, end)
        # CREATE TABLE AS may run its query on parallel workers; INSERT ... SELECT may not
        await conn.execute(
            "CREATE TEMP TABLE grid_rollup_out ON COMMIT DROP AS " + ROLLUP_SELECT,
            "",
            None,
            start,
            end,
        )
        status = await conn.execute("INSERT INTO grid_balance_hour SELECT * FROM grid_rollup_out")
        await conn.execute("DROP TABLE grid_rollup_out")
        await conn.execute(
            "INSERT INTO grid_rolled_hour (hour) SELECT unnest($1::bigint[])"
            " ON CONFLICT (hour) DO NOTHING",
            hours_of(start, end),
        )
        return int(status.rsplit(" ", 1)[1])

    async def _take_marks(
        self, conn: PoolConnectionProxy[asyncpg.Record], hours: list[int]
    ) -> list[int]:
        taken = [int(r[0]) for r in await conn.fetch(_LOCK_MARKS, hours)]
        await conn.execute(_DROP_MARKS, taken)
        return taken

    async def rollup(self, start: int, end: int) -> int:
        async with self._storage.pool.acquire() as conn, conn.transaction():
            await conn.execute(_ONE_ROLLUP)
            # JIT compiling this plan costs seconds and saves less than it costs
            await conn.execute(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'; SET LOCAL jit = off")
            await self._take_marks(conn, hours_of(start, end))
            return await self._roll(conn, start, end)

    async def rollup_pending(
        self, max_hours: int, before: int = ALL_HOURS[1], since: int = ALL_HOURS[0]
    ) -> int:
        async with self._storage.pool.acquire() as conn, conn.transaction():
            await conn.execute(_ONE_ROLLUP)
            await conn.execute(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'; SET LOCAL jit = off")
            newest = await conn.fetch(NEWEST_DIRTY, max_hours, before, since)
            hours = await self._take_marks(conn, sorted(int(r[0]) for r in newest))
            for a, b in rollup_stretches(hours):
                await self._roll(conn, a, b)
            return len(hours)

    async def prune_rollup(self, older_than: int) -> None:
        async with self._storage.pool.acquire() as conn, conn.transaction():
            await conn.execute(_ONE_ROLLUP)
            for sql in PRUNE_ROLLUP:
                await conn.execute(sql, older_than)

    async def rebuild_leaf_sums(self, start: int, end: int) -> int:
        async with self._storage.pool.acquire() as conn, conn.transaction():
            await conn.execute(_HOLD_READINGS)
            await conn.execute(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'; SET LOCAL jit = off")
            await conn.execute(LEAF_DELETE, start, end)
            status = await conn.execute(LEAF_INSERT, start, end)
            return int(status.rsplit(" ", 1)[1])

    async def stored_balance(self, node_id: str, start: int, end: int) -> list[BalanceRow]:
        rows = await self._storage.pool.fetch(
            "SELECT node_id, hour, input_kwh, input_meters, input_expected, subscribers_kwh,"
            " subscriber_meters, subscribers_expected FROM grid_balance_hour"
            " WHERE node_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
            node_id,
            start,
            end,
        )
        return [balance_row(tuple(r)) for r in rows]

    async def meter_readings(self, path_prefix: str, start: int, end: int) -> list[MeterReading]:
        rows = await self._storage.pool.fetch(METER_READINGS_SQL, path_prefix, start, end)
        return [MeterReading(r[0], int(r[1]), float(r[2])) for r in rows]

    async def put_user(self, user: OperatorUser) -> None:
        await self._storage.pool.execute(
            f"INSERT INTO operator_user ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,"
            " role = excluded.role, scope_node_id = excluded.scope_node_id",
            user.username,
            user.password_hash,
            user.role,
            user.scope_node_id,
            user.created_at,
        )

    async def get_user(self, username: str) -> OperatorUser | None:
        row = await self._storage.pool.fetchrow(
            f"SELECT {USER_COLUMNS} FROM operator_user WHERE username = $1", username
        )
        return None if row is None else OperatorUser(*row)

    async def list_users(self) -> list[OperatorUser]:
        rows = await self._storage.pool.fetch(
            f"SELECT {USER_COLUMNS} FROM operator_user ORDER BY username"
        )
        return [OperatorUser(*r) for r in rows]

    async def delete_user(self, username: str) -> bool:
        status = await self._storage.pool.execute(
            "DELETE FROM operator_user WHERE username = $1", username
        )
        return not status.endswith(" 0")
