"""The head-end service: which concentrators this process serves, by PostgreSQL (or SQLite) leases.

Grid eXchange Fabric's shape: workers are stateless (a worker's state is rows of the database,
read when it starts), any number of processes run active-active, and a concentrator is served by
exactly one of them at a time. Each process heartbeats into ``headend_process`` and renews its
leases every ``lease_s / 3``; it claims free or expired concentrators up to its fair share
(concentrators / live processes, rounded up). A process that dies stops renewing: after
``lease_s`` its concentrators are free and the others take them over. A worker's every write is
fenced by its lease, so a process that was only paused cannot write after its successor started,
and values are keyed by meter-hour, so the overlap could not double count anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from balance_aggregator.config import Settings
from balance_aggregator.storage import AuditEntry, Storage
from balance_aggregator.storage.headend import (
    ESTIMATED,
    Concentrator,
    HeadendStore,
    HourValue,
    LeaseLost,
    MeterRow,
)

from .vee import estimate_hours
from .worker import ClientFactory, ConcentratorWorker, WorkerSettings, default_client

log = logging.getLogger("balance_aggregator.headend")


@dataclass(frozen=True, slots=True)
class HeadendSettings:
    #: a concentrator whose process stopped renewing is taken over after this many seconds
    lease_s: float = 15.0
    worker: WorkerSettings = field(default_factory=WorkerSettings)


def settings_of(settings: Settings) -> HeadendSettings:
    """The head-end's settings out of the VTN's (``headend_*``)."""
    return HeadendSettings(
        lease_s=settings.headend_lease_s,
        worker=WorkerSettings(
            fetch_concurrency=settings.headend_fetch_concurrency,
            catchup_s=settings.headend_catchup_s,
            sync_time=settings.headend_sync_time,
        ),
    )


def new_process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class HeadendService:
    """Runs the workers of the concentrators this process holds the lease of."""

    def __init__(
        self,
        storage: Storage,
        settings: HeadendSettings | None = None,
        *,
        process_id: str | None = None,
        client_factory: ClientFactory = default_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.settings = settings or HeadendSettings()
        self.process_id = process_id or new_process_id()
        self.client_factory = client_factory
        self.clock = clock
        self.workers: dict[str, ConcentratorWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._turned = asyncio.Event()

    @property
    def store(self) -> HeadendStore:
        return self.storage.headend()

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(
            self._run(), name=f"headend {self.process_id}"
        )

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await self._stop_workers(list(self._tasks))
        with contextlib.suppress(Exception):
            await self.store.release(self.process_id)

    async def _run(self) -> None:
        while True:
            try:
                await self.turn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "head-end lease turn failed", extra={"headend_process": self.process_id}
                )
            self._turned.set()
            await asyncio.sleep(self.settings.lease_s / 3)

    async def wait_turn(self) -> None:
        """Until the lease loop has completed one more turn (tests)."""
        self._turned.clear()
        await self._turned.wait()

    async def turn(self) -> None:
        """Heartbeat, renew, claim the fair share, start and stop workers accordingly."""
        store, now, ttl = self.store, self.clock(), self.settings.lease_s
        await store.heartbeat(self.process_id, now)
        held = set(await store.renew(self.process_id, now, ttl))
        for cid in [c for c in self._tasks if c not in held or self._tasks[c].done()]:
            await self._stop_workers([cid])
            if cid in held:
                held.discard(cid)
                await store.release(self.process_id, [cid])
        concentrators = {c.id: c for c in await store.list_concentrators()}
        live = await store.live_processes(now, ttl)
        share = math.ceil(len(concentrators) / max(1, len(live)))
        if len(held) < share:
            held |= set(await store.claim(self.process_id, now, ttl, share - len(held)))
        elif len(held) > share:
            # a process joined: hand over the surplus, which it claims on its next turn
            surplus = sorted(held)[share:]
            await self._stop_workers(surplus)
            await store.release(self.process_id, surplus)
            held -= set(surplus)
        for cid in sorted(held):
            if cid not in self._tasks and cid in concentrators:
                self._start_worker(concentrators[cid])
        for cid in [c for c in self._tasks if c not in concentrators]:
            await self._stop_workers([cid])

    def _start_worker(self, concentrator: Concentrator) -> None:
        worker = ConcentratorWorker(
            self.store,
            concentrator,
            self.process_id,
            self.settings.worker,
            client_factory=self.client_factory,
            clock=self.clock,
        )
        self.workers[concentrator.id] = worker
        log.info(
            "serving concentrator",
            extra={"concentrator": concentrator.id, "headend_process": self.process_id},
        )

        async def run() -> None:
            try:
                await worker.run()
            except LeaseLost:
                log.warning(
                    "lease lost, worker stops",
                    extra={"concentrator": concentrator.id, "headend_process": self.process_id},
                )
            except Exception:
                log.exception("worker failed", extra={"concentrator": concentrator.id})

        self._tasks[concentrator.id] = asyncio.get_running_loop().create_task(
            run(), name=f"headend worker {concentrator.id}"
        )

    async def _stop_workers(self, ids: list[str]) -> None:
        for cid in ids:
            task = self._tasks.pop(cid, None)
            self.workers.pop(cid, None)
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def estimate_gaps(
    storage: Storage,
    meter: MeterRow,
    start_hour: int,
    end_hour: int,
    actor: str,
) -> int:
    """Fill the hours of [start, end) that have no value with estimates, marked as such and
    audited; a value the network delivers later replaces the estimate. Returns hours written."""
    store = storage.headend()
    stored = await store.meter_hours(
        meter.module_serial, meter.channel, start_hour - 24 * 7, end_hour + 48
    )
    measured = {s.hour // 3600: s.value for s in stored if not s.estimated}
    have = {s.hour // 3600 for s in stored}
    missing = [h for h in range(start_hour, end_hour) if h not in have]
    values = estimate_hours(missing, measured)
    correlation = uuid.uuid4().hex[:12]
    report_id = f"{ESTIMATED}{correlation}"
    written = await store.write_estimates(
        [
            HourValue(meter.module_serial, meter.channel, meter.kind, h, v)
            for h, v in sorted(values.items())
        ],
        report_id,
    )
    await storage.audit(
        AuditEntry(
            time.time(),
            actor,
            "estimate",
            "headend_meter",
            f"{meter.module_serial:08X}/{meter.channel}",
            {
                "start_hour": start_hour,
                "end_hour": end_hour,
                "hours": written,
                "report_id": report_id,
                "method": "same hour of the previous week, else the nearest measured hours",
            },
        )
    )
    return written
