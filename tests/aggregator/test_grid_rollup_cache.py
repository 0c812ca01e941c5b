"""The stored roll-up answers for the hours it holds unchanged; every other hour is read live.

A region's balance over a month is tens of millions of per-house sums live, but a few hundred
stored rows. These tests prove, on both databases, that what the operator sees is always what a
live read would show: a changed reading, a moved flat or a deleted node sends its hours back to
live reads until the roll-up loop has rolled them up again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from balance_aggregator.config import Settings
from balance_aggregator.grid.model import BalanceRow
from balance_aggregator.storage import ReadingRow, Storage, open_storage
from balance_aggregator.storage.grid import balance_row, live_ranges, rollup_stretches
from balance_aggregator.storage.grid_sql import BALANCE_SQL, for_sqlite
from balance_aggregator.storage.postgres import PostgresStorage
from balance_aggregator.storage.sqlite import SqliteStorage
from balance_aggregator.vtn import Vtn
from balance_grid.hierarchy import GridNode, parse_csv

from .conftest import _pg_url
from .test_grid_leaf_sums import _execute
from .test_grid_storage import H0, NETWORK, _network

HOURS = 3
WINDOW = (H0, H0 + HOURS * 3600)


def _key(rows: list[BalanceRow]) -> dict[tuple[str, int], BalanceRow]:
    return {(r.node_id, r.hour): r for r in rows}


async def _live(storage: Storage, prefix: str = "", node: str | None = None) -> list[BalanceRow]:
    """The balance computed from the sums right now, with no stored roll-up involved."""
    if isinstance(storage, PostgresStorage):
        rows = await storage.pool.fetch(BALANCE_SQL, prefix, node, *WINDOW)
        return [balance_row(tuple(r)) for r in rows]
    assert isinstance(storage, SqliteStorage)

    def work(db: sqlite3.Connection) -> list[BalanceRow]:
        return [
            balance_row(tuple(r))
            for r in db.execute(for_sqlite(BALANCE_SQL), (prefix, node, *WINDOW))
        ]

    return await storage.run(work)


async def _assert_as_live(storage: Storage) -> dict[tuple[str, int], BalanceRow]:
    """Every view the page asks for equals the live computation: the whole grid, a subtree, one
    node."""
    grid = storage.grid()
    shown = await grid.balance("", None, *WINDOW)
    assert shown == await _live(storage)
    assert await grid.balance("r1/d1/", None, *WINDOW) == await _live(storage, "r1/d1/")
    assert await grid.balance("r1/d1/s1/h1/", "h1", *WINDOW) == await _live(
        storage, "r1/d1/s1/h1/", "h1"
    )
    return _key(shown)


async def _scribble(storage: Storage, node: str, hour: int) -> None:
    """Write a wrong value into the stored roll-up, so a test can see whether it is read."""
    await _execute(
        storage,
        f"UPDATE grid_balance_hour SET subscribers_kwh = 999 WHERE node_id = '{node}'"
        f" AND hour = {hour}",
    )


async def test_unchanged_hours_come_from_the_stored_rollup(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    live = await _assert_as_live(storage)
    assert await grid.rollup(*WINDOW) > 0
    assert await _assert_as_live(storage) == live
    await _scribble(storage, "h1", H0 + 3600)
    assert _key(await grid.balance("", None, *WINDOW))["h1", H0 + 3600].subscribers_kwh == 999


async def test_a_changed_reading_is_shown_at_once_and_rolled_up_later(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    await grid.rollup(*WINDOW)
    await _scribble(storage, "h1", H0)
    await _scribble(storage, "h1", H0 + 3600)
    # a VEN corrects m1's hour 0: that hour is read live again, the others still stored
    await storage.ingest_readings([ReadingRow("v1", "m1", "electricity", "KWH", H0, 2.5, "r2")])
    shown = _key(await grid.balance("", None, *WINDOW))
    assert shown["h1", H0].subscribers_kwh == 5.5
    assert shown["h1", H0 + 3600].subscribers_kwh == 999
    assert await grid.rollup_pending(100) == 1
    assert await grid.rollup_pending(100) == 0
    shown = _key(await grid.balance("", None, *WINDOW))
    assert shown["h1", H0].subscribers_kwh == 5.5
    assert (await grid.stored_balance("h1", *WINDOW))[0].subscribers_kwh == 5.5


async def test_a_hierarchy_change_sends_every_hour_back_to_live(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    await grid.rollup(*WINDOW)
    for hour in range(H0, WINDOW[1], 3600):
        await _scribble(storage, "h1", hour)
    # flat f1 moves to house h2: every hour's sums and meter counts change
    await grid.import_hierarchy([GridNode("f1", "h2", "flat", "F1")], [])
    shown = await _assert_as_live(storage)
    assert shown["h1", H0].subscribers_kwh == 3.0
    assert await grid.rollup_pending(100) == HOURS
    assert await _assert_as_live(storage) == shown
    # a deleted house: the same
    await grid.rollup(*WINDOW)
    await _scribble(storage, "s1", H0)
    assert await grid.delete_node("h2")
    shown = await _assert_as_live(storage)
    assert shown["s1", H0].subscribers_kwh == 3.0  # h1's m2 alone, m1 went with h2


async def test_an_unchanged_hierarchy_imported_again_keeps_the_stored_balances(
    storage: Storage,
) -> None:
    """A nightly sync of the same hierarchy from the GIS must not send a month back to live."""
    await _network(storage)
    grid = storage.grid()
    await grid.rollup(*WINDOW)
    await _scribble(storage, "h1", H0)
    await grid.import_hierarchy(*parse_csv(NETWORK))
    assert _key(await grid.balance("", None, *WINDOW))["h1", H0].subscribers_kwh == 999
    assert await grid.rollup_pending(100) == 0


async def test_the_newest_dirty_hours_are_rolled_up_first(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    assert await grid.rollup_pending(1) == 1
    await _scribble(storage, "h1", H0 + 2 * 3600)
    await _scribble(storage, "h1", H0)  # no stored row yet: nothing to scribble on
    shown = _key(await grid.balance("", None, *WINDOW))
    assert shown["h1", H0 + 2 * 3600].subscribers_kwh == 999
    assert shown["h1", H0].subscribers_kwh == 5.0
    assert await grid.rollup_pending(100) == HOURS - 1
    stored = await grid.stored_balance("h1", *WINDOW)
    assert [(r.hour, r.subscribers_kwh) for r in stored] == [
        (H0, 5.0),
        (H0 + 3600, 7.0),
        (H0 + 2 * 3600, 999),  # hour 2 was clean: rolled once, kept since
    ]


async def test_hours_past_retention_are_dropped_and_read_live(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    await grid.rollup(*WINDOW)
    await grid.prune_rollup(H0 + 3600)
    assert [r.hour for r in await grid.stored_balance("h1", *WINDOW)] == [H0 + 3600, H0 + 7200]
    await _assert_as_live(storage)
    # a late correction of a dropped hour is shown, and the loop does not roll it up again
    await storage.ingest_readings([ReadingRow("v1", "m1", "electricity", "KWH", H0, 2.5, "r2")])
    assert _key(await grid.balance("", None, *WINDOW))["h1", H0].subscribers_kwh == 5.5
    assert await grid.rollup_pending(100, since=H0 + 3600) == 0
    await _assert_as_live(storage)


def test_live_stretches_between_stored_hours() -> None:
    h = 3600
    assert live_ranges(0, 10 * h, []) == [(0, 10 * h)]
    assert live_ranges(0, 10 * h, [h * i for i in range(10)]) == []
    assert live_ranges(0, 10 * h, [2 * h, 3 * h, 7 * h]) == [
        (0, 2 * h),
        (4 * h, 7 * h),
        (8 * h, 10 * h),
    ]
    # a window that starts inside an hour: that hour is read live
    assert live_ranges(h // 2, 3 * h, [h, 2 * h]) == [(h // 2, h)]
    # many scattered stretches: one live read spans them
    scattered = [2 * i * h for i in range(10)]
    assert live_ranges(0, 20 * h, scattered) == [(h, 20 * h)]
    assert rollup_stretches([8 * h, 0, h, 30 * h]) == [(0, 9 * h), (30 * h, 31 * h)]
    assert rollup_stretches([9 * h, 0]) == [(0, h), (9 * h, 10 * h)]


async def test_serve_rolls_up_in_the_background(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'vtn.db'}")
    # the test's hours are in January: keep them
    settings = Settings(mqtt_host="", grid_rollup_interval_s=0.05, grid_rollup_keep_days=3650)
    vtn = Vtn(settings, storage)
    await vtn.start()
    try:
        await _network(storage)
        for _ in range(200):
            if [r.hour for r in await storage.grid().stored_balance("h1", *WINDOW)] == [
                H0 + i * 3600 for i in range(HOURS)
            ]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the roll-up loop did not roll the new hours up")
        assert await storage.grid().rollup_pending(100) == 0
    finally:
        await vtn.stop()


@pytest.fixture
async def pg_storage() -> AsyncIterator[PostgresStorage]:
    """PostgreSQL alone: SQLite has one writer at a time, nothing is in flight beside a roll-up."""
    storage = PostgresStorage(_pg_url())
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()
        await storage.drop_schema()


async def test_a_rollup_does_not_wait_for_ingest_in_flight(pg_storage: PostgresStorage) -> None:
    """An upload still in its transaction holds its hour's mark; the roll-up skips that hour (it
    stays live) instead of waiting, and takes it once the upload has committed."""
    storage = pg_storage
    await _network(storage)
    grid = storage.grid()
    assert await grid.rollup_pending(100) == HOURS
    # m2's hour 0 corrected and committed: the hour is marked, the mark not yet taken
    await storage.ingest_readings([ReadingRow("v1", "m2", "electricity", "KWH", H0, 3.5, "r2")])
    async with storage.pool.acquire() as conn:
        upload = conn.transaction()
        await upload.start()
        await conn.execute(
            "UPDATE reading SET value = value + 1 WHERE hour = $1"
            " AND meter_id = (SELECT meter_ref FROM grid_meter WHERE id = 'm1')",
            H0,
        )
        # the roll-up neither blocks nor takes the hour the upload holds
        assert await asyncio.wait_for(grid.rollup_pending(100), timeout=10) == 0
        await upload.commit()
    shown = _key(await grid.balance("", None, *WINDOW))
    assert shown["h1", H0].subscribers_kwh == 6.5  # m1 3.0 + m2 3.5, read live
    assert await grid.rollup_pending(100) == 1
    assert (await grid.stored_balance("h1", *WINDOW))[0].subscribers_kwh == 6.5
    assert await _assert_as_live(storage) == shown
