"""Synthetic feeders: what the benchmark measures against must itself be right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from balance_grid import make_feeder
from balance_grid.synthetic import FAULT_KINDS, THEFT_ATTACKS


def test_shapes_ids_and_hours() -> None:
    f = make_feeder(20, 3, thieves=2, faulty=1, seed=4)
    assert f.true_kwh.shape == f.reported_kwh.shape == (20, 72)
    assert f.input_kwh.shape == (72,)
    assert len(f.meter_ids) == len(set(f.meter_ids)) == 20
    assert f.hours[1] - f.hours[0] == timedelta(hours=1)
    assert all(h.tzinfo is UTC for h in f.hours)
    assert len(f.dishonest) == 3 and set(f.attack) == set(f.dishonest) == set(f.onset)
    assert set(f.phases) <= {"A", "B", "C"}
    assert np.all(f.true_kwh > 0)


def test_same_seed_same_feeder() -> None:
    a, b = make_feeder(10, 2, thieves=1, seed=9), make_feeder(10, 2, thieves=1, seed=9)
    np.testing.assert_array_equal(a.reported_kwh, b.reported_kwh)
    assert a.attack == b.attack
    assert not np.array_equal(a.true_kwh, make_feeder(10, 2, seed=10).true_kwh)


def test_households_have_a_daily_rhythm_and_variety() -> None:
    f = make_feeder(200, 14, seed=1)
    daily = f.true_kwh.reshape(200, 14, 24).mean(axis=(0, 1))
    assert daily[3] < daily[19] / 2  # night trough, evening peak
    yearly = f.true_kwh.sum(axis=1) * 365 / 14
    assert 1500 < float(np.median(yearly)) < 6000  # kWh a year, a European household
    assert float(np.std(np.log(yearly))) > 0.2  # households differ


def test_technical_loss_is_about_three_per_cent() -> None:
    f = make_feeder(50, 7, seed=2)
    share = f.technical_kwh.sum() / f.true_kwh.sum()
    assert share == pytest.approx(0.03, rel=0.05)
    assert f.input_kwh.sum() == pytest.approx(f.true_kwh.sum() + f.technical_kwh.sum(), rel=0.005)


@pytest.mark.parametrize("kind", THEFT_ATTACKS + FAULT_KINDS)
def test_each_attack_does_what_it_says(kind: str) -> None:
    theft = kind in THEFT_ATTACKS
    f = make_feeder(5, 10, thieves=int(theft), faulty=int(not theft), seed=3, attacks=(kind,))
    i = f.meter_ids.index(f.dishonest[0])
    first = f.hours.index(f.onset[f.dishonest[0]])
    x, r = f.true_kwh[i], f.reported_kwh[i]
    np.testing.assert_allclose(r[:first], x[:first], rtol=0.03, atol=1e-3)  # honest before
    days = (x.size - first) // 24
    xd, rd = x[first:].reshape(days, 24), r[first:].reshape(days, 24)
    ratio = rd.sum() / xd.sum()
    if kind in {"h5", "h6"}:
        assert ratio == pytest.approx(1.0, rel=0.03)  # the day's energy is kept
        assert not np.allclose(rd, xd, rtol=0.05)
    elif kind == "stuck":
        assert rd.sum() == 0.0
    elif kind == "under_registration":
        assert 0.48 < ratio < 0.92
    else:
        assert ratio < 0.95
    if kind == "h2":
        assert np.all((rd == 0.0).sum(axis=1) >= 4)


def test_honest_meters_report_within_class_one() -> None:
    f = make_feeder(30, 2, seed=5)
    np.testing.assert_allclose(f.reported_kwh, f.true_kwh, rtol=0.02, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0, "days": 1}, "at least one"),
        ({"n": 3, "days": 1, "thieves": 2, "faulty": 2}, "do not fit"),
        ({"n": 3, "days": 1, "thieves": 1, "attacks": ("h1", "h2")}, "attacks given"),
        ({"n": 3, "days": 1, "thieves": 1, "attacks": ("h9",)}, "unknown attack"),
        ({"n": 3, "days": 1, "start": datetime(2026, 1, 1)}, "timezone"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_feeder(**kwargs)  # type: ignore[arg-type]
