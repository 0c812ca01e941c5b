"""SQL of the grid: the migration and the set-based balance roll-up, one text for both databases.

Statements are written with PostgreSQL's ``$n`` parameters and every parameter is CAST, so the
same text runs on SQLite after ``$n`` becomes ``?n`` (SQLite's numbered parameters).
"""

from __future__ import annotations

import re

_PARAM = re.compile(r"\$(\d+)")


def for_sqlite(sql: str) -> str:
    """PostgreSQL's ``$n`` as SQLite's ``?n``; BIGINT casts are harmless there."""
    return _PARAM.sub(r"?\1", sql)


_MIGRATION = """
CREATE TABLE grid_node (
    id TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES grid_node (id) ON DELETE CASCADE,
    level TEXT NOT NULL
        CHECK (level IN ('region', 'city', 'district', 'street', 'house', 'flat')),
    name TEXT NOT NULL,
    target TEXT,
    path TEXT NOT NULL,
    depth INTEGER NOT NULL
);
CREATE INDEX grid_node_parent ON grid_node (parent_id);
CREATE INDEX grid_node_path ON grid_node (path{pattern_ops});
CREATE INDEX grid_node_target ON grid_node (target);
CREATE TABLE grid_meter (
    id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL REFERENCES grid_node (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('feeder', 'house_input', 'subscriber')),
    phase TEXT CHECK (phase IN ('A', 'B', 'C')),
    ven_id TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    -- denormalised for the roll-up: the VTN's meter row its readings carry, and the node its
    -- readings are first summed at (a flat's house), so the big join is one hash on one table
    meter_ref BIGINT NOT NULL REFERENCES meter (id),
    rollup_node TEXT NOT NULL,
    UNIQUE (ven_id, resource_name)
);
CREATE INDEX grid_meter_node ON grid_meter (node_id);
CREATE INDEX grid_meter_ref ON grid_meter (meter_ref);
CREATE TABLE operator_user (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    scope_node_id TEXT,
    created_at {real} NOT NULL
);
CREATE TABLE grid_balance_hour (
    node_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    input_kwh {real},
    input_meters INTEGER NOT NULL,
    input_expected INTEGER NOT NULL,
    subscribers_kwh {real},
    subscriber_meters INTEGER NOT NULL,
    subscribers_expected INTEGER NOT NULL,
    PRIMARY KEY (node_id, hour)
)
"""

#: a scope user's node may be deleted later: no foreign key, a missing scope node sees nothing
POSTGRES_MIGRATION = (
    _MIGRATION.format(pattern_ops=" text_pattern_ops", real="double precision")
    # a roll-up reads one day of a month partition whose key starts with meter_id: a BRIN on hour
    # (readings arrive in hour order) finds the day's blocks for a few kilobytes of index
    + ";\nCREATE INDEX reading_hour_brin ON reading USING brin (hour)"
)
SQLITE_MIGRATION = _MIGRATION.format(pattern_ops="", real="REAL")

# $1 path prefix of the subtree ('' for all), $2 only this node (NULL for every node of it),
# $3/$4 [start, end) in epoch seconds.
#
# Why it is fast on millions of meters: it never reads a reading. Every meter's readings are summed
# at ingest into its rollup node (a flat's house) per hour -- grid_leaf_hour, (houses x hours) rows
# -- and only those few rows are fanned out to the ancestors, over a closure of the non-flat nodes
# built by a recursive CTE.
_BALANCE = """
WITH RECURSIVE
scope AS (
    SELECT id, parent_id, depth FROM grid_node
    WHERE level <> 'flat'{node_scope}
),
anc (node_id, anc_id, anc_depth, next_id) AS (
    SELECT id, id, depth, parent_id FROM scope
    UNION ALL
    SELECT a.node_id, s.id, s.depth, s.parent_id FROM anc a JOIN scope s ON s.id = a.next_id
),
gmeter AS (
{gmeter}
),
gnode AS (SELECT DISTINCT rnode AS id FROM gmeter WHERE is_input),
gdepth AS (
    SELECT g.id, coalesce(max(CASE WHEN a.anc_id <> g.id AND a.anc_id IN (SELECT id FROM gnode)
                                   THEN a.anc_depth END), -1) AS nga
    FROM gnode g JOIN anc a ON a.node_id = g.id GROUP BY g.id
),
-- the readings already summed per rollup node and hour, kept current at ingest (LEAF_MIGRATION)
leaf AS (
    SELECT l.rnode, l.is_input, l.hour, l.kwh, l.n FROM grid_leaf_hour l
    WHERE l.hour >= CAST($3 AS BIGINT) AND l.hour < CAST($4 AS BIGINT) AND l.n > 0{leaf_scope}
),
expected AS (SELECT rnode, is_input, count(*) AS n FROM gmeter GROUP BY rnode, is_input),
-- which (leaf node, ancestor) pairs count: every subscriber; a group meter only for ancestors
-- below its nearest group-metered ancestor (outermost groups of the subtree)
pairs AS (
    SELECT a.node_id, a.anc_id, FALSE AS is_input FROM anc a
    WHERE CAST($2 AS TEXT) IS NULL OR a.anc_id = CAST($2 AS TEXT)
    UNION ALL
    SELECT a.node_id, a.anc_id, TRUE FROM anc a JOIN gdepth g ON g.id = a.node_id
    WHERE g.nga < a.anc_depth AND (CAST($2 AS TEXT) IS NULL OR a.anc_id = CAST($2 AS TEXT))
),
up AS (
    SELECT p.anc_id AS node_id, l.hour,
           sum(CASE WHEN l.is_input THEN l.kwh END) AS in_kwh,
           sum(CASE WHEN l.is_input THEN l.n ELSE 0 END) AS in_n,
           sum(CASE WHEN l.is_input THEN NULL ELSE l.kwh END) AS sub_kwh,
           sum(CASE WHEN l.is_input THEN 0 ELSE l.n END) AS sub_n
    FROM leaf l JOIN pairs p ON p.node_id = l.rnode AND p.is_input = l.is_input
    GROUP BY p.anc_id, l.hour
),
expected_up AS (
    SELECT p.anc_id AS node_id,
           sum(CASE WHEN e.is_input THEN e.n ELSE 0 END) AS in_n,
           sum(CASE WHEN e.is_input THEN 0 ELSE e.n END) AS sub_n
    FROM expected e JOIN pairs p ON p.node_id = e.rnode AND p.is_input = e.is_input
    GROUP BY p.anc_id
)
SELECT u.node_id, u.hour, u.in_kwh AS input_kwh, u.in_n AS input_meters,
       coalesce(x.in_n, 0) AS input_expected, u.sub_kwh AS subscribers_kwh,
       u.sub_n AS subscriber_meters, coalesce(x.sub_n, 0) AS subscribers_expected
FROM up u LEFT JOIN expected_up x ON x.node_id = u.node_id
"""

_GMETER = """
    SELECT gm.role <> 'subscriber' AS is_input, gm.rollup_node AS rnode, gm.meter_ref AS mid
    FROM grid_meter gm{meter_scope}"""
_SCOPED = _BALANCE.format(
    node_scope=" AND substr(path, 1, length(CAST($1 AS TEXT))) = CAST($1 AS TEXT)",
    leaf_scope=" AND l.rnode IN (SELECT id FROM scope)",
    gmeter=_GMETER.format(
        meter_scope=" JOIN grid_node n ON n.id = gm.node_id"
        " WHERE substr(n.path, 1, length(CAST($1 AS TEXT))) = CAST($1 AS TEXT)"
    ),
)
# $1 is unused there but kept, so both statements take the same parameters
_WHOLE = _BALANCE.format(
    node_scope=" AND CAST($1 AS TEXT) = ''", leaf_scope="", gmeter=_GMETER.format(meter_scope="")
)
BALANCE_SQL = _SCOPED + " ORDER BY u.node_id, u.hour"
ROLLUP_DELETE = "DELETE FROM grid_balance_hour WHERE hour >= $1 AND hour < $2"
ROLLUP_SELECT = _WHOLE
ROLLUP_INSERT = (
    "INSERT INTO grid_balance_hour (node_id, hour, input_kwh, input_meters, input_expected,"
    " subscribers_kwh, subscriber_meters, subscribers_expected) " + _WHOLE
)
#: a roll-up is an analytics job: room to hash two million meters without spilling to disk
ROLLUP_WORK_MEM = "512MB"

# --- leaf sums: grid_leaf_hour ------------------------------------------------------------------
# Each (rollup node, input or subscriber side, hour) holds the sum and the count of its meters'
# readings. Triggers keep it exact whatever changes: a reading inserted, corrected or deleted; a
# meter placed, moved to another house, given another role or removed (a node's cascade too). A
# meter whose rollup_node is still '' (between an import's insert and its refresh) counts nowhere.
# Rows may fall to n = 0 when meters leave; readers skip them.
_LEAF_TABLE = """
CREATE TABLE grid_leaf_hour (
    rnode TEXT NOT NULL,
    is_input BOOLEAN NOT NULL,
    hour BIGINT NOT NULL,
    kwh {real} NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (rnode, is_input, hour)
);
-- the whole roll-up reads a day of every node, a scoped balance its own nodes by the key
CREATE INDEX grid_leaf_hour_hour ON grid_leaf_hour (hour)"""

#: sums of readings per (rollup node, side, hour) in [$1, $2): the rebuild and the backfill
LEAF_FROM_READINGS = """
SELECT gm.rollup_node, gm.role <> 'subscriber', r.hour, sum(r.value), count(*)
FROM reading r JOIN grid_meter gm ON gm.meter_ref = r.meter_id
WHERE gm.rollup_node <> '' AND r.hour >= CAST($1 AS BIGINT) AND r.hour < CAST($2 AS BIGINT)
GROUP BY gm.rollup_node, gm.role <> 'subscriber', r.hour
"""
LEAF_DELETE = "DELETE FROM grid_leaf_hour WHERE hour >= $1 AND hour < $2"
LEAF_INSERT = "INSERT INTO grid_leaf_hour (rnode, is_input, hour, kwh, n) " + LEAF_FROM_READINGS
#: the whole range of BIGINT epoch seconds, for a rebuild of everything
ALL_HOURS = (-(2**62), 2**62)

# one upsert adds signed (kwh, n) deltas, grouped so each key is touched once, in key order so
# two concurrent writers lock rows in the same order
_ADD = """
INSERT INTO grid_leaf_hour AS l (rnode, is_input, hour, kwh, n)
SELECT rnode, is_input, hour, sum(kwh), sum(n) FROM ({deltas}) d
GROUP BY rnode, is_input, hour ORDER BY rnode, is_input, hour
ON CONFLICT (rnode, is_input, hour)
DO UPDATE SET kwh = l.kwh + excluded.kwh, n = l.n + excluded.n"""

# PostgreSQL: statement triggers with transition tables, so a COPY of a million readings is one
# set-based upsert, not a million row triggers
_PG_LEAF_FUNCTIONS = {
    "reading_added": """
    SELECT gm.rollup_node AS rnode, gm.role <> 'subscriber' AS is_input, r.hour,
           r.value AS kwh, 1 AS n
    FROM leaf_new r JOIN grid_meter gm ON gm.meter_ref = r.meter_id WHERE gm.rollup_node <> ''""",
    "reading_changed": """
    SELECT gm.rollup_node AS rnode, gm.role <> 'subscriber' AS is_input, r.hour,
           r.value - o.value AS kwh, 0 AS n
    FROM leaf_new r JOIN leaf_old o ON o.meter_id = r.meter_id AND o.hour = r.hour
    JOIN grid_meter gm ON gm.meter_ref = r.meter_id WHERE gm.rollup_node <> ''""",
    "reading_removed": """
    SELECT gm.rollup_node AS rnode, gm.role <> 'subscriber' AS is_input, o.hour,
           -o.value AS kwh, -1 AS n
    FROM leaf_old o JOIN grid_meter gm ON gm.meter_ref = o.meter_id WHERE gm.rollup_node <> ''""",
    "meter_added": """
    SELECT m.rollup_node AS rnode, m.role <> 'subscriber' AS is_input, r.hour,
           r.value AS kwh, 1 AS n
    FROM leaf_new m JOIN reading r ON r.meter_id = m.meter_ref WHERE m.rollup_node <> ''""",
    # a meter moved, re-roled or pointed at other readings: out of the old place, into the new
    "meter_changed": """
    SELECT o.rollup_node AS rnode, o.role <> 'subscriber' AS is_input, r.hour,
           -r.value AS kwh, -1 AS n
    FROM leaf_old o JOIN leaf_new m ON m.id = o.id JOIN reading r ON r.meter_id = o.meter_ref
    WHERE o.rollup_node <> '' AND (o.rollup_node, o.role <> 'subscriber', o.meter_ref)
        IS DISTINCT FROM (m.rollup_node, m.role <> 'subscriber', m.meter_ref)
    UNION ALL
    SELECT m.rollup_node, m.role <> 'subscriber', r.hour, r.value, 1
    FROM leaf_old o JOIN leaf_new m ON m.id = o.id JOIN reading r ON r.meter_id = m.meter_ref
    WHERE m.rollup_node <> '' AND (o.rollup_node, o.role <> 'subscriber', o.meter_ref)
        IS DISTINCT FROM (m.rollup_node, m.role <> 'subscriber', m.meter_ref)""",
    "meter_removed": """
    SELECT o.rollup_node AS rnode, o.role <> 'subscriber' AS is_input, r.hour,
           -r.value AS kwh, -1 AS n
    FROM leaf_old o JOIN reading r ON r.meter_id = o.meter_ref WHERE o.rollup_node <> ''""",
}
# (function, table, event, transition tables)
_PG_LEAF_TRIGGERS = (
    ("reading_added", "reading", "INSERT", "NEW TABLE AS leaf_new"),
    ("reading_changed", "reading", "UPDATE", "OLD TABLE AS leaf_old NEW TABLE AS leaf_new"),
    ("reading_removed", "reading", "DELETE", "OLD TABLE AS leaf_old"),
    ("meter_added", "grid_meter", "INSERT", "NEW TABLE AS leaf_new"),
    ("meter_changed", "grid_meter", "UPDATE", "OLD TABLE AS leaf_old NEW TABLE AS leaf_new"),
    ("meter_removed", "grid_meter", "DELETE", "OLD TABLE AS leaf_old"),
)
# An upload of a few thousand readings should find their meters by the meter_ref index; the
# planner, seeing millions of grid meters, may rather hash them all. OFFSET 0 keeps the lookup a
# parameterised index scan per reading. A bulk load (above FEW_READINGS) keeps the hash join,
# which is right for millions of readings.
_METER_JOIN = "JOIN grid_meter gm ON gm.meter_ref = r.meter_id"
_METER_LOOKUP = (
    "CROSS JOIN LATERAL (SELECT g.rollup_node, g.role FROM grid_meter g"
    " WHERE g.meter_ref = r.meter_id OFFSET 0) gm"
)
FEW_READINGS = 20_000


def _pg_leaf_body(deltas: str) -> str:
    if _METER_JOIN not in deltas:
        return f"{_ADD.format(deltas=deltas)};"
    few = _ADD.format(deltas=deltas.replace(_METER_JOIN, _METER_LOOKUP))
    return (
        f" IF (SELECT count(*) FROM leaf_new) <= {FEW_READINGS} THEN{few};"
        f" ELSE{_ADD.format(deltas=deltas)}; END IF;"
    )


POSTGRES_LEAF_MIGRATION = ";\n".join(
    [_LEAF_TABLE.format(real="double precision")]
    + [
        # JIT compiling these small statements cost ~150 ms per upload, ten times their work
        f"CREATE FUNCTION grid_leaf_{name}() RETURNS trigger LANGUAGE plpgsql SET jit = off"
        f" AS $fn$ BEGIN"
        f"{_pg_leaf_body(deltas)} RETURN NULL; END $fn$"
        for name, deltas in _PG_LEAF_FUNCTIONS.items()
    ]
    + [
        f"CREATE TRIGGER grid_leaf_{name} AFTER {event} ON {table} REFERENCING {tables}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION grid_leaf_{name}()"
        for name, table, event, tables in _PG_LEAF_TRIGGERS
    ]
    + [LEAF_INSERT.replace("$1", str(ALL_HOURS[0])).replace("$2", str(ALL_HOURS[1]))]
)

# SQLite: row triggers (it has no transition tables); the same deltas, one row at a time
_SQLITE_LEAF_TRIGGERS = {
    "reading_added AFTER INSERT ON reading": """
    SELECT rollup_node AS rnode, role <> 'subscriber' AS is_input, NEW.hour AS hour,
           NEW.value AS kwh, 1 AS n
    FROM grid_meter WHERE meter_ref = NEW.meter_id AND rollup_node <> ''""",
    "reading_changed AFTER UPDATE OF value ON reading": """
    SELECT rollup_node AS rnode, role <> 'subscriber' AS is_input, NEW.hour AS hour,
           NEW.value - OLD.value AS kwh, 0 AS n
    FROM grid_meter WHERE meter_ref = NEW.meter_id AND rollup_node <> ''""",
    "reading_removed AFTER DELETE ON reading": """
    SELECT rollup_node AS rnode, role <> 'subscriber' AS is_input, OLD.hour AS hour,
           -OLD.value AS kwh, -1 AS n
    FROM grid_meter WHERE meter_ref = OLD.meter_id AND rollup_node <> ''""",
    "meter_added AFTER INSERT ON grid_meter": """
    SELECT NEW.rollup_node AS rnode, NEW.role <> 'subscriber' AS is_input, hour,
           value AS kwh, 1 AS n
    FROM reading WHERE meter_id = NEW.meter_ref AND NEW.rollup_node <> ''""",
    "meter_changed AFTER UPDATE ON grid_meter": """
    SELECT OLD.rollup_node AS rnode, OLD.role <> 'subscriber' AS is_input, hour,
           -value AS kwh, -1 AS n
    FROM reading WHERE meter_id = OLD.meter_ref AND OLD.rollup_node <> ''
        AND (OLD.rollup_node, OLD.role <> 'subscriber', OLD.meter_ref)
        IS NOT (NEW.rollup_node, NEW.role <> 'subscriber', NEW.meter_ref)
    UNION ALL
    SELECT NEW.rollup_node, NEW.role <> 'subscriber', hour, value, 1
    FROM reading WHERE meter_id = NEW.meter_ref AND NEW.rollup_node <> ''
        AND (OLD.rollup_node, OLD.role <> 'subscriber', OLD.meter_ref)
        IS NOT (NEW.rollup_node, NEW.role <> 'subscriber', NEW.meter_ref)""",
    "meter_removed AFTER DELETE ON grid_meter": """
    SELECT OLD.rollup_node AS rnode, OLD.role <> 'subscriber' AS is_input, hour,
           -value AS kwh, -1 AS n
    FROM reading WHERE meter_id = OLD.meter_ref AND OLD.rollup_node <> ''""",
}
SQLITE_LEAF_MIGRATION = ";\n".join(
    [_LEAF_TABLE.format(real="REAL")]
    + [
        f"CREATE TRIGGER grid_leaf_{head} BEGIN{_ADD.format(deltas=deltas)}; END"
        for head, deltas in _SQLITE_LEAF_TRIGGERS.items()
    ]
    + [for_sqlite(LEAF_INSERT).replace("?1", str(ALL_HOURS[0])).replace("?2", str(ALL_HOURS[1]))]
)

METER_READINGS_SQL = """
SELECT gm.id, r.hour, r.value
FROM grid_meter gm
JOIN grid_node n ON n.id = gm.node_id
JOIN reading r ON r.meter_id = gm.meter_ref
WHERE substr(n.path, 1, length(CAST($1 AS TEXT))) = CAST($1 AS TEXT)
    AND r.hour >= CAST($2 AS BIGINT) AND r.hour < CAST($3 AS BIGINT)
ORDER BY gm.id, r.hour
"""

#: a meter's rollup node follows its node (a flat's house); run after every import
REFRESH_ROLLUP_NODE = """
UPDATE grid_meter SET rollup_node = {rnode}
FROM grid_node n
WHERE n.id = grid_meter.node_id AND grid_meter.rollup_node <> {rnode}
"""
REFRESH_ROLLUP_NODE = REFRESH_ROLLUP_NODE.format(
    rnode="CASE WHEN n.level = 'flat' THEN coalesce(n.parent_id, n.id) ELSE n.id END"
)

# --- the stored roll-up as a cache: grid_rolled_hour and grid_dirty_hour ------------------------
# grid_balance_hour holds every node's balance for the hours a roll-up computed. An hour is read
# from it only while it is listed in grid_rolled_hour and not in grid_dirty_hour. Every change of
# the leaf sums marks its hour dirty (triggers on grid_leaf_hour, so readings, meters and rebuilds
# all count); a hierarchy change (an import, a deleted node) marks every rolled hour dirty, since
# which meters count where changed for all of them. The roll-up loop in `serve` rolls dirty hours
# up again and clears their marks; until it has, the balance reads those hours live.
_CACHE_TABLES = """
CREATE TABLE grid_rolled_hour (hour BIGINT PRIMARY KEY);
CREATE TABLE grid_dirty_hour (hour BIGINT PRIMARY KEY);
-- the loop prunes stored hours past its retention by hour
CREATE INDEX grid_balance_hour_hour ON grid_balance_hour (hour)"""
_MARK_ALL_LEAF_HOURS = (
    "INSERT INTO grid_dirty_hour (hour) SELECT DISTINCT hour FROM grid_leaf_hour WHERE true"
    " ON CONFLICT (hour) DO NOTHING"
)
# ON CONFLICT DO UPDATE (not DO NOTHING) so the mark's row stays locked until the writer commits:
# a roll-up clearing that mark waits for the commit and then sees the new sums
_MARK_DIRTY = (
    "INSERT INTO grid_dirty_hour (hour) SELECT DISTINCT hour FROM {rows} ORDER BY hour"
    " ON CONFLICT (hour) DO UPDATE SET hour = excluded.hour"
)
POSTGRES_CACHE_MIGRATION = ";\n".join(
    [
        _CACHE_TABLES,
        "CREATE FUNCTION grid_leaf_mark_dirty() RETURNS trigger LANGUAGE plpgsql SET jit = off"
        f" AS $fn$ BEGIN {_MARK_DIRTY.format(rows='leaf_rows')}; RETURN NULL; END $fn$",
    ]
    + [
        f"CREATE TRIGGER grid_leaf_dirty_{event.lower()} AFTER {event} ON grid_leaf_hour"
        f" REFERENCING {side} TABLE AS leaf_rows FOR EACH STATEMENT"
        " EXECUTE FUNCTION grid_leaf_mark_dirty()"
        for event, side in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    ]
    + [_MARK_ALL_LEAF_HOURS]
)
SQLITE_CACHE_MIGRATION = ";\n".join(
    [_CACHE_TABLES]
    + [
        f"CREATE TRIGGER grid_leaf_dirty_{event.lower()} AFTER {event} ON grid_leaf_hour BEGIN"
        f" INSERT INTO grid_dirty_hour (hour) VALUES ({side}.hour)"
        " ON CONFLICT (hour) DO NOTHING; END"
        for event, side in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    ]
    + [_MARK_ALL_LEAF_HOURS]
)

#: a hierarchy change: every rolled hour is rolled up again (then ``DELETE FROM grid_rolled_hour``)
INVALIDATE_ROLLED = (
    "INSERT INTO grid_dirty_hour (hour) SELECT hour FROM grid_rolled_hour WHERE true"
    " ON CONFLICT (hour) DO NOTHING"
)
#: hours of [$1, $2) the stored roll-up answers for
CLEAN_HOURS = """
SELECT r.hour FROM grid_rolled_hour r
WHERE r.hour >= CAST($1 AS BIGINT) AND r.hour < CAST($2 AS BIGINT)
    AND NOT EXISTS (SELECT 1 FROM grid_dirty_hour d WHERE d.hour = r.hour)
ORDER BY r.hour
"""
# the same parameters as BALANCE_SQL: $1 path prefix, $2 one node or NULL, [$3, $4)
STORED_BALANCE_SQL = """
SELECT b.node_id, b.hour, b.input_kwh, b.input_meters, b.input_expected, b.subscribers_kwh,
       b.subscriber_meters, b.subscribers_expected
FROM grid_balance_hour b
JOIN grid_rolled_hour r ON r.hour = b.hour
JOIN grid_node n ON n.id = b.node_id
WHERE b.hour >= CAST($3 AS BIGINT) AND b.hour < CAST($4 AS BIGINT)
    AND (CAST($2 AS TEXT) IS NULL OR b.node_id = CAST($2 AS TEXT))
    AND substr(n.path, 1, length(CAST($1 AS TEXT))) = CAST($1 AS TEXT)
    AND NOT EXISTS (SELECT 1 FROM grid_dirty_hour d WHERE d.hour = b.hour)
"""
#: the dirty hours a roll-up takes on: the newest in [$3, $2) first (what operators look at)
NEWEST_DIRTY = """
SELECT hour FROM grid_dirty_hour WHERE hour < CAST($2 AS BIGINT) AND hour >= CAST($3 AS BIGINT)
ORDER BY hour DESC LIMIT CAST($1 AS BIGINT)
"""
#: stored hours before $1 are no longer kept: dropped with their marks, read live if asked for
PRUNE_ROLLUP = (
    "DELETE FROM grid_balance_hour WHERE hour < $1",
    "DELETE FROM grid_rolled_hour WHERE hour < $1",
    "DELETE FROM grid_dirty_hour WHERE hour < $1",
)
TAKE_DIRTY = f"DELETE FROM grid_dirty_hour WHERE hour IN ({NEWEST_DIRTY}) RETURNING hour"
TAKE_DIRTY_IN = (
    "DELETE FROM grid_dirty_hour WHERE hour >= CAST($1 AS BIGINT) AND hour < CAST($2 AS BIGINT)"
)
