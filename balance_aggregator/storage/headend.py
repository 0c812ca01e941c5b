"""The head-end's storage: concentrators and their leases, inventory, meter positions, VEE counts
and field alarms, in the VTN's own database (migration 5).

The SQL is written once, with PostgreSQL's ``$n`` parameters and a CAST on every parameter whose
type the column does not give (as :mod:`.grid_sql`); each database supplies only a
:class:`SqlRunner`: run a query, or run a list of statements in one transaction.

Hourly values go into the VTN's ``reading`` table under a meter row of their own,
``('dmesh', 'SSSSSSSS/c', kind)`` (module serial in hex, channel), so a grid meter mapped to that
name in the hierarchy file takes them into the per-house sums and balances, and a VEN's report of
the same flat (another meter row) never adds to them. A head-end value is written once per
meter-hour: a second write of the same hour changes nothing (``ON CONFLICT DO NOTHING``), except
that a measured value replaces an estimate.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .grid_sql import for_sqlite

HEADEND_VEN = "dmesh"
"""The ``ven_id`` of every meter row the head-end writes."""
MEASURED = "dmesh:"
"""``report_id`` prefix of a value the network delivered."""
ESTIMATED = "estimate:"
"""``report_id`` prefix of a value estimated on an operator's request."""


def meter_name(module: int, channel: int) -> str:
    """The resource name of a head-end meter: ``1000010A/0``."""
    return f"{module:08X}/{channel}"


class LeaseLost(Exception):
    """This process no longer holds the concentrator's lease: its writes were refused."""


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement of a transaction, run once per row of ``rows``."""

    sql: str
    rows: Sequence[Sequence[object]] = ((),)
    #: the transaction is rolled back with LeaseLost unless this statement changed a row
    fence: bool = False


class SqlRunner(Protocol):
    """What the head-end store needs of a database."""

    async def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]: ...

    async def write(self, statements: Sequence[Stmt], hours: Sequence[int] = ()) -> None:
        """All statements in one transaction; ``hours`` (epoch seconds) are reading hours the
        transaction writes (PostgreSQL creates their month partitions first)."""


@dataclass(frozen=True, slots=True)
class Concentrator:
    id: str
    url: str
    node_id: str | None
    created_at: float
    since_hour: int
    serial: int | None = None
    firmware: str | None = None
    state: str = "new"
    last_seen: float | None = None
    lease_owner: str | None = None
    lease_until: float = 0.0


@dataclass(frozen=True, slots=True)
class ModuleRow:
    serial: int
    module_type: int
    firmware: int
    hop: int
    online: bool


@dataclass(frozen=True, slots=True)
class MeterRow:
    """A pulse channel the head-end collects, with the hour its counters have reached."""

    module_serial: int
    channel: int
    kind: str
    unit: str
    pulses_per_unit: float
    max_per_hour: float
    initial_hour: int | None = None
    initial_counter: int | None = None
    #: the last whole hour whose counter is applied (hour index); hours before it are stored
    counter_hour: int | None = None
    counter: int | None = None
    live_ts: int | None = None
    live_counter: int | None = None
    concentrator_id: str = ""
    grid_meter_id: str | None = None


@dataclass(frozen=True, slots=True)
class HourValue:
    """One meter-hour the head-end stores: ``hour`` is the hour index (seconds // 3600)."""

    module_serial: int
    channel: int
    kind: str
    hour: int
    value: float


@dataclass(frozen=True, slots=True)
class Position:
    """Where a meter's counters stand after a batch (written with the batch's values)."""

    module_serial: int
    channel: int
    counter_hour: int
    counter: int
    initial_hour: int
    initial_counter: int


@dataclass(frozen=True, slots=True)
class VeeFinding:
    """A reading the head-end refused or flagged; ``channel`` -1 is the module itself."""

    module_serial: int
    channel: int
    rule: str
    detail: str
    at: float


@dataclass(frozen=True, slots=True)
class VeeCount:
    concentrator_id: str
    module_serial: int
    channel: int
    rule: str
    count: int
    first_at: float
    last_at: float
    last_detail: str


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """Raise (``raised`` True) or clear one field alarm."""

    module_serial: int
    channel: int
    kind: str
    raised: bool
    at: float
    severity: str = "warning"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FieldAlarm:
    id: int
    concentrator_id: str
    module_serial: int
    channel: int
    kind: str
    severity: str
    since: float
    cleared: float | None
    detail: str


@dataclass(slots=True)
class Batch:
    """What one turn of a worker writes, in one transaction fenced by its lease."""

    values: list[HourValue] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    findings: list[VeeFinding] = field(default_factory=list)
    alarms: list[AlarmChange] = field(default_factory=list)
    live: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(module, channel, timestamp, counter) of the last accepted live value."""
    heard: list[tuple[int, float]] = field(default_factory=list)
    """(module, time) a module was last heard."""

    def __bool__(self) -> bool:
        return bool(
            self.values or self.positions or self.findings or self.alarms or self.live or self.heard
        )


@dataclass(frozen=True, slots=True)
class StoredHour:
    hour: int  # epoch seconds
    value: float
    estimated: bool
    report_id: str


CONCENTRATOR_COLUMNS = (
    "id, url, node_id, created_at, since_hour, serial, firmware, state, last_seen,"
    " lease_owner, lease_until"
)


def _concentrator(row: Sequence[object]) -> Concentrator:
    def opt_int(v: object) -> int | None:
        return None if v is None else int(str(v))

    def opt_float(v: object) -> float | None:
        return None if v is None else float(str(v))

    return Concentrator(
        id=str(row[0]),
        url=str(row[1]),
        node_id=None if row[2] is None else str(row[2]),
        created_at=float(str(row[3])),
        since_hour=int(str(row[4])),
        serial=opt_int(row[5]),
        firmware=None if row[6] is None else str(row[6]),
        state=str(row[7]),
        last_seen=opt_float(row[8]),
        lease_owner=None if row[9] is None else str(row[9]),
        lease_until=float(str(row[10])),
    )


def _opt_int(v: object) -> int | None:
    return None if v is None else int(str(v))


class HeadendStore(abc.ABC):
    """Every method is one transaction."""

    # --- concentrators ----------------------------------------------------------------------
    @abc.abstractmethod
    async def add_concentrator(self, c: Concentrator) -> bool:
        """False if the name or the URL is taken."""

    @abc.abstractmethod
    async def remove_concentrator(self, concentrator_id: str) -> bool: ...

    @abc.abstractmethod
    async def get_concentrator(self, concentrator_id: str) -> Concentrator | None: ...

    @abc.abstractmethod
    async def list_concentrators(self) -> list[Concentrator]: ...

    # --- leases -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def heartbeat(self, process: str, now: float) -> None: ...

    @abc.abstractmethod
    async def live_processes(self, now: float, ttl: float) -> list[str]: ...

    @abc.abstractmethod
    async def claim(self, process: str, now: float, ttl: float, limit: int) -> list[str]:
        """Take up to ``limit`` concentrators whose lease is free or expired; their ids."""

    @abc.abstractmethod
    async def renew(self, process: str, now: float, ttl: float) -> list[str]:
        """Extend every lease this process still holds; the ids it holds."""

    @abc.abstractmethod
    async def release(self, process: str, concentrator_ids: Sequence[str] | None = None) -> None:
        """Give leases back (all of this process's for None) so others take them at once."""

    # --- inventory --------------------------------------------------------------------------
    @abc.abstractmethod
    async def sync_inventory(
        self,
        *,
        process: str,
        concentrator_id: str,
        serial: int,
        firmware: str,
        modules: Sequence[ModuleRow],
        meters: Sequence[MeterRow],
        now: float,
    ) -> None:
        """Record the modules and pulse meters the concentrator reports (meter rows made for
        new ones; the counter positions of known ones kept)."""

    @abc.abstractmethod
    async def list_modules(self, concentrator_id: str) -> list[ModuleRow]: ...

    @abc.abstractmethod
    async def list_meters(self, concentrator_id: str | None = None) -> list[MeterRow]:
        """Meters with their positions and the grid meter each is mapped to (None: unassigned)."""

    # --- ingest -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def write_batch(
        self, process: str, concentrator_id: str, batch: Batch, now: float
    ) -> None:
        """Values, positions, VEE findings and alarms in one transaction, refused with LeaseLost
        if ``process`` no longer holds the concentrator's lease."""

    @abc.abstractmethod
    async def meter_hours(
        self, module_serial: int, channel: int, start_hour: int, end_hour: int
    ) -> list[StoredHour]:
        """Stored values of hours [start, end) (hour indices), estimates marked."""

    @abc.abstractmethod
    async def write_estimates(self, values: Sequence[HourValue], report_id: str) -> int:
        """Insert estimates for hours that have no value; returns how many were written."""

    @abc.abstractmethod
    async def estimated_hours(self, start: int, end: int) -> list[tuple[str, int]]:
        """(resource name ``SSSSSSSS/c``, hour in epoch seconds) of every head-end value of
        [start, end) (epoch seconds) that is an estimate, not a measurement."""

    # --- VEE and alarms ---------------------------------------------------------------------
    @abc.abstractmethod
    async def vee_counts(self, concentrator_id: str | None = None) -> list[VeeCount]: ...

    @abc.abstractmethod
    async def alarms(
        self,
        *,
        concentrator_id: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        open_only: bool = False,
        limit: int = 500,
    ) -> list[FieldAlarm]: ...

    @abc.abstractmethod
    async def set_alarms(self, concentrator_id: str, changes: Sequence[AlarmChange]) -> None:
        """Raise or clear alarms outside a worker's lease (the lease keeper, the silence check)."""


# --- the one SQL text ----------------------------------------------------------------------------
_FENCE = (
    "UPDATE concentrator SET last_seen = CAST($3 AS DOUBLE PRECISION)"
    " WHERE id = CAST($1 AS TEXT) AND lease_owner = CAST($2 AS TEXT)"
    " AND lease_until > CAST($3 AS DOUBLE PRECISION)"
)
# A measured value is stored once per meter-hour; it replaces an estimate, nothing else.
_VALUE = (
    "INSERT INTO reading (meter_id, hour, value, report_id)"
    " SELECT m.id, CAST($3 AS BIGINT), CAST($4 AS DOUBLE PRECISION), CAST($5 AS TEXT)"
    " FROM meter m WHERE m.ven_id = 'dmesh' AND m.resource_name = CAST($1 AS TEXT)"
    " AND m.kind = CAST($2 AS TEXT)"
    " ON CONFLICT (meter_id, hour) DO UPDATE SET value = excluded.value,"
    " report_id = excluded.report_id WHERE reading.report_id LIKE 'estimate:%'"
)
_ESTIMATE = (
    "INSERT INTO reading (meter_id, hour, value, report_id)"
    " SELECT m.id, CAST($3 AS BIGINT), CAST($4 AS DOUBLE PRECISION), CAST($5 AS TEXT)"
    " FROM meter m WHERE m.ven_id = 'dmesh' AND m.resource_name = CAST($1 AS TEXT)"
    " AND m.kind = CAST($2 AS TEXT)"
    " ON CONFLICT (meter_id, hour) DO NOTHING"
)
_POSITION = (
    "UPDATE headend_meter SET counter_hour = CAST($3 AS BIGINT), counter = CAST($4 AS BIGINT),"
    " initial_hour = coalesce(initial_hour, CAST($5 AS BIGINT)),"
    " initial_counter = coalesce(initial_counter, CAST($6 AS BIGINT))"
    " WHERE module_serial = CAST($1 AS BIGINT) AND channel = CAST($2 AS INTEGER)"
    " AND (counter_hour IS NULL OR counter_hour <= CAST($3 AS BIGINT))"
)
_LIVE = (
    "UPDATE headend_meter SET live_ts = CAST($3 AS BIGINT), live_counter = CAST($4 AS BIGINT)"
    " WHERE module_serial = CAST($1 AS BIGINT) AND channel = CAST($2 AS INTEGER)"
    " AND (live_ts IS NULL OR live_ts <= CAST($3 AS BIGINT))"
)
_HEARD = (
    "UPDATE headend_module SET last_heard = CAST($2 AS DOUBLE PRECISION)"
    " WHERE serial = CAST($1 AS BIGINT)"
)
_VEE = (
    "INSERT INTO headend_vee AS v (module_serial, channel, rule, concentrator_id, count,"
    " first_at, last_at, last_detail) VALUES (CAST($1 AS BIGINT), CAST($2 AS INTEGER),"
    " CAST($3 AS TEXT), CAST($4 AS TEXT), 1, CAST($5 AS DOUBLE PRECISION),"
    " CAST($5 AS DOUBLE PRECISION), CAST($6 AS TEXT))"
    " ON CONFLICT (module_serial, channel, rule) DO UPDATE SET count = v.count + 1,"
    " last_at = excluded.last_at, last_detail = excluded.last_detail,"
    " concentrator_id = excluded.concentrator_id"
)
_RAISE = (
    "INSERT INTO field_alarm (concentrator_id, module_serial, channel, kind, severity, since,"
    " cleared, detail) VALUES (CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS INTEGER),"
    " CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS DOUBLE PRECISION), NULL, CAST($7 AS TEXT))"
    " ON CONFLICT (concentrator_id, module_serial, channel, kind) WHERE cleared IS NULL"
    " DO NOTHING"
)
_CLEAR = (
    "UPDATE field_alarm SET cleared = CAST($5 AS DOUBLE PRECISION)"
    " WHERE concentrator_id = CAST($1 AS TEXT) AND module_serial = CAST($2 AS BIGINT)"
    " AND channel = CAST($3 AS INTEGER) AND kind = CAST($4 AS TEXT) AND cleared IS NULL"
)
_METERS = (
    "SELECT hm.module_serial, hm.channel, hm.kind, hm.unit, hm.pulses_per_unit,"
    " hm.max_per_hour, hm.initial_hour, hm.initial_counter, hm.counter_hour, hm.counter,"
    " hm.live_ts, hm.live_counter, mo.concentrator_id, gm.id"
    " FROM headend_meter hm JOIN headend_module mo ON mo.serial = hm.module_serial"
    " LEFT JOIN grid_meter gm ON gm.meter_ref = hm.meter_ref"
)


class SqlHeadendStore(HeadendStore):
    """The head-end store over any database that provides a :class:`SqlRunner`."""

    def __init__(self, runner: SqlRunner, *, sqlite: bool) -> None:
        self._runner = runner
        self._sqlite = sqlite

    def _sql(self, sql: str) -> str:
        if self._sqlite:
            return for_sqlite(sql).replace("DOUBLE PRECISION", "REAL")
        return sql

    async def _q(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return await self._runner.query(self._sql(sql), args)

    async def _w(self, statements: Sequence[Stmt], hours: Sequence[int] = ()) -> None:
        await self._runner.write(
            [Stmt(self._sql(s.sql), s.rows, s.fence) for s in statements if s.rows], hours
        )

    # --- concentrators ----------------------------------------------------------------------
    async def add_concentrator(self, c: Concentrator) -> bool:
        taken = await self._q(
            "SELECT 1 FROM concentrator WHERE id = CAST($1 AS TEXT) OR url = CAST($2 AS TEXT)",
            c.id,
            c.url,
        )
        if taken:
            return False
        await self._w(
            [
                Stmt(
                    f"INSERT INTO concentrator ({CONCENTRATOR_COLUMNS}) VALUES (CAST($1 AS TEXT),"
                    " CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS DOUBLE PRECISION),"
                    " CAST($5 AS BIGINT), NULL, NULL, 'new', NULL, NULL, 0)",
                    [(c.id, c.url, c.node_id, c.created_at, c.since_hour)],
                )
            ]
        )
        return True

    async def remove_concentrator(self, concentrator_id: str) -> bool:
        if await self.get_concentrator(concentrator_id) is None:
            return False
        await self._w(
            [
                Stmt(
                    "DELETE FROM headend_meter WHERE module_serial IN (SELECT serial FROM"
                    " headend_module WHERE concentrator_id = CAST($1 AS TEXT))",
                    [(concentrator_id,)],
                ),
                Stmt(
                    "DELETE FROM headend_module WHERE concentrator_id = CAST($1 AS TEXT)",
                    [(concentrator_id,)],
                ),
                Stmt("DELETE FROM concentrator WHERE id = CAST($1 AS TEXT)", [(concentrator_id,)]),
            ]
        )
        return True

    async def get_concentrator(self, concentrator_id: str) -> Concentrator | None:
        rows = await self._q(
            f"SELECT {CONCENTRATOR_COLUMNS} FROM concentrator WHERE id = CAST($1 AS TEXT)",
            concentrator_id,
        )
        return _concentrator(rows[0]) if rows else None

    async def list_concentrators(self) -> list[Concentrator]:
        rows = await self._q(f"SELECT {CONCENTRATOR_COLUMNS} FROM concentrator ORDER BY id")
        return [_concentrator(r) for r in rows]

    # --- leases -----------------------------------------------------------------------------
    async def heartbeat(self, process: str, now: float) -> None:
        await self._w(
            [
                Stmt(
                    "INSERT INTO headend_process (id, started_at, heartbeat) VALUES"
                    " (CAST($1 AS TEXT), CAST($2 AS DOUBLE PRECISION), CAST($2 AS DOUBLE"
                    " PRECISION)) ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat",
                    [(process, now)],
                )
            ]
        )

    async def live_processes(self, now: float, ttl: float) -> list[str]:
        rows = await self._q(
            "SELECT id FROM headend_process WHERE heartbeat > CAST($1 AS DOUBLE PRECISION)"
            " ORDER BY id",
            now - ttl,
        )
        return [str(r[0]) for r in rows]

    async def claim(self, process: str, now: float, ttl: float, limit: int) -> list[str]:
        if limit <= 0:
            return []
        # one UPDATE with a conditional WHERE: two processes claiming at once cannot both win a
        # row (the second sees the first's lease_until once the row lock is released)
        free = await self._q(
            "SELECT id FROM concentrator WHERE lease_until <= CAST($1 AS DOUBLE PRECISION)"
            " OR lease_owner IS NULL ORDER BY id LIMIT CAST($2 AS BIGINT)",
            now,
            limit,
        )
        won: list[str] = []
        for (cid,) in free:
            try:
                await self._w(
                    [
                        Stmt(
                            "UPDATE concentrator SET lease_owner = CAST($2 AS TEXT),"
                            " lease_until = CAST($3 AS DOUBLE PRECISION)"
                            " WHERE id = CAST($1 AS TEXT)"
                            " AND (lease_until <= CAST($4 AS DOUBLE PRECISION)"
                            " OR lease_owner IS NULL)",
                            [(str(cid), process, now + ttl, now)],
                            fence=True,
                        )
                    ]
                )
            except LeaseLost:
                continue
            won.append(str(cid))
        return won

    async def renew(self, process: str, now: float, ttl: float) -> list[str]:
        await self._w(
            [
                Stmt(
                    "UPDATE concentrator SET lease_until = CAST($2 AS DOUBLE PRECISION)"
                    " WHERE lease_owner = CAST($1 AS TEXT)"
                    " AND lease_until > CAST($3 AS DOUBLE PRECISION)",
                    [(process, now + ttl, now)],
                )
            ]
        )
        rows = await self._q(
            "SELECT id FROM concentrator WHERE lease_owner = CAST($1 AS TEXT)"
            " AND lease_until > CAST($2 AS DOUBLE PRECISION) ORDER BY id",
            process,
            now,
        )
        return [str(r[0]) for r in rows]

    async def release(self, process: str, concentrator_ids: Sequence[str] | None = None) -> None:
        if concentrator_ids is None:
            stmts = [
                Stmt(
                    "UPDATE concentrator SET lease_owner = NULL, lease_until = 0"
                    " WHERE lease_owner = CAST($1 AS TEXT)",
                    [(process,)],
                ),
                Stmt("DELETE FROM headend_process WHERE id = CAST($1 AS TEXT)", [(process,)]),
            ]
        else:
            stmts = [
                Stmt(
                    "UPDATE concentrator SET lease_owner = NULL, lease_until = 0"
                    " WHERE lease_owner = CAST($1 AS TEXT) AND id = CAST($2 AS TEXT)",
                    [(process, c) for c in concentrator_ids],
                )
            ]
        await self._w(stmts)

    # --- inventory --------------------------------------------------------------------------
    async def sync_inventory(
        self,
        *,
        process: str,
        concentrator_id: str,
        serial: int,
        firmware: str,
        modules: Sequence[ModuleRow],
        meters: Sequence[MeterRow],
        now: float,
    ) -> None:
        await self._w(
            [
                Stmt(_FENCE, [(concentrator_id, process, now)], fence=True),
                Stmt(
                    "UPDATE concentrator SET serial = CAST($2 AS BIGINT),"
                    " firmware = CAST($3 AS TEXT), state = 'connected' WHERE id = CAST($1 AS TEXT)",
                    [(concentrator_id, serial, firmware)],
                ),
                Stmt(
                    "INSERT INTO headend_module (serial, concentrator_id, module_type, firmware,"
                    " hop, online, last_heard) VALUES (CAST($1 AS BIGINT), CAST($2 AS TEXT),"
                    " CAST($3 AS INTEGER), CAST($4 AS INTEGER), CAST($5 AS INTEGER),"
                    " CAST($6 AS INTEGER), NULL) ON CONFLICT (serial) DO UPDATE SET"
                    " concentrator_id = excluded.concentrator_id,"
                    " module_type = excluded.module_type, firmware = excluded.firmware,"
                    " hop = excluded.hop, online = excluded.online",
                    [
                        (m.serial, concentrator_id, m.module_type, m.firmware, m.hop, int(m.online))
                        for m in modules
                    ],
                ),
                Stmt(
                    "INSERT INTO meter (ven_id, resource_name, kind, unit) VALUES ('dmesh',"
                    " CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT))"
                    " ON CONFLICT (ven_id, resource_name, kind) DO NOTHING",
                    [(meter_name(m.module_serial, m.channel), m.kind, m.unit) for m in meters],
                ),
                # the installer's constant may change (a wrong hint fixed); the position stays
                Stmt(
                    "INSERT INTO headend_meter (module_serial, channel, kind, unit,"
                    " pulses_per_unit, max_per_hour, meter_ref) SELECT CAST($1 AS BIGINT),"
                    " CAST($2 AS INTEGER), CAST($3 AS TEXT), CAST($4 AS TEXT),"
                    " CAST($5 AS DOUBLE PRECISION), CAST($6 AS DOUBLE PRECISION), m.id"
                    " FROM meter m WHERE m.ven_id = 'dmesh' AND m.resource_name = CAST($7 AS TEXT)"
                    " AND m.kind = CAST($3 AS TEXT)"
                    " ON CONFLICT (module_serial, channel) DO UPDATE SET"
                    " pulses_per_unit = excluded.pulses_per_unit,"
                    " max_per_hour = excluded.max_per_hour",
                    [
                        (
                            m.module_serial,
                            m.channel,
                            m.kind,
                            m.unit,
                            m.pulses_per_unit,
                            m.max_per_hour,
                            meter_name(m.module_serial, m.channel),
                        )
                        for m in meters
                    ],
                ),
            ]
        )

    async def list_modules(self, concentrator_id: str) -> list[ModuleRow]:
        rows = await self._q(
            "SELECT serial, module_type, firmware, hop, online FROM headend_module"
            " WHERE concentrator_id = CAST($1 AS TEXT) ORDER BY serial",
            concentrator_id,
        )
        return [
            ModuleRow(int(str(r[0])), int(str(r[1])), int(str(r[2])), int(str(r[3])), bool(r[4]))
            for r in rows
        ]

    async def list_meters(self, concentrator_id: str | None = None) -> list[MeterRow]:
        if concentrator_id is None:
            rows = await self._q(_METERS + " ORDER BY hm.module_serial, hm.channel")
        else:
            rows = await self._q(
                _METERS + " WHERE mo.concentrator_id = CAST($1 AS TEXT)"
                " ORDER BY hm.module_serial, hm.channel",
                concentrator_id,
            )
        return [
            MeterRow(
                module_serial=int(str(r[0])),
                channel=int(str(r[1])),
                kind=str(r[2]),
                unit=str(r[3]),
                pulses_per_unit=float(str(r[4])),
                max_per_hour=float(str(r[5])),
                initial_hour=_opt_int(r[6]),
                initial_counter=_opt_int(r[7]),
                counter_hour=_opt_int(r[8]),
                counter=_opt_int(r[9]),
                live_ts=_opt_int(r[10]),
                live_counter=_opt_int(r[11]),
                concentrator_id=str(r[12]),
                grid_meter_id=None if r[13] is None else str(r[13]),
            )
            for r in rows
        ]

    # --- ingest -----------------------------------------------------------------------------
    @staticmethod
    def _alarm_statements(concentrator_id: str, changes: Sequence[AlarmChange]) -> list[Stmt]:
        raised = [c for c in changes if c.raised]
        cleared = [c for c in changes if not c.raised]
        return [
            Stmt(
                _CLEAR,
                [(concentrator_id, c.module_serial, c.channel, c.kind, c.at) for c in cleared],
            ),
            Stmt(
                _RAISE,
                [
                    (
                        concentrator_id,
                        c.module_serial,
                        c.channel,
                        c.kind,
                        c.severity,
                        c.at,
                        c.detail,
                    )
                    for c in raised
                ],
            ),
        ]

    async def write_batch(
        self, process: str, concentrator_id: str, batch: Batch, now: float
    ) -> None:
        report_id = f"{MEASURED}{concentrator_id}"
        await self._w(
            [
                Stmt(_FENCE, [(concentrator_id, process, now)], fence=True),
                Stmt(
                    _VALUE,
                    [
                        (
                            meter_name(v.module_serial, v.channel),
                            v.kind,
                            v.hour * 3600,
                            v.value,
                            report_id,
                        )
                        for v in batch.values
                    ],
                ),
                Stmt(
                    _POSITION,
                    [
                        (
                            p.module_serial,
                            p.channel,
                            p.counter_hour,
                            p.counter,
                            p.initial_hour,
                            p.initial_counter,
                        )
                        for p in batch.positions
                    ],
                ),
                Stmt(_LIVE, batch.live),
                Stmt(_HEARD, batch.heard),
                Stmt(
                    _VEE,
                    [
                        (f.module_serial, f.channel, f.rule, concentrator_id, f.at, f.detail)
                        for f in batch.findings
                    ],
                ),
                *self._alarm_statements(concentrator_id, batch.alarms),
            ],
            hours=sorted({v.hour * 3600 for v in batch.values}),
        )

    async def meter_hours(
        self, module_serial: int, channel: int, start_hour: int, end_hour: int
    ) -> list[StoredHour]:
        rows = await self._q(
            "SELECT r.hour, r.value, r.report_id FROM reading r JOIN headend_meter hm"
            " ON hm.meter_ref = r.meter_id WHERE hm.module_serial = CAST($1 AS BIGINT)"
            " AND hm.channel = CAST($2 AS INTEGER) AND r.hour >= CAST($3 AS BIGINT)"
            " AND r.hour < CAST($4 AS BIGINT) ORDER BY r.hour",
            module_serial,
            channel,
            start_hour * 3600,
            end_hour * 3600,
        )
        return [
            StoredHour(int(str(r[0])), float(str(r[1])), str(r[2]).startswith(ESTIMATED), str(r[2]))
            for r in rows
        ]

    async def write_estimates(self, values: Sequence[HourValue], report_id: str) -> int:
        if not values:
            return 0
        before = await self._count_estimates(report_id)
        await self._w(
            [
                Stmt(
                    _ESTIMATE,
                    [
                        (
                            meter_name(v.module_serial, v.channel),
                            v.kind,
                            v.hour * 3600,
                            v.value,
                            report_id,
                        )
                        for v in values
                    ],
                )
            ],
            hours=sorted({v.hour * 3600 for v in values}),
        )
        return await self._count_estimates(report_id) - before

    async def estimated_hours(self, start: int, end: int) -> list[tuple[str, int]]:
        rows = await self._q(
            "SELECT m.resource_name, r.hour FROM reading r JOIN meter m ON m.id = r.meter_id"
            " WHERE m.ven_id = 'dmesh' AND r.hour >= CAST($1 AS BIGINT)"
            " AND r.hour < CAST($2 AS BIGINT) AND r.report_id LIKE 'estimate:%'"
            " ORDER BY m.resource_name, r.hour",
            start,
            end,
        )
        return [(str(r[0]), int(str(r[1]))) for r in rows]

    async def _count_estimates(self, report_id: str) -> int:
        rows = await self._q(
            "SELECT count(*) FROM reading WHERE report_id = CAST($1 AS TEXT)", report_id
        )
        return int(str(rows[0][0]))

    # --- VEE and alarms ---------------------------------------------------------------------
    async def vee_counts(self, concentrator_id: str | None = None) -> list[VeeCount]:
        sql = (
            "SELECT concentrator_id, module_serial, channel, rule, count, first_at, last_at,"
            " last_detail FROM headend_vee"
        )
        if concentrator_id is None:
            rows = await self._q(sql + " ORDER BY module_serial, channel, rule")
        else:
            rows = await self._q(
                sql + " WHERE concentrator_id = CAST($1 AS TEXT)"
                " ORDER BY module_serial, channel, rule",
                concentrator_id,
            )
        return [
            VeeCount(
                str(r[0]),
                int(str(r[1])),
                int(str(r[2])),
                str(r[3]),
                int(str(r[4])),
                float(str(r[5])),
                float(str(r[6])),
                str(r[7]),
            )
            for r in rows
        ]

    async def alarms(
        self,
        *,
        concentrator_id: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        open_only: bool = False,
        limit: int = 500,
    ) -> list[FieldAlarm]:
        rows = await self._q(
            "SELECT id, concentrator_id, module_serial, channel, kind, severity, since, cleared,"
            " detail FROM field_alarm"
            " WHERE (CAST($1 AS TEXT) IS NULL OR concentrator_id = CAST($1 AS TEXT))"
            " AND (CAST($2 AS TEXT) IS NULL OR kind = CAST($2 AS TEXT))"
            " AND (CAST($3 AS TEXT) IS NULL OR severity = CAST($3 AS TEXT))"
            " AND (CAST($4 AS INTEGER) = 0 OR cleared IS NULL)"
            " ORDER BY since DESC, id DESC LIMIT CAST($5 AS BIGINT)",
            concentrator_id,
            kind,
            severity,
            int(open_only),
            limit,
        )
        return [
            FieldAlarm(
                int(str(r[0])),
                str(r[1]),
                int(str(r[2])),
                int(str(r[3])),
                str(r[4]),
                str(r[5]),
                float(str(r[6])),
                None if r[7] is None else float(str(r[7])),
                str(r[8]),
            )
            for r in rows
        ]

    async def set_alarms(self, concentrator_id: str, changes: Sequence[AlarmChange]) -> None:
        await self._w(self._alarm_statements(concentrator_id, changes))
