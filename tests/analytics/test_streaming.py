"""Readings arrive in any rhythm; the detectors must reach the same verdict either way."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balance_analytics import (
    Carrier,
    MeterContext,
    MeterMonitor,
    NoZeroHourDetector,
    StandbyDetector,
    replay_hourly,
)
from balance_analytics.detectors import Binner
from dmesh_lib.simulator.consumption import ConsumptionModel
from dmesh_lib.units import MeterKind

from .households import HOUR, TZ, electricity_days, midnight, water_days

START = midnight(2025, 4, 7)


@st.composite
def cuts(draw: st.DrawFn) -> list[float]:
    """Reading times over 6 hours: any spacing, not hour-aligned, at most an hour apart."""
    inner = draw(st.lists(st.floats(1, 6 * HOUR - 1), max_size=40))
    times = sorted({float(START), *(START + x for x in inner), float(START + 6 * HOUR)})
    filled = [times[0]]
    for t in times[1:]:
        while t - filled[-1] > HOUR:
            filled.append(filled[-1] + HOUR)
        filled.append(t)
    return filled


@settings(max_examples=50, deadline=None)
@given(cuts())
def test_hourly_bins_do_not_depend_on_how_readings_are_spaced(times: list[float]) -> None:
    rates = [0.0, 0.015, 0.2, 0.0, 0.05, 0.01]  # m³ per hour, hour by hour

    def used(a: float, b: float) -> float:
        total, t = 0.0, a
        while t < b:
            hour = int((t - START) // HOUR)
            end = min(b, START + (hour + 1) * HOUR)
            total += rates[hour] * (end - t) / HOUR
            t = end
        return total

    binner = Binner(HOUR)
    bins: list[tuple[int, float]] = []
    for a, b in itertools.pairwise(times):
        bins += binner.add(a, b, used(a, b))
    assert [start for start, _ in bins] == [START + i * HOUR for i in range(6)]
    assert sum(v for _, v in bins) == pytest.approx(sum(rates), abs=1e-9)
    # a reading spanning an hour's edge is spread evenly over it (the meter cannot say more), so
    # an hour is exact wherever readings start and end on its edges
    edges = set(times)
    for i, (_, value) in enumerate(bins):
        if START + i * HOUR in edges and START + (i + 1) * HOUR in edges:
            assert value == pytest.approx(rates[i], abs=1e-12)


def test_a_gap_in_the_readings_is_unknown_not_zero() -> None:
    binner = Binner(HOUR)
    assert binner.add(START, START + HOUR, 0.01) == [(START, 0.01)]
    # data resumes ten minutes into the fourth hour: that hour is unknown as well
    out = binner.add(START + 3 * HOUR + 600, START + 4 * HOUR, 0.01)
    assert [start for start, _ in out] == [START + HOUR, START + 2 * HOUR, START + 3 * HOUR]
    assert all(math.isnan(v) for _, v in out)
    assert binner.add(START + 4 * HOUR, START + 5 * HOUR, 0.02) == [(START + 4 * HOUR, 0.02)]


def test_readings_sent_again_are_ignored_and_overlaps_clipped() -> None:
    binner = Binner(HOUR)
    binner.add(START, START + 1800, 0.5)
    assert binner.add(START, START + 1800, 0.5) == []
    out = binner.add(START + 900, START + HOUR, 0.3)  # the first 15 minutes were already counted
    assert out == [(START, pytest.approx(0.5 + 0.2))]


def test_live_minute_readings_and_hourly_history_agree() -> None:
    usage = water_days(4, seed=3)
    usage[30:] += 0.015
    hourly = replay_hourly(NoZeroHourDetector(MeterContext(Carrier.WATER, TZ)), START, usage)
    live = NoZeroHourDetector(MeterContext(Carrier.WATER, TZ))
    minute_findings = []
    for i, value in enumerate(usage):
        for minute in range(60):
            t = START + i * HOUR + minute * 60
            live.update(t, t + 60, float(value) / 60)
        minute_findings.append(live.finding)
    assert [f.active for f in hourly] == [f.active for f in minute_findings]
    assert hourly[-1].since == minute_findings[-1].since


def test_standby_from_quarter_hour_readings_of_a_day() -> None:
    usage = electricity_days(3, seed=5)
    detector = StandbyDetector(MeterContext(Carrier.ELECTRICITY, TZ))
    for i, value in enumerate(usage):
        for q in range(4):
            t = START + i * HOUR + q * 900
            detector.update(t, t + 900, float(value) / 4)
    assert detector.baseline_w == pytest.approx(
        min(usage[24 + 1 : 24 + 5].min(), usage[48 + 1 : 48 + 5].min(), usage[1:5].min()) * 1000,
        rel=0.2,
    )


def test_a_dripping_tap_in_a_simulated_home_is_found_and_a_clean_one_is_left_alone() -> None:
    """The simulator's households: people, night toilet visits, holidays."""
    kinds = [MeterKind.WATER, MeterKind.WATER]
    model = ConsumptionModel(kinds, seed=3, household_of=[0, 1])
    first_hour = midnight(2025, 6, 2) // HOUR
    clean = model.hourly_history(first_hour, 10 * 24)
    context = MeterContext(Carrier.WATER, TZ, price_per_unit=3.0)
    for meter in range(2):
        monitor = MeterMonitor(context)
        for i, value in enumerate(clean[meter]):
            t = (first_hour + i) * HOUR
            monitor.update(t, t + HOUR, float(value))
            assert not monitor.alarm

    model.set_extra_rate(1, 0.015)
    leaking = model.hourly_history(first_hour, 2 * 24)
    findings = replay_hourly(NoZeroHourDetector(context), first_hour * HOUR, leaking[1])
    alarm = next(i for i, f in enumerate(findings) if f.active)
    assert alarm < 24
    assert findings[alarm].loss_per_month == pytest.approx(11, abs=0.5)
    assert np.all(leaking[1] >= 0.015 - 1e-12)
