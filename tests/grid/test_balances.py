"""Group balances: imbalance, technical part, completeness, days and roll-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from balance_grid import combine, daily, group_balance


def test_hourly_balance() -> None:
    inp = np.array([10.0, 20.0, 0.0])
    subs = np.array([[4.0, 9.0, 0.0], [5.0, 9.0, 0.0]])
    b = group_balance(inp, subs, technical_loss_fraction=0.05)
    np.testing.assert_allclose(b.subscribers_kwh, [9.0, 18.0, 0.0])
    np.testing.assert_allclose(b.imbalance_kwh, [1.0, 2.0, 0.0])
    np.testing.assert_allclose(b.imbalance_pct[:2], [10.0, 10.0])
    assert np.isnan(b.imbalance_pct[2])  # no input, no percentage
    np.testing.assert_allclose(b.technical_kwh, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(b.commercial_kwh, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(b.completeness, [1.0, 1.0, 1.0])


def test_missing_readings_lower_completeness_not_the_input() -> None:
    inp = np.array([10.0, np.nan])
    subs = np.array([[4.0, 4.0], [np.nan, 5.0], [3.0, 3.0]])
    b = group_balance(inp, subs)
    np.testing.assert_allclose(b.subscribers_kwh, [7.0, 12.0])
    np.testing.assert_allclose(b.completeness, [0.75, 0.75])
    assert np.isnan(b.imbalance_kwh[1])


def test_a_group_without_subscribers() -> None:
    b = group_balance(np.array([1.0, 2.0]), np.zeros((0, 2)))
    np.testing.assert_allclose(b.imbalance_kwh, [1.0, 2.0])


@pytest.mark.parametrize(
    ("inp", "subs", "fraction", "match"),
    [
        (np.ones((2, 2)), np.ones((1, 2)), 0.03, r"\(T,\)"),
        (np.ones(3), np.ones((2, 2)), 0.03, "match input_kwh"),
        (np.ones(2), np.ones((1, 2)), 1.5, "technical_loss_fraction"),
        (np.array([1.0, np.inf]), np.ones((1, 2)), 0.03, "infinite"),
    ],
)
def test_bad_input_is_rejected(
    inp: np.ndarray, subs: np.ndarray, fraction: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        group_balance(inp, subs, fraction)


def test_daily_sums_and_a_partial_day_stays_unknown() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(48)]
    inp = np.full(48, 2.0)
    inp[30] = np.nan
    b = group_balance(inp, np.ones((1, 48)))
    days, d = daily(b, hours)
    assert days == [start.date(), (start + timedelta(days=1)).date()]
    np.testing.assert_allclose(d.input_kwh[0], 48.0)
    assert np.isnan(d.input_kwh[1])
    np.testing.assert_allclose(d.subscribers_kwh, [24.0, 24.0])
    np.testing.assert_allclose(d.imbalance_pct[0], 50.0)
    np.testing.assert_allclose(d.completeness, [1.0, 1 - 0.5 / 24])


def test_daily_needs_one_hour_per_value() -> None:
    b = group_balance(np.ones(3), np.ones((1, 3)))
    with pytest.raises(ValueError, match="hours given"):
        daily(b, [datetime(2026, 1, 1, tzinfo=UTC)])


def test_roll_up_of_siblings() -> None:
    a = group_balance(np.array([10.0, 10.0]), np.array([[9.0, 8.0]]))
    b = group_balance(np.array([5.0, np.nan]), np.array([[5.0, 5.0]]))
    parent = combine([a, b])
    np.testing.assert_allclose(parent.input_kwh[0], 15.0)
    assert np.isnan(parent.input_kwh[1])
    np.testing.assert_allclose(parent.subscribers_kwh, [14.0, 13.0])
    np.testing.assert_allclose(parent.completeness, [1.0, 0.75])
    with pytest.raises(ValueError, match="different numbers"):
        combine([a, group_balance(np.ones(3), np.ones((1, 3)))])
    with pytest.raises(ValueError, match="nothing"):
        combine([])
