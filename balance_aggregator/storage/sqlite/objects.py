"""SQLite storage: the embedded default, one file, no server.

sqlite3 is blocking, so one connection lives on one worker thread and every call is a job on it;
a single writer is what SQLite wants anyway. WAL lets readers of other processes (a backup, the
CLI) read while the VTN writes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from balance_aggregator.storage.base import (
    AuditEntry,
    Client,
    Conflict,
    Delivery,
    GroupConsumption,
    ObjectQuery,
    ReadingRow,
    Storage,
    StoredObject,
)
from balance_aggregator.storage.headend import HeadendStore
from balance_aggregator.storage.schema import (
    OBJECT_COLUMNS,
    SQLITE,
    migrations,
    object_from_row,
    object_values,
)

from .grid import SqliteGridStore
from .headend import sqlite_headend_store

MIGRATIONS = migrations(SQLITE)


def _statements(script: str) -> list[str]:
    """A script's statements; a trigger's body keeps its inner semicolons."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending)
            pending = ""
    if pending.strip(" \n;"):
        raise ValueError(f"incomplete SQL statement in a migration: {pending[:80]!r}")
    return statements


class SqliteStorage(Storage):
    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        # sqlite:///relative.db and sqlite:////abs/path.db, as SQLAlchemy spells them
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        self._path = path or ":memory:"
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def _run[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None:
            raise RuntimeError("storage is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._call, fn))

    def _call[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._db is not None
        return fn(self._db)

    async def run[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the database thread (the grid store's queries)."""
        return await self._run(fn)

    async def run_tx[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the database thread inside one write transaction."""
        return await self._run(lambda db: self._tx(db, lambda: fn(db)))

    def grid(self) -> SqliteGridStore:
        return SqliteGridStore(self)

    def headend(self) -> HeadendStore:
        return sqlite_headend_store(self)

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vtn-sqlite")
        await self._run_open()

    async def _run_open(self) -> None:
        assert self._executor is not None

        def connect() -> None:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=10000")
            self._db = db
            self._migrate(db)

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_migration (version INTEGER PRIMARY KEY)")
            done = {r[0] for r in db.execute("SELECT version FROM schema_migration")}
            for version, sql in MIGRATIONS:
                if version in done:
                    continue
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migration (version) VALUES (?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        executor, self._executor = self._executor, None

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(executor, shut)
        executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def schema_version(self) -> int:
        def q(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT max(version) FROM schema_migration").fetchone()
            return int(row[0] or 0)

        return await self._run(q)

    # --- transactions -----------------------------------------------------------------------
    @staticmethod
    def _tx[T](db: sqlite3.Connection, fn: Callable[[], T]) -> T:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    @staticmethod
    def _write_targets(db: sqlite3.Connection, obj: StoredObject) -> None:
        db.execute("DELETE FROM oadr_target WHERE kind = ? AND id = ?", (obj.kind, obj.id))
        db.executemany(
            "INSERT OR IGNORE INTO oadr_target (kind, id, target) VALUES (?, ?, ?)",
            [(obj.kind, obj.id, t) for t in obj.targets],
        )

    def _write_side(
        self,
        db: sqlite3.Connection,
        readings: Sequence[ReadingRow],
        deliveries: Sequence[Delivery],
        audit: AuditEntry | None,
    ) -> None:
        if readings:
            self._ingest(db, readings)
        for d in deliveries:
            db.execute(
                "INSERT INTO event_delivery (event_id, ven_id, client_id, status, received_at,"
                " latency_s, channel) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id, ven_id) DO UPDATE SET status = excluded.status,"
                " received_at = excluded.received_at,"
                " latency_s = coalesce(excluded.latency_s, event_delivery.latency_s),"
                " channel = coalesce(excluded.channel, event_delivery.channel)",
                (
                    d.event_id,
                    d.ven_id,
                    d.client_id,
                    d.status,
                    d.received_at,
                    d.latency_s,
                    d.channel,
                ),
            )
        if audit is not None:
            db.execute(
                "INSERT INTO audit_log (at, actor, action, object_kind, object_id, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    audit.at,
                    audit.actor,
                    audit.action,
                    audit.object_kind,
                    audit.object_id,
                    json.dumps(audit.detail, separators=(",", ":")),
                ),
            )

    async def insert_object(
        self,
        obj: StoredObject,
        readings: Sequence[ReadingRow] = (),
        deliveries: Sequence[Delivery] = (),
        audit: AuditEntry | None = None,
    ) -> StoredObject:
        def work(db: sqlite3.Connection) -> StoredObject:
            def body() -> StoredObject:
                if obj.content_hash is not None:
                    row = db.execute(
                        f"SELECT {OBJECT_COLUMNS} FROM oadr_object"
                        " WHERE kind = ? AND client_id IS ? AND content_hash = ?",
                        (obj.kind, obj.client_id, obj.content_hash),
                    ).fetchone()
                    if row is not None:
                        return self._load(db, row)
                try:
                    db.execute(
                        f"INSERT INTO oadr_object ({OBJECT_COLUMNS})"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        object_values(obj),
                    )
                except sqlite3.IntegrityError as err:
                    raise Conflict(str(err)) from err
                self._write_targets(db, obj)
                self._write_side(db, readings, deliveries, audit)
                return obj

            return self._tx(db, body)

        return await self._run(work)

    async def replace_object(
        self,
        obj: StoredObject,
        readings: Sequence[ReadingRow] = (),
        deliveries: Sequence[Delivery] = (),
        audit: AuditEntry | None = None,
    ) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            def body() -> bool:
                values = object_values(obj)
                try:
                    cur = db.execute(
                        "UPDATE oadr_object SET created_at = ?, modified_at = ?, client_id = ?,"
                        " unique_name = ?, program_id = ?, event_id = ?, ven_id = ?,"
                        " client_name = ?, starts_at = ?, ends_at = ?, content_hash = ?,"
                        " sub_objects = ?, body = ? WHERE kind = ? AND id = ?",
                        (*values[2:], obj.kind, obj.id),
                    )
                except sqlite3.IntegrityError as err:
                    raise Conflict(str(err)) from err
                if cur.rowcount == 0:
                    return False
                self._write_targets(db, obj)
                self._write_side(db, readings, deliveries, audit)
                return True

            return self._tx(db, body)

        return await self._run(work)

    async def delete_object(
        self, kind: str, object_id: str, audit: AuditEntry | None = None
    ) -> StoredObject | None:
        def work(db: sqlite3.Connection) -> StoredObject | None:
            def body() -> StoredObject | None:
                row = db.execute(
                    f"SELECT {OBJECT_COLUMNS} FROM oadr_object WHERE kind = ? AND id = ?",
                    (kind, object_id),
                ).fetchone()
                if row is None:
                    return None
                obj = self._load(db, row)
                if kind == "VEN":
                    db.execute(
                        "DELETE FROM oadr_object WHERE kind = 'RESOURCE' AND ven_id = ?",
                        (object_id,),
                    )
                db.execute("DELETE FROM oadr_object WHERE kind = ? AND id = ?", (kind, object_id))
                self._write_side(db, (), (), audit)
                return obj

            return self._tx(db, body)

        return await self._run(work)

    @staticmethod
    def _load(db: sqlite3.Connection, row: sqlite3.Row) -> StoredObject:
        targets = [
            r[0]
            for r in db.execute(
                "SELECT target FROM oadr_target WHERE kind = ? AND id = ? ORDER BY target",
                (row["kind"], row["id"]),
            )
        ]
        return object_from_row(row, targets)

    async def get_object(self, kind: str, object_id: str) -> StoredObject | None:
        def work(db: sqlite3.Connection) -> StoredObject | None:
            row = db.execute(
                f"SELECT {OBJECT_COLUMNS} FROM oadr_object WHERE kind = ? AND id = ?",
                (kind, object_id),
            ).fetchone()
            return None if row is None else self._load(db, row)

        return await self._run(work)

    async def list_objects(self, query: ObjectQuery) -> list[StoredObject]:
        where = ["o.kind = ?"]
        params: list[Any] = [query.kind]
        for column, value in (
            ("client_id", query.client_id),
            ("program_id", query.program_id),
            ("event_id", query.event_id),
            ("ven_id", query.ven_id),
            ("client_name", query.client_name),
            ("unique_name", query.unique_name),
        ):
            if value is not None:
                where.append(f"o.{column} = ?")
                params.append(value)
        for sub_object in query.sub_objects:
            where.append("o.sub_objects LIKE ?")
            params.append(f"%,{sub_object},%")
        if query.resource_name is not None:
            where.append("o.unique_name = o.ven_id || '/' || ?")
            params.append(query.resource_name)
        if query.not_ended_at is not None:
            where.append("(o.ends_at IS NULL OR o.ends_at > ?)")
            params.append(query.not_ended_at)
        if query.targets is not None:
            marks = ",".join("?" for _ in query.targets) or "NULL"
            matched = (
                "EXISTS (SELECT 1 FROM oadr_target t WHERE t.kind = o.kind AND t.id = o.id"
                f" AND t.target IN ({marks}))"
            )
            params.extend(query.targets)
            if query.untargeted_match:
                matched = (
                    f"({matched} OR NOT EXISTS (SELECT 1 FROM oadr_target t2"
                    " WHERE t2.kind = o.kind AND t2.id = o.id))"
                )
            where.append(matched)
        sql = (
            f"SELECT {', '.join('o.' + c.strip() for c in OBJECT_COLUMNS.split(','))}"
            f" FROM oadr_object o WHERE {' AND '.join(where)}"
            " ORDER BY o.created_at, o.id LIMIT ? OFFSET ?"
        )
        params.extend((query.limit, query.skip))

        def work(db: sqlite3.Connection) -> list[StoredObject]:
            return [self._load(db, row) for row in db.execute(sql, params).fetchall()]

        return await self._run(work)

    async def granted_targets(self, client_id: str) -> tuple[list[str], set[str]]:
        def work(db: sqlite3.Connection) -> tuple[list[str], set[str]]:
            vens = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM oadr_object WHERE kind = 'VEN' AND client_id = ?",
                    (client_id,),
                )
            ]
            targets: set[str] = set()
            for ven_id in vens:
                targets.update(
                    r[0]
                    for r in db.execute(
                        "SELECT t.target FROM oadr_target t WHERE t.kind = 'VEN' AND t.id = ?"
                        " UNION SELECT t.target FROM oadr_target t JOIN oadr_object o"
                        " ON o.kind = t.kind AND o.id = t.id"
                        " WHERE o.kind = 'RESOURCE' AND o.ven_id = ?",
                        (ven_id, ven_id),
                    )
                )
            return vens, targets

        return await self._run(work)

    async def vens_for_targets(self, targets: Sequence[str] | None) -> dict[str, set[str]]:
        def work(db: sqlite3.Connection) -> dict[str, set[str]]:
            found: dict[str, set[str]] = {}
            if targets is None:
                for r in db.execute("SELECT id FROM oadr_object WHERE kind = 'VEN' ORDER BY id"):
                    found[r[0]] = set()
                return found
            marks = ",".join("?" for _ in targets) or "NULL"
            sql = (
                f"SELECT id, target FROM oadr_target WHERE kind = 'VEN' AND target IN ({marks})"
                " UNION SELECT o.ven_id, t.target FROM oadr_target t JOIN oadr_object o"
                " ON o.kind = t.kind AND o.id = t.id"
                f" WHERE t.kind = 'RESOURCE' AND t.target IN ({marks})"
            )
            for ven_id, target in db.execute(sql, [*targets, *targets]):
                found.setdefault(ven_id, set()).add(target)
            return found

        return await self._run(work)

    # --- clients --------------------------------------------------------------------------------
    async def put_client(self, client: Client) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO client (client_id, secret_hash, role, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,"
                " role = excluded.role",
                (client.client_id, client.secret_hash, client.role, client.created_at),
            )

        await self._run(work)

    async def get_client(self, client_id: str) -> Client | None:
        def work(db: sqlite3.Connection) -> Client | None:
            row = db.execute(
                "SELECT client_id, secret_hash, role, created_at FROM client WHERE client_id = ?",
                (client_id,),
            ).fetchone()
            return None if row is None else Client(*row)

        return await self._run(work)

    async def delete_client(self, client_id: str) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM client WHERE client_id = ?", (client_id,)).rowcount > 0

        return await self._run(work)

    async def get_or_create_setting(self, key: str, value: str) -> str:
        def work(db: sqlite3.Connection) -> str:
            db.execute("INSERT OR IGNORE INTO setting (key, value) VALUES (?, ?)", (key, value))
            row = db.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
            return str(row[0])

        return await self._run(work)

    # --- readings -------------------------------------------------------------------------------
    @staticmethod
    def _ingest(db: sqlite3.Connection, rows: Sequence[ReadingRow]) -> int:
        keys = {(r.ven_id, r.resource_name, r.kind): r.unit for r in rows}
        db.executemany(
            "INSERT OR IGNORE INTO meter (ven_id, resource_name, kind, unit) VALUES (?, ?, ?, ?)",
            [(*k, unit) for k, unit in keys.items()],
        )
        ids: dict[tuple[str, str, str], int] = {}
        for key in keys:
            row = db.execute(
                "SELECT id FROM meter WHERE ven_id = ? AND resource_name = ? AND kind = ?", key
            ).fetchone()
            ids[key] = int(row[0])
        # the cursor's rowcount, not total_changes: the grid's triggers change rows too
        cursor = db.executemany(
            "INSERT INTO reading (meter_id, hour, value, report_id) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (meter_id, hour) DO UPDATE SET value = excluded.value,"
            " report_id = excluded.report_id WHERE reading.value IS NOT excluded.value",
            [
                (ids[(r.ven_id, r.resource_name, r.kind)], r.hour, r.value, r.report_id)
                for r in rows
            ],
        )
        return cursor.rowcount

    async def ingest_readings(self, rows: Sequence[ReadingRow]) -> int:
        def work(db: sqlite3.Connection) -> int:
            return self._tx(db, lambda: self._ingest(db, rows))

        return await self._run(work)

    async def count_readings(self) -> int:
        return await self._run(
            lambda db: int(db.execute("SELECT count(*) FROM reading").fetchone()[0])
        )

    async def group_consumption(self, target: str, start: int, end: int) -> list[GroupConsumption]:
        sql = """
            WITH members AS (
                SELECT id AS ven_id, NULL AS resource_name FROM oadr_target
                WHERE kind = 'VEN' AND target = ?
                UNION
                SELECT o.ven_id, o.unique_name FROM oadr_target t JOIN oadr_object o
                ON o.kind = t.kind AND o.id = t.id WHERE t.kind = 'RESOURCE' AND t.target = ?
            ), meters AS (
                SELECT DISTINCT m.id, m.kind, m.unit FROM meter m JOIN members s
                ON m.ven_id = s.ven_id
                AND (s.resource_name IS NULL
                     OR s.resource_name = m.ven_id || '/' || m.resource_name)
            )
            SELECT m.kind, m.unit, r.hour, count(*), sum(r.value),
                sum(CASE WHEN r.report_id LIKE 'estimate:%' THEN 1 ELSE 0 END)
            FROM reading r JOIN meters m ON r.meter_id = m.id
            WHERE r.hour >= ? AND r.hour < ?
            GROUP BY m.kind, m.unit, r.hour ORDER BY m.kind, m.unit, r.hour
        """

        def work(db: sqlite3.Connection) -> list[GroupConsumption]:
            return [
                GroupConsumption(
                    target, row[0], row[1], int(row[2]), int(row[3]), float(row[4]), int(row[5])
                )
                for row in db.execute(sql, (target, target, start, end))
            ]

        return await self._run(work)

    # --- DR bookkeeping -------------------------------------------------------------------------
    async def list_deliveries(self, event_id: str) -> list[Delivery]:
        def work(db: sqlite3.Connection) -> list[Delivery]:
            return [
                Delivery(*row)
                for row in db.execute(
                    "SELECT event_id, ven_id, client_id, status, received_at, latency_s, channel"
                    " FROM event_delivery WHERE event_id = ? ORDER BY ven_id",
                    (event_id,),
                )
            ]

        return await self._run(work)

    async def audit(self, entry: AuditEntry) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO audit_log (at, actor, action, object_kind, object_id, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.object_kind,
                    entry.object_id,
                    json.dumps(entry.detail, separators=(",", ":")),
                ),
            )

        await self._run(work)

    async def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        def work(db: sqlite3.Connection) -> list[AuditEntry]:
            return [
                AuditEntry(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
                for row in db.execute(
                    "SELECT at, actor, action, object_kind, object_id, detail FROM audit_log"
                    " ORDER BY seq DESC LIMIT ?",
                    (limit,),
                )
            ]

        return await self._run(work)
