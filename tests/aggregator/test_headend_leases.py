"""Head-end processes share the concentrators by leases: one live process per concentrator, a
dead process's concentrators taken over within the lease, every meter-hour once throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from balance_aggregator.services.headend import HeadendService, HeadendSettings, WorkerSettings
from balance_aggregator.storage import Storage
from balance_aggregator.storage.headend import Concentrator

from .headend_harness import HOUR, START, SimStreet, street, until

ROOT = Path(__file__).resolve().parents[2]
START_HOUR = int(START // HOUR)
SINCE_HOUR = START_HOUR - 3


@pytest.fixture
async def streets() -> AsyncIterator[list[SimStreet]]:
    found = [street(modules=3, index=i, home=False, consumption=False) for i in range(3)]
    for s in found:
        await s.up()
    yield found
    for s in found:
        await s.down()


async def _register(storage: Storage, streets: list[SimStreet]) -> None:
    for i, s in enumerate(streets):
        assert await storage.headend().add_concentrator(
            Concentrator(f"c{i}", s.url, None, 0.0, SINCE_HOUR)
        )


async def _holders(storage: Storage, now: float) -> dict[str, str | None]:
    return {
        c.id: c.lease_owner if c.lease_until > now else None
        for c in await storage.headend().list_concentrators()
    }


async def test_two_processes_share_and_a_stopped_one_is_taken_over(
    storage: Storage, streets: list[SimStreet]
) -> None:
    await _register(storage, streets)
    now = [100.0]
    settings = HeadendSettings(lease_s=10.0, worker=WorkerSettings(sync_time=False))
    a = HeadendService(storage, settings, process_id="a", clock=lambda: now[0])
    b = HeadendService(storage, settings, process_id="b", clock=lambda: now[0])
    await a.turn()
    assert set((await _holders(storage, now[0])).values()) == {"a"}
    await b.turn()  # b is live now: a's fair share is two of three
    await a.turn()  # a hands one over
    await b.turn()  # b takes it
    holders = await _holders(storage, now[0])
    assert sorted(holders.values()) == ["a", "a", "b"] or sorted(holders.values()) == [
        "a",
        "b",
        "b",
    ]
    assert set(a.workers).isdisjoint(b.workers)
    # a stops renewing (it died): within the lease b holds everything, never before
    await b.stop()
    b = HeadendService(storage, settings, process_id="b", clock=lambda: now[0])
    now[0] += 5
    await b.turn()
    assert "a" in (await _holders(storage, now[0])).values()
    now[0] += 6
    await b.turn()
    assert set((await _holders(storage, now[0])).values()) == {"b"}
    await a.stop()
    await b.stop()


def _headend_process(db: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "BALANCE_VTN_HEADEND_LEASE_S": "3",
        "BALANCE_VTN_HEADEND_SYNC_TIME": "false",
        "BALANCE_VTN_HEADEND_CATCHUP_S": "2",
        "BALANCE_VTN_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "balance_aggregator", "headend", "--db", db],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("storage_url", ["postgres"], indirect=True)
async def test_sigkill_of_a_headend_process_loses_and_doubles_no_meter_hour(
    storage: Storage, storage_url: str, streets: list[SimStreet]
) -> None:
    await _register(storage, streets)
    procs = [_headend_process(storage_url), _headend_process(storage_url)]
    try:

        async def caught_up(hour: int) -> bool:
            meters = await storage.headend().list_meters()
            return len(meters) == 27 and all(m.counter_hour == hour for m in meters)

        async def both_serve() -> bool:
            owners = {c.lease_owner for c in await storage.headend().list_concentrators()}
            return len(owners - {None}) == 2

        await until(lambda: caught_up(START_HOUR), within=60)
        await until(both_serve, within=60)
        victim_pid = procs[0].pid
        owners = {c.lease_owner for c in await storage.headend().list_concentrators()}
        victim = next(o for o in owners if o and f":{victim_pid}:" in o)
        os.kill(victim_pid, signal.SIGKILL)
        procs[0].wait()
        for hour in (1, 2):
            for s in streets:
                s.set_time(START + hour * HOUR)

        async def taken_over() -> bool:
            owners = {c.lease_owner for c in await storage.headend().list_concentrators()}
            return victim not in owners

        await until(taken_over, within=60)
        await until(lambda: caught_up(START_HOUR + 2), within=90)
        for i, s in enumerate(streets):
            for serial in s.meter_serials():
                for ch in range(3):
                    rows = await storage.headend().meter_hours(
                        serial, ch, SINCE_HOUR, START_HOUR + 2
                    )
                    hours = [r.hour // HOUR for r in rows]
                    assert hours == list(range(SINCE_HOUR, START_HOUR + 2)), (i, serial, ch)
                    for r in rows:
                        assert r.value == pytest.approx(s.expected(serial, ch, r.hour // HOUR))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(p.wait, 20)
                except subprocess.TimeoutExpired:
                    p.kill()
