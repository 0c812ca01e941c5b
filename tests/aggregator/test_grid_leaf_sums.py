"""Per-house hourly sums kept at ingest stay exact through every change to readings and meters.

The roll-up and every balance read these sums instead of the readings, so each test compares the
balances before and after the sums are rebuilt from the readings themselves, on both databases.
"""

from __future__ import annotations

import sqlite3

import pytest

from balance_aggregator.grid.model import BalanceRow
from balance_aggregator.storage import ReadingRow, Storage
from balance_aggregator.storage.grid_sql import ALL_HOURS, FEW_READINGS
from balance_aggregator.storage.postgres import PostgresStorage
from balance_aggregator.storage.sqlite import SqliteStorage
from balance_grid.hierarchy import GridMeter, GridNode, parse_csv

from .test_grid_storage import H0, NETWORK, VALUES, VENS, _network

WINDOW = (H0, H0 + 3 * 3600)


async def _balances(storage: Storage) -> dict[tuple[str, int], BalanceRow]:
    return {(r.node_id, r.hour): r for r in await storage.grid().balance("", None, *WINDOW)}


async def _assert_sums_match_readings(storage: Storage) -> dict[tuple[str, int], BalanceRow]:
    """The balances from the kept sums equal those from sums rebuilt out of the readings."""
    kept = await _balances(storage)
    await storage.grid().rebuild_leaf_sums(*ALL_HOURS)
    rebuilt = await _balances(storage)
    assert kept.keys() == rebuilt.keys()
    for key, row in kept.items():
        again = rebuilt[key]
        assert row.input_kwh == pytest.approx(again.input_kwh), key
        assert row.subscribers_kwh == pytest.approx(again.subscribers_kwh), key
        assert (row.input_meters, row.subscriber_meters) == (
            again.input_meters,
            again.subscriber_meters,
        ), key
    return kept


async def _execute(storage: Storage, sql: str) -> None:
    """Raw SQL, as a database administrator would run it behind the VTN's back."""
    if isinstance(storage, PostgresStorage):
        await storage.pool.execute(sql)
    else:
        assert isinstance(storage, SqliteStorage)

        def body(db: sqlite3.Connection) -> None:
            db.execute(sql)

        await storage.run_tx(body)


async def test_corrected_readings_change_the_sums(storage: Storage) -> None:
    await _network(storage)
    before = await _assert_sums_match_readings(storage)
    assert before["h1", H0].subscribers_kwh == 5.0  # m1 2.0 + m2 3.0
    # a VEN re-sends hour 0 of m1 corrected, and the same hour of m2 unchanged
    corrected = [
        ReadingRow("v1", "m1", "electricity", "KWH", H0, 2.5, "r2"),
        ReadingRow("v1", "m2", "electricity", "KWH", H0, 3.0, "r2"),
    ]
    assert await storage.ingest_readings(corrected) == 1
    after = await _assert_sums_match_readings(storage)
    assert after["h1", H0].subscribers_kwh == 5.5
    assert after["h1", H0].subscriber_meters == 2  # a correction is not one more meter
    assert after["r1", H0].subscribers_kwh == pytest.approx(before["r1", H0].subscribers_kwh + 0.5)


async def test_meters_placed_moved_re_roled_and_removed(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    # readings arrive before their meter is on the grid: counted from the moment it is placed
    await storage.ingest_readings(
        [ReadingRow("v9", "x", "electricity", "KWH", H0 + h * 3600, 1.0, "r") for h in range(3)]
    )
    assert (await _balances(storage))["h2", H0].subscribers_kwh == 3.5
    await grid.import_hierarchy([], [GridMeter("mx", "h2", "subscriber", "A", "v9", "x")])
    rows = await _assert_sums_match_readings(storage)
    assert (rows["h2", H0].subscribers_kwh, rows["h2", H0].subscriber_meters) == (4.5, 2)

    # flat f1 (meter m1, 2 kWh at hour 0) moves from house h1 to house h2
    await grid.import_hierarchy([GridNode("f1", "h2", "flat", "F1")], [])
    rows = await _assert_sums_match_readings(storage)
    assert rows["h1", H0].subscribers_kwh == 3.0
    assert rows["h2", H0].subscribers_kwh == 6.5
    assert rows["s1", H0].subscribers_kwh == 9.5  # the street saw nothing move

    # meter m3 turns out to be h2's house input, not a subscriber
    await grid.import_hierarchy([], [GridMeter("m3", "h2", "house_input", None, "v2", "m3")])
    rows = await _assert_sums_match_readings(storage)
    assert (rows["h2", H0].input_kwh, rows["h2", H0].subscribers_kwh) == (3.5, 3.0)

    # flat f2 is demolished: its meter m2 leaves every sum
    assert await grid.delete_node("f2")
    rows = await _assert_sums_match_readings(storage)
    assert (rows["h1", H0].subscribers_kwh, rows["h1", H0].subscriber_meters) == (None, 0)
    assert rows["h1", H0].input_kwh == 6.0


async def test_readings_deleted_by_hand_leave_the_sums(storage: Storage) -> None:
    await _network(storage)
    await _execute(
        storage,
        "DELETE FROM reading WHERE hour = 1767225600"
        " AND meter_id = (SELECT meter_ref FROM grid_meter WHERE id = 'm4')",
    )
    rows = await _assert_sums_match_readings(storage)
    assert (rows["h3", H0].subscribers_kwh, rows["h3", H0].subscriber_meters) == (None, 0)
    assert rows["h3", H0 + 3600].subscribers_kwh == 4.0


async def test_rebuild_repairs_sums_written_around_the_triggers(storage: Storage) -> None:
    await _network(storage)
    grid = storage.grid()
    await _execute(storage, "UPDATE grid_leaf_hour SET kwh = kwh * 2")  # damage
    assert (await _balances(storage))["h1", H0].subscribers_kwh == 10.0
    assert await grid.rebuild_leaf_sums(H0, H0 + 3600) > 0  # only hour 0 repaired
    rows = await _balances(storage)
    assert rows["h1", H0].subscribers_kwh == 5.0
    assert rows["h1", H0 + 3600].subscribers_kwh == 14.0  # (3 + 4) * 2, outside the window
    await grid.rollup(*WINDOW)
    stored = await grid.stored_balance("h1", *WINDOW)
    assert [r.subscribers_kwh for r in stored] == [5.0, 14.0, 18.0]


async def test_an_import_of_the_same_network_changes_nothing(storage: Storage) -> None:
    await _network(storage)
    before = await _balances(storage)
    await storage.grid().import_hierarchy(*parse_csv(NETWORK))
    assert await _assert_sums_match_readings(storage) == before


async def test_a_bulk_upload_is_summed_like_a_small_one(storage: Storage) -> None:
    """Above FEW_READINGS one upload takes PostgreSQL's set-based branch; the sums agree."""
    await storage.grid().import_hierarchy(*parse_csv(NETWORK))
    hours = FEW_READINGS // len(VALUES) + 10
    rows = [
        ReadingRow(VENS[res], res, "electricity", "KWH", H0 + h * 3600, value, "bulk")
        for h in range(hours)
        for res, value in VALUES.items()
    ]
    assert len(rows) > FEW_READINGS
    assert await storage.ingest_readings(rows) == len(rows)
    rows_kept = await _assert_sums_match_readings(storage)
    assert (rows_kept["h1", H0].input_kwh, rows_kept["h1", H0].subscribers_kwh) == (6.0, 5.0)
    late = H0 + (hours - 1) * 3600
    assert len(await storage.grid().balance("r1/d1/s1/", "s1", late, late + 3600)) == 1
