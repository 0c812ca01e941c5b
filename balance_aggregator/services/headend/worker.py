"""One concentrator's worker: inventory, live values, backlog catch-up, field alarms.

A worker runs only while its process holds the concentrator's lease (``service.py``), and every
write it makes is fenced by that lease in the same transaction, so a worker that lost its lease
(a paused process, a network split) cannot write after its successor started.

Hourly values come only from the modules' whole-hour counters (``FETCH_BACKLOG``): exact, keyed
by hour, and the meter's position (the last hour applied) moves in the same transaction as the
values. Live values are validated and kept as the current reading; a live value from a new hour
is what tells the worker to fetch the hour that just ended. On every (re)connect and on a
schedule it asks each module for exactly the hours after its position, so after any outage every
meter-hour arrives once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from balance_aggregator.storage.headend import (
    AlarmChange,
    Batch,
    Concentrator,
    HeadendStore,
    LeaseLost,
    MeterRow,
    ModuleRow,
    VeeFinding,
)
from dmesh_lib import (
    CommandError,
    ConcentratorClient,
    ConnectError,
    ConnectionState,
    Event,
)
from dmesh_lib.messages import (
    ChannelFault,
    ChannelKind,
    ChannelStatus,
    MeterReading,
    ModuleAnnounce,
    ModuleHealth,
    ModuleInfo,
    ModuleLeave,
    ModuleType,
    SensorKind,
    SensorReport,
    UnknownFrame,
)
from dmesh_lib.units import DEFAULT_PULSES_PER_UNIT
from dmesh_lib.validation import RejectedValue, Rejection

from .vee import KIND_NAMES, MAX_PER_HOUR, UNITS, apply_backlog, check_live, stuck_registers

log = logging.getLogger("balance_aggregator.headend")

PULSE_MODULES = (ModuleType.D100FC, ModuleType.D100FC_E)
#: VEE rules that flag a reading without refusing it
FLAGS = frozenset({"gap", "stuck_register"})
LOW_BATTERY_PCT = 20
#: sensor kinds that are alarms when 1, with their alarm kind and severity
SENSOR_ALARMS: dict[SensorKind, tuple[str, str]] = {
    SensorKind.FLOOD: ("flood", "critical"),
    SensorKind.GAS: ("gas", "critical"),
    SensorKind.NEUTRAL_FAULT: ("neutral_fault", "critical"),
    SensorKind.ARCING: ("arcing", "critical"),
}
PHASES = (SensorKind.PHASE_L1, SensorKind.PHASE_L2, SensorKind.PHASE_L3)
GUARD_RULES: dict[Rejection, str] = {
    Rejection.UNKNOWN_MODULE: "unknown_module",
    Rejection.NOT_FITTED: "unasked_channel",
    Rejection.BAD_TIMESTAMP: "bad_timestamp",
    Rejection.STALE: "stale",
    Rejection.BACKWARDS: "reverse_run",
    Rejection.TOO_FAST: "spike",
    Rejection.OUT_OF_RANGE: "out_of_range",
    Rejection.UNREQUESTED: "unasked_hours",
    Rejection.CONFLICT: "conflicting_records",
}
"""The field client's own refusals (dmesh_lib's ReadingGuard) under the head-end's VEE rule
names: the guard drops a hostile value before the head-end sees it, and the operator still sees
it counted against the meter."""
TAMPER: dict[ChannelFault, str] = {
    ChannelFault.WIRE_BREAK: "tamper_wire_break",
    ChannelFault.SHORT_CIRCUIT: "tamper_short_circuit",
    ChannelFault.MAGNET: "tamper_magnet",
}


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    #: backlog requests in flight per concentrator (the link's window is 8 frames)
    fetch_concurrency: int = 8
    #: most hours asked in one request (a page holds 48; 45 days are 1080)
    chunk_hours: int = 168
    #: real seconds between scheduled catch-ups (modules that were unreachable, late hours)
    catchup_s: float = 300.0
    #: real seconds between writes of live values, findings and alarms
    flush_s: float = 1.0
    #: set the concentrator's clock from ours on connect (off for an accelerated simulator)
    sync_time: bool = True
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    #: a module silent this long (concentrator seconds) raises ``module_silent``
    module_silence_s: float = 3 * 3600.0
    #: the host clock the client checks the concentrator's timestamps against (dmesh_lib's
    #: ReadingGuard refuses frames far from it); a simulator's clock in tests and benchmarks
    host_clock: Callable[[], float] = time.time
    #: a counter standing still this many days while its neighbours move is ``stuck_register``
    stuck_days: float = 3.0


ClientFactory = Callable[[str, WorkerSettings], ConcentratorClient]


def default_client(url: str, settings: WorkerSettings) -> ConcentratorClient:
    return ConcentratorClient(
        url,
        sync_time=settings.sync_time,
        reconnect_min=settings.reconnect_min_s,
        reconnect_max=settings.reconnect_max_s,
        clock=settings.host_clock,
    )


def meters_of(info: ModuleInfo) -> list[MeterRow]:
    """The pulse meters a module reports in its inventory, with the installer's constant."""
    if info.module_type not in PULSE_MODULES:
        return []
    out: list[MeterRow] = []
    for channel, ch in enumerate(info.channels):
        if ch.kind is not ChannelKind.PULSE:
            continue
        kind = ch.meter_kind
        ppu = ch.pulses_per_unit or DEFAULT_PULSES_PER_UNIT[kind]
        out.append(
            MeterRow(
                module_serial=info.serial,
                channel=channel,
                kind=KIND_NAMES[kind],
                unit=UNITS[kind],
                pulses_per_unit=float(ppu),
                max_per_hour=MAX_PER_HOUR[kind],
            )
        )
    return out


class ConcentratorWorker:
    """Serves one concentrator for as long as this process holds its lease."""

    def __init__(
        self,
        store: HeadendStore,
        concentrator: Concentrator,
        process_id: str,
        settings: WorkerSettings,
        *,
        client_factory: ClientFactory = default_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.concentrator = concentrator
        self.id = concentrator.id
        self.process_id = process_id
        self.settings = settings
        self.clock = clock
        self.client = client_factory(concentrator.url, settings)
        self.client.guard.on_rejection(self._on_guard_rejection)
        self.meters: dict[tuple[int, int], MeterRow] = {}
        self.known_modules: set[int] = set()
        #: the concentrator's clock as last heard (its status, its modules' frames)
        self.concentrator_time = 0
        self.now_hour = 0
        self.passes = 0
        self.rejected = 0
        self._batch = Batch()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._resync = True
        self._lost: LeaseLost | None = None
        self._last_pass = 0.0
        self._last_heard: dict[int, int] = {}
        self._silent: set[int] = set()
        #: per meter, the first hour of its current run of zero hourly values (None: moving);
        #: what this worker has seen since it started (it keeps no state of its own)
        self._flat_since: dict[tuple[int, int], int | None] = {}
        self._stuck: set[tuple[int, int]] = set()

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> None:
        """Until cancelled or the lease is lost (then LeaseLost is raised)."""
        self.client.subscribe(self._on_event)
        self.client.on_connection_state(self._on_state)
        flusher = asyncio.get_running_loop().create_task(self._flush_forever())
        try:
            await self._connect()
            while True:
                if self._lost is not None:
                    raise self._lost
                await self._connected.wait()
                try:
                    await self.catch_up()
                except (CommandError, ConnectError, OSError) as err:
                    log.info(
                        "catch-up interrupted",
                        extra={"concentrator": self.id, "error": str(err)},
                    )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.catchup_s):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await flusher
            await self.client.close()

    async def _connect(self) -> None:
        delay = self.settings.reconnect_min_s
        while True:
            try:
                await self.client.connect()
                return
            except (ConnectError, OSError) as err:
                log.info(
                    "concentrator unreachable", extra={"concentrator": self.id, "error": str(err)}
                )
                await asyncio.sleep(delay)
                delay = min(self.settings.reconnect_max_s, delay * 2)

    def _on_state(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED:
            self._resync = True
            self._connected.set()
            self._wake.set()
            self._alarm(0, -1, "concentrator_offline", raised=False)
        elif state is ConnectionState.DISCONNECTED:
            self._connected.clear()
            self._alarm(0, -1, "concentrator_offline", raised=True, severity="major")

    # ------------------------------------------------------------------ catch-up
    async def catch_up(self) -> int:
        """Fetch every hour each meter lacks up to the concentrator's current hour; returns the
        meter-hours written (at most once each, whatever was fetched before)."""
        correlation = uuid.uuid4().hex[:12]
        status = await self.client.get_status()
        self._heard_time(status.unix_time)
        if self._resync:
            await self._sync_inventory(correlation)
            self._resync = False
        await self._load_meters()
        now_hour = self.now_hour
        since = self.concentrator.since_hour
        by_module: dict[int, list[MeterRow]] = {}
        for m in self.meters.values():
            by_module.setdefault(m.module_serial, []).append(m)
        wanted = [
            (serial, rows)
            for serial, rows in sorted(by_module.items())
            if serial in self.known_modules
            and min(r.counter_hour if r.counter_hour is not None else since for r in rows)
            < now_hour
        ]
        semaphore = asyncio.Semaphore(self.settings.fetch_concurrency)
        written = 0

        async def one(serial: int, rows: list[MeterRow]) -> Batch:
            async with semaphore:
                return await self._fetch_module(serial, rows, now_hour, correlation)

        pending = [asyncio.ensure_future(one(s, r)) for s, r in wanted]
        try:
            batch = Batch()
            for done in asyncio.as_completed(pending):
                part = await done
                batch.values += part.values
                batch.positions += part.positions
                batch.findings += part.findings
                if len(batch.values) >= 5000:
                    written += await self._write(batch)
                    batch = Batch()
            written += await self._write(batch)
        finally:
            for task in pending:
                task.cancel()
        await self._stuck_check(now_hour)
        self.passes += 1
        self._last_pass = self.clock()
        log.info(
            "catch-up done",
            extra={
                "concentrator": self.id,
                "correlation_id": correlation,
                "modules": len(wanted),
                "meter_hours": written,
                "hour": now_hour,
            },
        )
        return written

    async def _fetch_module(
        self, serial: int, rows: list[MeterRow], now_hour: int, correlation: str
    ) -> Batch:
        since = self.concentrator.since_hour
        batch = Batch()
        first = min(r.counter_hour if r.counter_hour is not None else since for r in rows)
        channels = sorted(r.channel for r in rows)
        state = {r.channel: r for r in rows}
        while first < now_hour:
            last = min(now_hour, first + self.settings.chunk_hours)
            try:
                records = await self.client.fetch_backlog(serial, first, last, channels)
            except CommandError as err:
                log.debug(
                    "backlog not delivered",
                    extra={
                        "concentrator": self.id,
                        "correlation_id": correlation,
                        "module_serial": f"{serial:08X}",
                        "error": str(err),
                    },
                )
                break
            at = self.clock()
            for channel in records:
                if channel not in state:
                    self._finding(
                        batch,
                        serial,
                        channel,
                        "unasked_channel",
                        f"channel {channel} not asked",
                        at=at,
                    )
                    continue
            for channel in channels:
                meter = state[channel]
                outcome = apply_backlog(
                    meter,
                    records.get(channel, []),
                    first_hour=first,
                    last_hour=last,
                    since_hour=since,
                    at=at,
                )
                batch.values += outcome.values
                batch.findings += outcome.findings
                if outcome.position is not None:
                    batch.positions.append(outcome.position)
                    p = outcome.position
                    state[channel] = _moved(meter, p.counter_hour, p.counter)
            reached = min(
                s.counter_hour if s.counter_hour is not None else since for s in state.values()
            )
            if reached <= first:
                break  # the module has nothing newer for us now; try again next pass
            first = reached
        self.rejected += sum(f.rule not in FLAGS for f in batch.findings)
        return batch

    async def _write(self, batch: Batch) -> int:
        if not batch:
            return 0
        await self.store.write_batch(self.process_id, self.id, batch, self.clock())
        for v in sorted(batch.values, key=lambda v: v.hour):
            key = (v.module_serial, v.channel)
            if v.value > 0:
                self._flat_since[key] = None
            elif self._flat_since.get(key) is None:
                self._flat_since[key] = v.hour
        for p in batch.positions:
            key = (p.module_serial, p.channel)
            if key in self.meters:
                self.meters[key] = _moved(self.meters[key], p.counter_hour, p.counter)
        return len(batch.values)

    async def _stuck_check(self, now_hour: int) -> None:
        """Flag counters that stand still while their neighbours move (values still stored)."""
        kinds = {key: m.kind for key, m in self.meters.items()}
        stuck = stuck_registers(
            self._flat_since, kinds, now_hour, int(self.settings.stuck_days * 24)
        )
        at = self.clock()
        batch = Batch()
        for key in sorted(stuck - self._stuck):
            since = self._flat_since.get(key)
            detail = f"no pulse since hour {since} while its neighbours count"
            self._finding(batch, key[0], key[1], "stuck_register", detail, at=at)
            batch.alarms.append(
                AlarmChange(key[0], key[1], "stuck_register", True, at, "warning", detail)
            )
        for key in sorted(self._stuck - stuck):
            batch.alarms.append(AlarmChange(key[0], key[1], "stuck_register", False, at))
        if batch:
            await self.store.write_batch(self.process_id, self.id, batch, at)
        self._stuck = stuck

    async def _sync_inventory(self, correlation: str) -> None:
        modules = list(self.client.modules.values())
        self.known_modules = {m.serial for m in modules}
        identity = self.client.identity
        serial = identity.serial if identity is not None else 0
        firmware = (
            f"{identity.fw_major}.{identity.fw_minor}.{identity.fw_patch}" if identity else ""
        )
        await self.store.sync_inventory(
            process=self.process_id,
            concentrator_id=self.id,
            serial=serial,
            firmware=firmware,
            modules=[
                ModuleRow(m.serial, int(m.module_type), m.firmware, m.hop, m.online)
                for m in modules
            ],
            meters=[meter for m in modules for meter in meters_of(m)],
            now=self.clock(),
        )
        await self._load_meters()
        at = self.clock()
        changes = [
            AlarmChange(
                m.module_serial,
                m.channel,
                "unassigned_meter",
                raised=m.grid_meter_id is None,
                at=at,
                severity="warning",
                detail=f"{m.module_serial:08X}/{m.channel} ({m.kind}) is in no grid meter",
            )
            for m in self.meters.values()
            if m.kind == "electricity"
        ]
        await self.store.set_alarms(self.id, changes)
        log.info(
            "inventory synchronised",
            extra={
                "concentrator": self.id,
                "correlation_id": correlation,
                "modules": len(modules),
                "meters": len(self.meters),
                "unassigned": sum(c.raised for c in changes),
            },
        )

    async def _load_meters(self) -> None:
        rows = await self.store.list_meters(self.id)
        self.meters = {(m.module_serial, m.channel): m for m in rows}

    # ------------------------------------------------------------------ live events
    def _heard_time(self, unix_time: int) -> None:
        if unix_time > self.concentrator_time:
            self.concentrator_time = unix_time
            hour = unix_time // 3600
            if hour > self.now_hour:
                if self.now_hour:
                    self._wake.set()  # an hour ended: fetch it
                self.now_hour = hour

    def _on_guard_rejection(self, rejected: RejectedValue) -> None:
        self.rejected += 1
        channel = rejected.channel if rejected.channel is not None else -1
        detail = rejected.detail or f"{rejected.message} refused by the field client"
        rule = GUARD_RULES.get(rejected.reason, str(rejected.reason))
        self._finding(self._batch, rejected.module, channel, rule, detail, at=self.clock())
        if rejected.reason is Rejection.UNKNOWN_MODULE:
            self._alarm(rejected.module, -1, "unknown_module", raised=True, severity="major")

    def _finding(
        self, batch: Batch, module: int, channel: int, rule: str, detail: str, *, at: float
    ) -> None:
        batch.findings.append(VeeFinding(module, channel, rule, detail, at))
        log.warning(
            "reading refused",
            extra={
                "concentrator": self.id,
                "module_serial": f"{module:08X}",
                "channel": channel,
                "rule": rule,
                "detail": detail,
            },
        )

    def _alarm(
        self,
        module: int,
        channel: int,
        kind: str,
        *,
        raised: bool,
        severity: str = "warning",
        detail: str = "",
    ) -> None:
        self._batch.alarms.append(
            AlarmChange(module, channel, kind, raised, self.clock(), severity, detail)
        )

    def _on_event(self, event: Event) -> None:
        if isinstance(event, UnknownFrame):
            return
        module = getattr(event, "module", None)
        serial = module.serial if isinstance(module, ModuleInfo) else module
        if (
            isinstance(serial, int)
            and not isinstance(event, ModuleAnnounce)
            and self.known_modules
            and serial not in self.known_modules
        ):
            self.rejected += 1
            self._finding(
                self._batch,
                serial,
                -1,
                "unknown_module",
                f"{type(event).__name__} from a module not in the inventory",
                at=self.clock(),
            )
            self._alarm(serial, -1, "unknown_module", raised=True, severity="major")
            return
        match event:
            case MeterReading():
                self._on_reading(event)
            case ChannelStatus():
                self._heard(event.module, event.timestamp)
                for fault, kind in TAMPER.items():
                    self._alarm(
                        event.module,
                        event.channel,
                        kind,
                        raised=bool(event.faults & fault),
                        severity="major",
                    )
            case SensorReport():
                self._heard(event.module, event.timestamp)
                values = dict(event.values)
                for sensor, (kind, severity) in SENSOR_ALARMS.items():
                    if sensor in values:
                        self._alarm(
                            event.module, -1, kind, raised=values[sensor] == 1, severity=severity
                        )
                lost = [p for p in PHASES if values.get(p) == 0]
                if any(p in values for p in PHASES):
                    self._alarm(
                        event.module,
                        -1,
                        "phase_loss",
                        raised=bool(lost),
                        severity="critical",
                        detail=",".join(p.name for p in lost),
                    )
            case ModuleHealth():
                self._heard(event.module, event.timestamp)
                self._alarm(
                    event.module,
                    -1,
                    "low_battery",
                    raised=0 < event.battery_pct < LOW_BATTERY_PCT,
                    detail=f"{event.battery_pct} %",
                )
            case ModuleLeave():
                self._alarm(
                    event.module, -1, "module_silent", raised=True, detail=event.reason.name
                )
            case ModuleAnnounce():
                self.known_modules.add(event.module.serial)
                self._resync = True
                self._alarm(event.module.serial, -1, "module_silent", raised=False)
                self._wake.set()
            case _:
                pass

    def _heard(self, module: int, timestamp: int) -> None:
        self._heard_time(timestamp)
        self._last_heard[module] = timestamp
        if module in self._silent:
            self._silent.discard(module)
            self._alarm(module, -1, "module_silent", raised=False)

    def _on_reading(self, reading: MeterReading) -> None:
        at = self.clock()
        self._heard(reading.module, reading.timestamp)
        for channel, counter in reading.counters:
            meter = self.meters.get((reading.module, channel))
            if meter is None:
                continue  # a channel without a pulse meter
            finding = check_live(meter, reading.timestamp, counter, self.concentrator_time, at)
            if finding is not None:
                self.rejected += 1
                self._finding(
                    self._batch, finding.module_serial, channel, finding.rule, finding.detail, at=at
                )
                continue
            self.meters[(reading.module, channel)] = _live(meter, reading.timestamp, counter)
            self._batch.live.append((reading.module, channel, reading.timestamp, counter))
        self._batch.heard.append((reading.module, at))

    def _silence_check(self) -> None:
        limit = self.concentrator_time - self.settings.module_silence_s
        for module, heard in self._last_heard.items():
            if heard < limit and module not in self._silent:
                self._silent.add(module)
                self._alarm(module, -1, "module_silent", raised=True, detail="silent")

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_s)
            await self.flush()

    async def flush(self) -> None:
        """Write what live events produced (values' positions, findings, alarms)."""
        self._silence_check()
        batch, self._batch = self._batch, Batch()
        if not batch:
            return
        # several live values of one meter in a batch: the newest is enough
        newest: dict[tuple[int, int], tuple[int, int, int, int]] = {}
        for row in batch.live:
            key = (row[0], row[1])
            if key not in newest or newest[key][2] <= row[2]:
                newest[key] = row
        batch.live = list(newest.values())
        heard: dict[int, float] = {}
        for module, when in batch.heard:
            heard[module] = max(when, heard.get(module, 0.0))
        batch.heard = list(heard.items())
        try:
            await self.store.write_batch(self.process_id, self.id, batch, self.clock())
        except LeaseLost as err:
            self._lost = err
            self._wake.set()
            self._connected.set()
            raise


def _moved(meter: MeterRow, hour: int, counter: int) -> MeterRow:
    initial_hour = meter.initial_hour if meter.initial_hour is not None else hour
    initial_counter = meter.initial_counter if meter.initial_counter is not None else counter
    return replace(
        meter,
        counter_hour=hour,
        counter=counter,
        initial_hour=initial_hour,
        initial_counter=initial_counter,
    )


def _live(meter: MeterRow, timestamp: int, counter: int) -> MeterRow:
    return replace(meter, live_ts=timestamp, live_counter=counter)
