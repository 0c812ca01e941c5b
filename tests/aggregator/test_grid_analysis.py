"""Balance series and alarms from stored rows (pure functions)."""

from __future__ import annotations

import math
import time

from balance_aggregator.grid.analysis import DAY, HOUR, alarms, series
from balance_aggregator.grid.model import BalanceRow


def _rows(start: int, hours: int, *, inp: float, subs: float, seen: int) -> list[BalanceRow]:
    return [BalanceRow("g", start + h * HOUR, inp, 1, 1, subs, seen, 2) for h in range(hours)]


def test_series_fills_gaps_and_days_sum_hours() -> None:
    start = 1767225600
    rows = _rows(start, 30, inp=10.0, subs=9.0, seen=2)
    del rows[5]
    hourly = series(rows, start, start + 2 * DAY)
    assert len(hourly.times) == 48 and math.isnan(hourly.input_kwh[5])
    assert hourly.imbalance_pct[0] == 10.0 and math.isnan(hourly.imbalance_pct[40])
    daily = series(rows, start, start + 2 * DAY, DAY)
    assert daily.input_kwh.tolist() == [230.0, 60.0]
    assert daily.completeness[0] == 23 / 24 and daily.completeness[1] == 6 / 24


def test_alarms_wait_for_a_day_to_end() -> None:
    today = int(time.time()) // DAY * DAY
    past = today - 2 * DAY
    rows = _rows(past, 24, inp=10.0, subs=5.0, seen=1) + _rows(today, 2, inp=10.0, subs=9.5, seen=2)
    found = alarms(rows, past, today + DAY)
    kinds = {(a.day, a.kind, a.severity) for a in found}
    assert (past, "imbalance", "critical") in kinds  # 50 % lost
    assert (past, "missing_data", "warning") in kinds  # 3 of 4 readings a hour
    assert not [a for a in found if a.day == today]  # 5 %, and the day is not over
    # a window starting mid-day does not call that day's first hours missing
    later = alarms(rows, past + 12 * HOUR, today)
    assert [(a.day, a.severity) for a in later if a.kind == "missing_data"] == [
        (past + DAY, "critical")  # the day after has no readings at all
    ]
