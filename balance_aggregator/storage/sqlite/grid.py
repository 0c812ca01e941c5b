"""The grid on the VTN's SQLite database (the storage's single worker thread)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Protocol

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
    PRUNE_ROLLUP,
    REFRESH_ROLLUP_NODE,
    ROLLUP_DELETE,
    ROLLUP_INSERT,
    STORED_BALANCE_SQL,
    TAKE_DIRTY,
    TAKE_DIRTY_IN,
    for_sqlite,
)
from balance_grid.hierarchy import (
    GridMeter,
    GridNode,
    HierarchyError,
    StoredNode,
    check_meters,
    place_nodes,
)


class SqliteRunner(Protocol):
    """What the grid needs of the SQLite storage: jobs on its one database thread."""

    async def run[T](self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def run_tx[T](self, fn: Callable[[sqlite3.Connection], T]) -> T: ...


_PREFIX = "substr(path, 1, length(?)) = ?"


def _node(row: Sequence[object]) -> StoredNode:
    return StoredNode(
        str(row[0]),
        None if row[1] is None else str(row[1]),
        str(row[2]),
        str(row[3]),
        None if row[4] is None else str(row[4]),
        str(row[5]),
        int(str(row[6])),
    )


def _meter(row: Sequence[object]) -> GridMeter:
    return GridMeter(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        None if row[3] is None else str(row[3]),
        str(row[4]),
        str(row[5]),
    )


def _invalidate_rolled(db: sqlite3.Connection) -> None:
    """Which meters count where may have changed for every hour: roll them all up again."""
    db.execute(INVALIDATE_ROLLED)
    db.execute("DELETE FROM grid_rolled_hour")


def _roll(db: sqlite3.Connection, start: int, end: int) -> int:
    db.execute(for_sqlite(ROLLUP_DELETE), (start, end))
    written = db.execute(for_sqlite(ROLLUP_INSERT), ("", None, start, end)).rowcount
    db.executemany(
        "INSERT INTO grid_rolled_hour (hour) VALUES (?) ON CONFLICT (hour) DO NOTHING",
        [(h,) for h in hours_of(start, end)],
    )
    return written


def _nodes_by_id(db: sqlite3.Connection, ids: set[str]) -> dict[str, StoredNode]:
    found: dict[str, StoredNode] = {}
    listed = sorted(ids)
    for i in range(0, len(listed), 500):
        chunk = listed[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"SELECT {NODE_COLUMNS} FROM grid_node WHERE id IN ({marks})", chunk):
            found[row[0]] = _node(row)
    return found


class SqliteGridStore(GridStore):
    def __init__(self, storage: SqliteRunner) -> None:
        self._storage = storage

    async def import_hierarchy(
        self, nodes: Sequence[GridNode], meters: Sequence[GridMeter]
    ) -> tuple[int, int]:
        def body(db: sqlite3.Connection) -> tuple[int, int]:
            # an upsert leaves unchanged rows alone, so re-importing an unchanged hierarchy (a
            # nightly sync from the GIS) changes nothing, triggers included, and keeps the
            # stored balances
            changes_before = db.total_changes
            in_file = {n.id for n in nodes}
            wanted = {n.parent_id for n in nodes if n.parent_id} | in_file
            wanted |= {m.node_id for m in meters}
            existing = _nodes_by_id(db, {i for i in wanted if i})
            placed = place_nodes(nodes, {k: v for k, v in existing.items() if k not in in_file})
            levels = {k: v.level for k, v in existing.items()} | {n.id: n.level for n in placed}
            check_meters(meters, levels)
            for n in placed:
                old = existing.get(n.id)
                if old is not None and old.path != n.path:
                    # a moved node takes its subtree along
                    db.execute(
                        "UPDATE grid_node SET path = ? || substr(path, length(?) + 1),"
                        " depth = depth + ? WHERE substr(path, 1, length(?)) = ? AND id <> ?",
                        (n.path, old.path, n.depth - old.depth, old.path, old.path, n.id),
                    )
            db.executemany(
                f"INSERT INTO grid_node ({NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id,"
                " level = excluded.level, name = excluded.name, target = excluded.target,"
                " path = excluded.path, depth = excluded.depth"
                " WHERE (parent_id, level, name, target, path, depth) IS NOT (excluded.parent_id,"
                " excluded.level, excluded.name, excluded.target, excluded.path, excluded.depth)",
                [(n.id, n.parent_id, n.level, n.name, n.target, n.path, n.depth) for n in placed],
            )
            # the VTN's meter row is made now if no reading made it yet
            db.executemany(
                "INSERT OR IGNORE INTO meter (ven_id, resource_name, kind, unit)"
                " VALUES (?, ?, 'electricity', 'KWH')",
                [(m.ven_id, m.resource_name) for m in meters],
            )
            try:
                db.executemany(
                    f"INSERT INTO grid_meter ({METER_COLUMNS}, meter_ref, rollup_node)"
                    " VALUES (:id, :node, :role, :phase, :ven, :res, (SELECT id FROM meter"
                    " WHERE ven_id = :ven AND resource_name = :res AND kind = 'electricity'), '')"
                    " ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id,"
                    " role = excluded.role, phase = excluded.phase, ven_id = excluded.ven_id,"
                    " resource_name = excluded.resource_name, meter_ref = excluded.meter_ref"
                    " WHERE (node_id, role, phase, ven_id, resource_name, meter_ref) IS NOT"
                    " (excluded.node_id, excluded.role, excluded.phase, excluded.ven_id,"
                    " excluded.resource_name, excluded.meter_ref)",
                    [
                        {
                            "id": m.id,
                            "node": m.node_id,
                            "role": m.role,
                            "phase": m.phase,
                            "ven": m.ven_id,
                            "res": m.resource_name,
                        }
                        for m in meters
                    ],
                )
            except sqlite3.IntegrityError as err:
                raise HierarchyError(
                    [f"meters: {err} (readings claimed by another meter)"]
                ) from err
            db.execute(REFRESH_ROLLUP_NODE)
            if db.total_changes != changes_before:
                _invalidate_rolled(db)
            return len(placed), len(meters)

        return await self._storage.run_tx(body)

    async def get_node(self, node_id: str) -> StoredNode | None:
        def work(db: sqlite3.Connection) -> StoredNode | None:
            row = db.execute(f"SELECT {NODE_COLUMNS} FROM grid_node WHERE id = ?", (node_id,))
            found = row.fetchone()
            return None if found is None else _node(found)

        return await self._storage.run(work)

    async def list_nodes(self, path_prefix: str, *, flats: bool = True) -> list[StoredNode]:
        extra = "" if flats else " AND level <> 'flat'"

        def work(db: sqlite3.Connection) -> list[StoredNode]:
            rows = db.execute(
                f"SELECT {NODE_COLUMNS} FROM grid_node WHERE {_PREFIX}{extra}"
                " ORDER BY depth, name, id",
                (path_prefix, path_prefix),
            )
            return [_node(r) for r in rows]

        return await self._storage.run(work)

    async def list_meters(self, path_prefix: str) -> list[GridMeter]:
        def work(db: sqlite3.Connection) -> list[GridMeter]:
            rows = db.execute(
                f"SELECT {', '.join('m.' + c for c in METER_COLUMNS.split(', '))}"
                " FROM grid_meter m JOIN grid_node n ON n.id = m.node_id"
                " WHERE substr(n.path, 1, length(?)) = ? ORDER BY m.id",
                (path_prefix, path_prefix),
            )
            return [_meter(r) for r in rows]

        return await self._storage.run(work)

    async def list_children(self, parent_id: str | None, *, flats: bool = True) -> list[StoredNode]:
        extra = "" if flats else " AND level <> 'flat'"
        where = "parent_id IS NULL" if parent_id is None else "parent_id = ?"
        args = () if parent_id is None else (parent_id,)

        def work(db: sqlite3.Connection) -> list[StoredNode]:
            rows = db.execute(
                f"SELECT {NODE_COLUMNS} FROM grid_node WHERE {where}{extra} ORDER BY name, id",
                args,
            )
            return [_node(r) for r in rows]

        return await self._storage.run(work)

    async def count_children(self, node_ids: Sequence[str]) -> dict[str, int]:
        listed = sorted(set(node_ids))

        def work(db: sqlite3.Connection) -> dict[str, int]:
            counts: dict[str, int] = {}
            for i in range(0, len(listed), 500):
                chunk = listed[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for row in db.execute(
                    f"SELECT parent_id, count(*) FROM grid_node WHERE parent_id IN ({marks})"
                    " AND level <> 'flat' GROUP BY parent_id",
                    chunk,
                ):
                    counts[str(row[0])] = int(row[1])
            return counts

        return await self._storage.run(work)

    async def list_meters_at(self, node_id: str) -> list[GridMeter]:
        def work(db: sqlite3.Connection) -> list[GridMeter]:
            rows = db.execute(
                f"SELECT {METER_COLUMNS} FROM grid_meter WHERE node_id = ? ORDER BY id",
                (node_id,),
            )
            return [_meter(r) for r in rows]

        return await self._storage.run(work)

    async def delete_node(self, node_id: str) -> bool:
        def body(db: sqlite3.Connection) -> bool:
            if db.execute("DELETE FROM grid_node WHERE id = ?", (node_id,)).rowcount == 0:
                return False
            _invalidate_rolled(db)
            return True

        return await self._storage.run_tx(body)

    async def balance(
        self, path_prefix: str, node_id: str | None, start: int, end: int
    ) -> list[BalanceRow]:
        live_sql, stored_sql = for_sqlite(BALANCE_SQL), for_sqlite(STORED_BALANCE_SQL)

        # the storage's one thread runs this whole: no write lands between its statements
        def work(db: sqlite3.Connection) -> list[BalanceRow]:
            clean = [int(r[0]) for r in db.execute(for_sqlite(CLEAN_HOURS), (start, end))]
            params = (path_prefix, node_id)
            stored = (
                [balance_row(tuple(r)) for r in db.execute(stored_sql, (*params, start, end))]
                if clean
                else []
            )
            live = [
                balance_row(tuple(r))
                for a, b in live_ranges(start, end, clean)
                for r in db.execute(live_sql, (*params, a, b))
            ]
            return merge_live(stored, live, clean)

        return await self._storage.run(work)

    async def rollup(self, start: int, end: int) -> int:
        def body(db: sqlite3.Connection) -> int:
            db.execute(for_sqlite(TAKE_DIRTY_IN), (start, end))
            return _roll(db, start, end)

        return await self._storage.run_tx(body)

    async def rollup_pending(
        self, max_hours: int, before: int = ALL_HOURS[1], since: int = ALL_HOURS[0]
    ) -> int:
        def body(db: sqlite3.Connection) -> int:
            taken = db.execute(for_sqlite(TAKE_DIRTY), (max_hours, before, since))
            hours = [int(r[0]) for r in taken]
            for a, b in rollup_stretches(hours):
                _roll(db, a, b)
            return len(hours)

        return await self._storage.run_tx(body)

    async def prune_rollup(self, older_than: int) -> None:
        def body(db: sqlite3.Connection) -> None:
            for sql in PRUNE_ROLLUP:
                db.execute(for_sqlite(sql), (older_than,))

        await self._storage.run_tx(body)

    async def rebuild_leaf_sums(self, start: int, end: int) -> int:
        def body(db: sqlite3.Connection) -> int:
            db.execute(for_sqlite(LEAF_DELETE), (start, end))
            return db.execute(for_sqlite(LEAF_INSERT), (start, end)).rowcount

        return await self._storage.run_tx(body)

    async def stored_balance(self, node_id: str, start: int, end: int) -> list[BalanceRow]:
        def work(db: sqlite3.Connection) -> list[BalanceRow]:
            rows = db.execute(
                "SELECT node_id, hour, input_kwh, input_meters, input_expected, subscribers_kwh,"
                " subscriber_meters, subscribers_expected FROM grid_balance_hour"
                " WHERE node_id = ? AND hour >= ? AND hour < ? ORDER BY hour",
                (node_id, start, end),
            )
            return [balance_row(tuple(r)) for r in rows]

        return await self._storage.run(work)

    async def meter_readings(self, path_prefix: str, start: int, end: int) -> list[MeterReading]:
        sql = for_sqlite(METER_READINGS_SQL)

        def work(db: sqlite3.Connection) -> list[MeterReading]:
            rows = db.execute(sql, (path_prefix, start, end))
            return [MeterReading(str(r[0]), int(r[1]), float(r[2])) for r in rows]

        return await self._storage.run(work)

    async def put_user(self, user: OperatorUser) -> None:
        def body(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT INTO operator_user ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,"
                " role = excluded.role, scope_node_id = excluded.scope_node_id",
                (user.username, user.password_hash, user.role, user.scope_node_id, user.created_at),
            )

        await self._storage.run_tx(body)

    async def get_user(self, username: str) -> OperatorUser | None:
        def work(db: sqlite3.Connection) -> OperatorUser | None:
            row = db.execute(
                f"SELECT {USER_COLUMNS} FROM operator_user WHERE username = ?", (username,)
            ).fetchone()
            return None if row is None else OperatorUser(*row)

        return await self._storage.run(work)

    async def list_users(self) -> list[OperatorUser]:
        def work(db: sqlite3.Connection) -> list[OperatorUser]:
            rows = db.execute(f"SELECT {USER_COLUMNS} FROM operator_user ORDER BY username")
            return [OperatorUser(*r) for r in rows]

        return await self._storage.run(work)

    async def delete_user(self, username: str) -> bool:
        def body(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM operator_user WHERE username = ?", (username,))
            return cur.rowcount > 0

        return await self._storage.run_tx(body)
