"""SQL of the grid: the migration and the set-based balance roll-up, one text for both databases.

Statements are written with PostgreSQL's ``$n`` parameters and every parameter is CAST, so the
same text runs on SQLite after ``$n`` becomes ``?n`` (SQLite's numbered parameters).
"""

from __future__ import annotations

import re

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
# Why it is fast on millions of meters: readings are aggregated once, straight to the meter's
# house (a flat's parent), so the big join produces (houses x hours) rows; only those few rows are
# fanned out to the ancestors, over a closure of the non-flat nodes built by a recursive CTE.
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
leaf AS (
    SELECT gm.rnode, gm.is_input, r.hour, sum(r.value) AS kwh, count(*) AS n
    -- the meters again, not the gmeter CTE: a CTE scan hides their count from the planner and
    -- cannot be read by parallel workers
    FROM reading r JOIN (
{gmeter}
    ) gm ON gm.mid = r.meter_id
    WHERE r.hour >= CAST($3 AS BIGINT) AND r.hour < CAST($4 AS BIGINT)
    GROUP BY gm.rnode, gm.is_input, r.hour
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
    gmeter=_GMETER.format(
        meter_scope=" JOIN grid_node n ON n.id = gm.node_id"
        " WHERE substr(n.path, 1, length(CAST($1 AS TEXT))) = CAST($1 AS TEXT)"
    ),
)
# $1 is unused there but kept, so both statements take the same parameters
_WHOLE = _BALANCE.format(
    node_scope=" AND CAST($1 AS TEXT) = ''", gmeter=_GMETER.format(meter_scope="")
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

METER_READINGS_SQL = """
SELECT gm.id, r.hour, r.value
FROM grid_meter gm
JOIN grid_node n ON n.id = gm.node_id
JOIN reading r ON r.meter_id = gm.meter_ref
WHERE substr(n.path, 1, length(CAST($1 AS TEXT))) = CAST($1 AS TEXT)
    AND r.hour >= CAST($2 AS BIGINT) AND r.hour < CAST($3 AS BIGINT)
ORDER BY gm.id, r.hour
"""

_PARAM = re.compile(r"\$(\d+)")


def for_sqlite(sql: str) -> str:
    """PostgreSQL's ``$n`` as SQLite's ``?n``; BIGINT casts are harmless there."""
    return _PARAM.sub(r"?\1", sql)


#: a meter's rollup node follows its node (a flat's house); run after every import
REFRESH_ROLLUP_NODE = """
UPDATE grid_meter SET rollup_node = {rnode}
FROM grid_node n
WHERE n.id = grid_meter.node_id AND grid_meter.rollup_node <> {rnode}
"""
REFRESH_ROLLUP_NODE = REFRESH_ROLLUP_NODE.format(
    rnode="CASE WHEN n.level = 'flat' THEN coalesce(n.parent_id, n.id) ELSE n.id END"
)
