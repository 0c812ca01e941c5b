"""PostgreSQL storage: the utility deployment, up to millions of meters.

asyncpg because it speaks the binary COPY protocol (``copy_records_to_table``), which is what
makes hourly ingest of 2,000,000 meters one bulk write instead of millions of INSERTs. Readings are
range-partitioned by month on the hour column, so old months can be detached or moved to cheaper
storage, and the same table can later become a TimescaleDB hypertable or a Citus distributed table
(distributed by meter_id) without changing the VTN.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

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
    POSTGRES,
    migrations,
    object_from_row,
    object_values,
)

from .grid import PostgresGridStore
from .headend import postgres_headend_store

MIGRATIONS = migrations(POSTGRES)

_MIGRATION_LOCK = 0x0ADB_3A66

# a pooled connection or a plain one: both speak the same API
type _Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def _month_bounds(hour: int) -> tuple[int, int, str]:
    day = datetime.fromtimestamp(hour, UTC)
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    end = datetime(day.year + (day.month == 12), day.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp()), f"reading_{day.year:04d}_{day.month:02d}"


class PostgresStorage(Storage):
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        # ?schema=NAME keeps a deployment (or a test run) in its own schema of a shared database
        self._schema = query.pop("schema", None)
        self._dsn = urlunsplit(parts._replace(query=urlencode(query)))
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._meters: dict[tuple[str, str, str], int] = {}
        self._partitions: set[str] = set()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("storage is not open")
        return self._pool

    async def open(self) -> None:
        settings = {"search_path": self._schema} if self._schema else None
        if self._schema:
            admin = await asyncpg.connect(self._dsn)
            try:
                await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            finally:
                await admin.close()
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._pool_size, server_settings=settings
        )
        async with self._pool.acquire() as conn, conn.transaction():
            # replicas starting together migrate one after the other
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration (version integer PRIMARY KEY)"
            )
            done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migration")}
            for version, sql in MIGRATIONS:
                if version not in done:
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migration (version) VALUES ($1)", version
                    )

    def grid(self) -> PostgresGridStore:
        return PostgresGridStore(self)

    def headend(self) -> HeadendStore:
        return postgres_headend_store(self)

    async def ensure_hours(self, conn: _Conn, hours: Sequence[int]) -> None:
        """Create the month partitions of these reading hours (the head-end's writes)."""
        await self._ensure_partitions(conn, [ReadingRow("", "", "", "", h, 0.0, "") for h in hours])

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def drop_schema(self) -> None:
        """Remove this storage's schema and everything in it (test runs, benchmarks)."""
        if not self._schema:
            raise RuntimeError("no schema to drop: the URL names none")
        await self.close()
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE')
        finally:
            await conn.close()

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def schema_version(self) -> int:
        return int(
            await self.pool.fetchval("SELECT coalesce(max(version), 0) FROM schema_migration")
        )

    # --- objects ----------------------------------------------------------------------------
    @staticmethod
    async def _write_targets(conn: _Conn, obj: StoredObject) -> None:
        await conn.execute("DELETE FROM oadr_target WHERE kind = $1 AND id = $2", obj.kind, obj.id)
        if obj.targets:
            await conn.execute(
                "INSERT INTO oadr_target (kind, id, target)"
                " SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING",
                obj.kind,
                obj.id,
                list(dict.fromkeys(obj.targets)),
            )

    async def _write_side(
        self,
        conn: _Conn,
        readings: Sequence[ReadingRow],
        deliveries: Sequence[Delivery],
        audit: AuditEntry | None,
    ) -> None:
        if readings:
            await self._ingest(conn, readings)
        for d in deliveries:
            await conn.execute(
                "INSERT INTO event_delivery (event_id, ven_id, client_id, status, received_at,"
                " latency_s, channel) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (event_id, ven_id) DO UPDATE SET status = excluded.status,"
                " received_at = excluded.received_at,"
                " latency_s = coalesce(excluded.latency_s, event_delivery.latency_s),"
                " channel = coalesce(excluded.channel, event_delivery.channel)",
                d.event_id,
                d.ven_id,
                d.client_id,
                d.status,
                d.received_at,
                d.latency_s,
                d.channel,
            )
        if audit is not None:
            await conn.execute(
                "INSERT INTO audit_log (at, actor, action, object_kind, object_id, detail)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                audit.at,
                audit.actor,
                audit.action,
                audit.object_kind,
                audit.object_id,
                json.dumps(audit.detail, separators=(",", ":")),
            )

    async def _load(self, conn: _Conn, row: asyncpg.Record) -> StoredObject:
        targets = [
            r[0]
            for r in await conn.fetch(
                "SELECT target FROM oadr_target WHERE kind = $1 AND id = $2 ORDER BY target",
                row["kind"],
                row["id"],
            )
        ]
        return object_from_row(row, targets)

    async def insert_object(
        self,
        obj: StoredObject,
        readings: Sequence[ReadingRow] = (),
        deliveries: Sequence[Delivery] = (),
        audit: AuditEntry | None = None,
    ) -> StoredObject:
        async with self.pool.acquire() as conn:
            if readings:
                await self._ensure_partitions(conn, readings)
            async with conn.transaction():
                if obj.content_hash is not None:
                    row = await conn.fetchrow(
                        f"SELECT {OBJECT_COLUMNS} FROM oadr_object WHERE kind = $1"
                        " AND client_id IS NOT DISTINCT FROM $2 AND content_hash = $3",
                        obj.kind,
                        obj.client_id,
                        obj.content_hash,
                    )
                    if row is not None:
                        return await self._load(conn, row)
                try:
                    await conn.execute(
                        f"INSERT INTO oadr_object ({OBJECT_COLUMNS}) VALUES"
                        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                        *object_values(obj),
                    )
                except asyncpg.UniqueViolationError as err:
                    raise Conflict(str(err)) from err
                await self._write_targets(conn, obj)
                await self._write_side(conn, readings, deliveries, audit)
                return obj

    async def replace_object(
        self,
        obj: StoredObject,
        readings: Sequence[ReadingRow] = (),
        deliveries: Sequence[Delivery] = (),
        audit: AuditEntry | None = None,
    ) -> bool:
        values = object_values(obj)
        async with self.pool.acquire() as conn:
            if readings:
                await self._ensure_partitions(conn, readings)
            async with conn.transaction():
                try:
                    status = await conn.execute(
                        "UPDATE oadr_object SET created_at = $3, modified_at = $4,"
                        " client_id = $5, unique_name = $6, program_id = $7, event_id = $8,"
                        " ven_id = $9, client_name = $10, starts_at = $11, ends_at = $12,"
                        " content_hash = $13, sub_objects = $14, body = $15"
                        " WHERE kind = $1 AND id = $2",
                        *values,
                    )
                except asyncpg.UniqueViolationError as err:
                    raise Conflict(str(err)) from err
                if status.endswith(" 0"):
                    return False
                await self._write_targets(conn, obj)
                await self._write_side(conn, readings, deliveries, audit)
                return True

    async def delete_object(
        self, kind: str, object_id: str, audit: AuditEntry | None = None
    ) -> StoredObject | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {OBJECT_COLUMNS} FROM oadr_object WHERE kind = $1 AND id = $2 FOR UPDATE",
                kind,
                object_id,
            )
            if row is None:
                return None
            obj = await self._load(conn, row)
            if kind == "VEN":
                await conn.execute(
                    "DELETE FROM oadr_object WHERE kind = 'RESOURCE' AND ven_id = $1", object_id
                )
            await conn.execute(
                "DELETE FROM oadr_object WHERE kind = $1 AND id = $2", kind, object_id
            )
            await self._write_side(conn, (), (), audit)
            return obj

    async def get_object(self, kind: str, object_id: str) -> StoredObject | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {OBJECT_COLUMNS} FROM oadr_object WHERE kind = $1 AND id = $2",
                kind,
                object_id,
            )
            return None if row is None else await self._load(conn, row)

    async def list_objects(self, query: ObjectQuery) -> list[StoredObject]:
        where = ["o.kind = $1"]
        params: list[Any] = [query.kind]

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        for column, value in (
            ("client_id", query.client_id),
            ("program_id", query.program_id),
            ("event_id", query.event_id),
            ("ven_id", query.ven_id),
            ("client_name", query.client_name),
            ("unique_name", query.unique_name),
        ):
            if value is not None:
                where.append(f"o.{column} = {param(value)}")
        for sub_object in query.sub_objects:
            where.append(f"o.sub_objects LIKE {param(f'%,{sub_object},%')}")
        if query.resource_name is not None:
            where.append(f"o.unique_name = o.ven_id || '/' || {param(query.resource_name)}")
        if query.not_ended_at is not None:
            where.append(f"(o.ends_at IS NULL OR o.ends_at > {param(query.not_ended_at)})")
        if query.targets is not None:
            matched = (
                "EXISTS (SELECT 1 FROM oadr_target t WHERE t.kind = o.kind AND t.id = o.id"
                f" AND t.target = ANY({param(list(query.targets))}::text[]))"
            )
            if query.untargeted_match:
                matched = (
                    f"({matched} OR NOT EXISTS (SELECT 1 FROM oadr_target t2"
                    " WHERE t2.kind = o.kind AND t2.id = o.id))"
                )
            where.append(matched)
        columns = ", ".join("o." + c.strip() for c in OBJECT_COLUMNS.split(","))
        sql = (
            f"SELECT {columns},"
            " ARRAY(SELECT t.target FROM oadr_target t WHERE t.kind = o.kind AND t.id = o.id"
            " ORDER BY t.target) AS targets"
            f" FROM oadr_object o WHERE {' AND '.join(where)}"
            f" ORDER BY o.created_at, o.id LIMIT {param(query.limit)} OFFSET {param(query.skip)}"
        )
        rows = await self.pool.fetch(sql, *params)
        return [object_from_row(row, list(row["targets"])) for row in rows]

    async def granted_targets(self, client_id: str) -> tuple[list[str], set[str]]:
        async with self.pool.acquire() as conn:
            vens = [
                r[0]
                for r in await conn.fetch(
                    "SELECT id FROM oadr_object WHERE kind = 'VEN' AND client_id = $1", client_id
                )
            ]
            if not vens:
                return [], set()
            rows = await conn.fetch(
                "SELECT t.target FROM oadr_target t WHERE t.kind = 'VEN' AND t.id = ANY($1)"
                " UNION SELECT t.target FROM oadr_target t JOIN oadr_object o"
                " ON o.kind = t.kind AND o.id = t.id"
                " WHERE o.kind = 'RESOURCE' AND o.ven_id = ANY($1)",
                vens,
            )
            return vens, {r[0] for r in rows}

    async def vens_for_targets(self, targets: Sequence[str] | None) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        if targets is None:
            for r in await self.pool.fetch("SELECT id FROM oadr_object WHERE kind = 'VEN'"):
                found[r[0]] = set()
            return found
        rows = await self.pool.fetch(
            "SELECT id, target FROM oadr_target WHERE kind = 'VEN' AND target = ANY($1::text[])"
            " UNION SELECT o.ven_id, t.target FROM oadr_target t JOIN oadr_object o"
            " ON o.kind = t.kind AND o.id = t.id"
            " WHERE t.kind = 'RESOURCE' AND t.target = ANY($1::text[])",
            list(targets),
        )
        for ven_id, target in rows:
            found.setdefault(ven_id, set()).add(target)
        return found

    # --- clients -------------------------------------------------------------------------------
    async def put_client(self, client: Client) -> None:
        await self.pool.execute(
            "INSERT INTO client (client_id, secret_hash, role, created_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,"
            " role = excluded.role",
            client.client_id,
            client.secret_hash,
            client.role,
            client.created_at,
        )

    async def get_client(self, client_id: str) -> Client | None:
        row = await self.pool.fetchrow(
            "SELECT client_id, secret_hash, role, created_at FROM client WHERE client_id = $1",
            client_id,
        )
        return None if row is None else Client(*row)

    async def delete_client(self, client_id: str) -> bool:
        status = await self.pool.execute("DELETE FROM client WHERE client_id = $1", client_id)
        return not status.endswith(" 0")

    async def get_or_create_setting(self, key: str, value: str) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO setting (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                key,
                value,
            )
            return str(await conn.fetchval("SELECT value FROM setting WHERE key = $1", key))

    # --- readings --------------------------------------------------------------------------------
    async def _ensure_partitions(self, conn: _Conn, rows: Sequence[ReadingRow]) -> None:
        months: dict[str, tuple[int, int]] = {}
        seen_hours: set[int] = set()
        for r in rows:
            month_hour = r.hour - r.hour % 86400
            if month_hour in seen_hours:
                continue
            seen_hours.add(month_hour)
            start, end, name = _month_bounds(r.hour)
            months[name] = (start, end)
        for name, (start, end) in months.items():
            if name in self._partitions:
                continue
            # another replica may create it between our IF NOT EXISTS and the CREATE
            with contextlib.suppress(asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF reading"
                    f" FOR VALUES FROM ({start}) TO ({end})"
                )
            self._partitions.add(name)

    async def _meter_ids(
        self, conn: _Conn, rows: Sequence[ReadingRow]
    ) -> dict[tuple[str, str, str], int]:
        missing: dict[tuple[str, str, str], str] = {}
        for r in rows:
            key = (r.ven_id, r.resource_name, r.kind)
            if key not in self._meters and key not in missing:
                missing[key] = r.unit
        if missing:
            keys = list(missing)
            await conn.execute(
                "INSERT INTO meter (ven_id, resource_name, kind, unit)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                " ON CONFLICT DO NOTHING",
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [missing[k] for k in keys],
            )
            found = await conn.fetch(
                "SELECT m.id, m.ven_id, m.resource_name, m.kind FROM meter m"
                " JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(v, r, c)"
                " ON m.ven_id = k.v AND m.resource_name = k.r AND m.kind = k.c",
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
            )
            # meter ids never change once assigned, so every replica may cache them
            for rec in found:
                self._meters[(rec[1], rec[2], rec[3])] = rec[0]
        return self._meters

    async def _ingest(self, conn: _Conn, rows: Sequence[ReadingRow]) -> int:
        ids = await self._meter_ids(conn, rows)
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS reading_in (meter_id bigint, hour bigint,"
            " value double precision, report_id text) ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table(
            "reading_in",
            records=[
                (ids[(r.ven_id, r.resource_name, r.kind)], r.hour, r.value, r.report_id)
                for r in rows
            ],
            schema_name="pg_temp",
        )
        status = await conn.execute(
            "INSERT INTO reading (meter_id, hour, value, report_id)"
            " SELECT DISTINCT ON (meter_id, hour) meter_id, hour, value, report_id FROM reading_in"
            " ORDER BY meter_id, hour"
            " ON CONFLICT (meter_id, hour) DO UPDATE SET value = excluded.value,"
            " report_id = excluded.report_id WHERE reading.value IS DISTINCT FROM excluded.value"
        )
        return int(status.rsplit(" ", 1)[1])

    async def ingest_readings(self, rows: Sequence[ReadingRow]) -> int:
        if not rows:
            return 0
        async with self.pool.acquire() as conn:
            await self._ensure_partitions(conn, rows)
            async with conn.transaction():
                return await self._ingest(conn, rows)

    async def count_readings(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM reading"))

    async def group_consumption(self, target: str, start: int, end: int) -> list[GroupConsumption]:
        sql = """
            WITH members AS (
                SELECT id AS ven_id, NULL::text AS resource_name FROM oadr_target
                WHERE kind = 'VEN' AND target = $1
                UNION
                SELECT o.ven_id, o.unique_name FROM oadr_target t JOIN oadr_object o
                ON o.kind = t.kind AND o.id = t.id WHERE t.kind = 'RESOURCE' AND t.target = $1
            ), meters AS (
                SELECT DISTINCT m.id, m.kind, m.unit FROM meter m JOIN members s
                ON m.ven_id = s.ven_id
                AND (s.resource_name IS NULL
                     OR s.resource_name = m.ven_id || '/' || m.resource_name)
            )
            SELECT m.kind, m.unit, r.hour, count(*), sum(r.value),
                sum(CASE WHEN r.report_id LIKE 'estimate:%' THEN 1 ELSE 0 END)
            FROM reading r JOIN meters m ON r.meter_id = m.id
            WHERE r.hour >= $2 AND r.hour < $3
            GROUP BY m.kind, m.unit, r.hour ORDER BY m.kind, m.unit, r.hour
        """
        rows = await self.pool.fetch(sql, target, start, end)
        return [
            GroupConsumption(target, r[0], r[1], int(r[2]), int(r[3]), float(r[4]), int(r[5]))
            for r in rows
        ]

    # --- DR bookkeeping --------------------------------------------------------------------------
    async def list_deliveries(self, event_id: str) -> list[Delivery]:
        rows = await self.pool.fetch(
            "SELECT event_id, ven_id, client_id, status, received_at, latency_s, channel"
            " FROM event_delivery WHERE event_id = $1 ORDER BY ven_id",
            event_id,
        )
        return [Delivery(*r) for r in rows]

    async def audit(self, entry: AuditEntry) -> None:
        await self.pool.execute(
            "INSERT INTO audit_log (at, actor, action, object_kind, object_id, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            entry.at,
            entry.actor,
            entry.action,
            entry.object_kind,
            entry.object_id,
            json.dumps(entry.detail, separators=(",", ":")),
        )

    async def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self.pool.fetch(
            "SELECT at, actor, action, object_kind, object_id, detail FROM audit_log"
            " ORDER BY seq DESC LIMIT $1",
            limit,
        )
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]
