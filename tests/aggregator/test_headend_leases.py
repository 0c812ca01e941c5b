"""Head-end processes share the concentrators by leases: one live process per concentrator, a
dead process's concentrators taken over within the lease, every meter-hour once throughout."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from balance_aggregator.services.headend import HeadendService, HeadendSettings, WorkerSettings
from balance_aggregator.storage import Storage
from balance_aggregator.storage.headend import Concentrator

from .headend_harness import HOUR, START, SimStreet, sigkill_run, street

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


@pytest.mark.parametrize("storage_url", ["postgres"], indirect=True)
async def test_sigkill_of_a_headend_process_loses_and_doubles_no_meter_hour(
    storage: Storage, storage_url: str, streets: list[SimStreet]
) -> None:
    await _register(storage, streets)
    run = await sigkill_run(storage, streets, storage_url, SINCE_HOUR, hours_after=2, within=90)
    assert run.expected == 27 * (START_HOUR + 2 - SINCE_HOUR)
    assert (run.gaps, run.duplicates, run.wrong) == (0, 0, 0)
