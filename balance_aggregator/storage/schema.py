"""The schema of the VTN's database, written once for SQLite and PostgreSQL.

The OpenADR tables (objects, their targets, clients, settings, the audit log, DR deliveries, meters
and readings) are one SQL text; where the two databases differ -- the name of a float type, how a
key is generated, how the readings table is laid out -- the text names a field of a
:class:`Dialect`. The grid's migrations (2-4) are already one text in :mod:`.grid_sql`; this module
puts the four in order for each database.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from .base import StoredObject
from .grid_sql import (
    POSTGRES_CACHE_MIGRATION,
    POSTGRES_LEAF_MIGRATION,
    POSTGRES_MIGRATION,
    SQLITE_CACHE_MIGRATION,
    SQLITE_LEAF_MIGRATION,
    SQLITE_MIGRATION,
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one database spells differently in the schema."""

    name: str
    #: a float column
    real: str
    #: an integer column that may exceed 2**31 (epoch seconds, meter ids)
    bigint: str
    #: an integer primary key the database assigns (ids may be reused after a delete)
    id_key: str
    #: an integer primary key the database assigns, never reused (the audit log's order)
    seq_key: str
    #: what a reading's meter_id declares after its type
    meter_ref: str
    #: what follows the reading table's column list, and the statements after it
    reading_layout: str
    #: the grid migrations 2, 3 and 4 (hierarchy, per-house sums, roll-up cache)
    grid_migrations: tuple[str, str, str]


SQLITE = Dialect(
    name="sqlite",
    real="REAL",
    bigint="INTEGER",
    id_key="INTEGER PRIMARY KEY",
    seq_key="INTEGER PRIMARY KEY AUTOINCREMENT",
    meter_ref=" REFERENCES meter (id)",
    # a clustered (meter_id, hour) key; the roll-up reads by hour
    reading_layout="WITHOUT ROWID;\nCREATE INDEX reading_by_hour ON reading (hour)",
    grid_migrations=(SQLITE_MIGRATION, SQLITE_LEAF_MIGRATION, SQLITE_CACHE_MIGRATION),
)

POSTGRES = Dialect(
    name="postgresql",
    real="double precision",
    bigint="bigint",
    id_key="bigserial PRIMARY KEY",
    seq_key="bigserial PRIMARY KEY",
    # partitions are created at ingest (one a month) and COPY must stay cheap: no foreign key
    meter_ref="",
    # range partitions by month; the grid migration adds a BRIN index on hour
    reading_layout="PARTITION BY RANGE (hour)",
    grid_migrations=(POSTGRES_MIGRATION, POSTGRES_LEAF_MIGRATION, POSTGRES_CACHE_MIGRATION),
)

OPENADR_SCHEMA = """
CREATE TABLE oadr_object (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at {real} NOT NULL,
    modified_at {real} NOT NULL,
    client_id TEXT,
    unique_name TEXT,
    program_id TEXT,
    event_id TEXT,
    ven_id TEXT,
    client_name TEXT,
    starts_at {real},
    ends_at {real},
    content_hash TEXT,
    sub_objects TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id),
    UNIQUE (kind, unique_name),
    UNIQUE (kind, client_id, content_hash)
);
CREATE INDEX oadr_object_list ON oadr_object (kind, created_at, id);
CREATE INDEX oadr_object_client ON oadr_object (kind, client_id);
CREATE INDEX oadr_object_program ON oadr_object (kind, program_id);
CREATE INDEX oadr_object_ven ON oadr_object (kind, ven_id);
CREATE TABLE oadr_target (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (kind, id, target),
    FOREIGN KEY (kind, id) REFERENCES oadr_object (kind, id) ON DELETE CASCADE
);
CREATE INDEX oadr_target_by_target ON oadr_target (kind, target);
CREATE TABLE client (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('bl', 'ven')),
    created_at {real} NOT NULL
);
CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE audit_log (
    seq {seq_key},
    at {real} NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE event_delivery (
    event_id TEXT NOT NULL,
    ven_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at {real} NOT NULL,
    latency_s {real},
    channel TEXT,
    PRIMARY KEY (event_id, ven_id)
);
CREATE TABLE meter (
    id {id_key},
    ven_id TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    UNIQUE (ven_id, resource_name, kind)
);
CREATE TABLE reading (
    meter_id {bigint} NOT NULL{meter_ref},
    hour {bigint} NOT NULL,
    value {real} NOT NULL,
    report_id TEXT NOT NULL,
    PRIMARY KEY (meter_id, hour)
) {reading_layout}
"""
"""Migration 1: the OpenADR objects and the readings VENs report, in a dialect's spelling."""


def openadr_schema(dialect: Dialect) -> str:
    """Migration 1 for one database."""
    return OPENADR_SCHEMA.format(**asdict(dialect))


HEADEND_SCHEMA = """
CREATE TABLE concentrator (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    node_id TEXT,
    created_at {real} NOT NULL,
    since_hour {bigint} NOT NULL,
    serial {bigint},
    firmware TEXT,
    state TEXT NOT NULL,
    last_seen {real},
    lease_owner TEXT,
    lease_until {real} NOT NULL
);
CREATE TABLE headend_process (
    id TEXT PRIMARY KEY,
    started_at {real} NOT NULL,
    heartbeat {real} NOT NULL
);
CREATE TABLE headend_module (
    serial {bigint} PRIMARY KEY,
    concentrator_id TEXT NOT NULL REFERENCES concentrator (id) ON DELETE CASCADE,
    module_type INTEGER NOT NULL,
    firmware INTEGER NOT NULL,
    hop INTEGER NOT NULL,
    online INTEGER NOT NULL,
    last_heard {real}
);
CREATE INDEX headend_module_concentrator ON headend_module (concentrator_id);
CREATE TABLE headend_meter (
    module_serial {bigint} NOT NULL REFERENCES headend_module (serial) ON DELETE CASCADE,
    channel INTEGER NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    pulses_per_unit {real} NOT NULL,
    max_per_hour {real} NOT NULL,
    meter_ref {bigint} NOT NULL,
    initial_hour {bigint},
    initial_counter {bigint},
    counter_hour {bigint},
    counter {bigint},
    live_ts {bigint},
    live_counter {bigint},
    PRIMARY KEY (module_serial, channel)
);
CREATE TABLE headend_vee (
    module_serial {bigint} NOT NULL,
    channel INTEGER NOT NULL,
    rule TEXT NOT NULL,
    concentrator_id TEXT NOT NULL,
    count {bigint} NOT NULL,
    first_at {real} NOT NULL,
    last_at {real} NOT NULL,
    last_detail TEXT NOT NULL,
    PRIMARY KEY (module_serial, channel, rule)
);
CREATE TABLE field_alarm (
    id {id_key},
    concentrator_id TEXT NOT NULL,
    module_serial {bigint} NOT NULL,
    channel INTEGER NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    since {real} NOT NULL,
    cleared {real},
    detail TEXT NOT NULL
);
CREATE UNIQUE INDEX field_alarm_open ON field_alarm (concentrator_id, module_serial, channel, kind)
    WHERE cleared IS NULL;
CREATE INDEX field_alarm_since ON field_alarm (since)
"""
"""Migration 5: the head-end. Concentrators with their leases, the inventory they report, each
meter's position in its hourly counters (what makes a backlog fetch ask for exactly the missing
hours), VEE counts per meter and rule, and field alarms. ``module_serial`` 0 means the
concentrator itself and ``channel`` -1 the module itself, so the open-alarm key has no NULLs."""


def headend_schema(dialect: Dialect) -> str:
    """Migration 5 for one database."""
    return HEADEND_SCHEMA.format(**asdict(dialect))


def migrations(dialect: Dialect) -> list[tuple[int, str]]:
    """Every migration of one database, as (version, SQL script), oldest first."""
    grid, leaf, cache = dialect.grid_migrations
    return [
        (1, openadr_schema(dialect)),
        (2, grid),
        (3, leaf),
        (4, cache),
        (5, headend_schema(dialect)),
    ]


OBJECT_COLUMNS = (
    "kind, id, created_at, modified_at, client_id, unique_name, program_id, event_id, ven_id, "
    "client_name, starts_at, ends_at, content_hash, sub_objects, body"
)
"""The columns of ``oadr_object`` in the order of :func:`object_values`."""


def object_values(obj: StoredObject) -> tuple[Any, ...]:
    """An object's ``oadr_object`` row, in the order of :data:`OBJECT_COLUMNS`."""
    return (
        obj.kind,
        obj.id,
        obj.created_at,
        obj.modified_at,
        obj.client_id,
        obj.unique_name,
        obj.program_id,
        obj.event_id,
        obj.ven_id,
        obj.client_name,
        obj.starts_at,
        obj.ends_at,
        obj.content_hash,
        obj.sub_objects,
        json.dumps(obj.body, separators=(",", ":")),
    )


class Row(Protocol):
    """A row by column name: sqlite3.Row and asyncpg.Record alike."""

    def __getitem__(self, key: str, /) -> Any: ...


def object_from_row(row: Row, targets: list[str]) -> StoredObject:
    """The object an ``oadr_object`` row (all of :data:`OBJECT_COLUMNS`) holds."""
    return StoredObject(
        kind=row["kind"],
        id=row["id"],
        created_at=row["created_at"],
        modified_at=row["modified_at"],
        client_id=row["client_id"],
        unique_name=row["unique_name"],
        program_id=row["program_id"],
        event_id=row["event_id"],
        ven_id=row["ven_id"],
        client_name=row["client_name"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        content_hash=row["content_hash"],
        sub_objects=row["sub_objects"],
        body=json.loads(row["body"]),
        targets=targets,
    )
