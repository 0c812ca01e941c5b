"""The journal and the monitor's replay: what Home Assistant relies on across restarts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balance_analytics import Carrier, DetectorKind, MeterContext, MeterJournal, MeterMonitor

from .households import HOUR, TZ, midnight, water_days

START = midnight(2025, 5, 5)
TAP = 0.015  # m³/h, the dripping tap


def _water_monitor() -> MeterMonitor:
    return MeterMonitor(MeterContext(Carrier.WATER, TZ, price_per_unit=2.0))


def _feed(
    journal: MeterJournal, monitor: MeterMonitor, times: list[float], hourly: np.ndarray
) -> None:
    """Readings of a cumulative meter at ``times`` over hourly consumption ``hourly``."""
    cumulative = np.concatenate([[0.0], np.cumsum(hourly)])
    for t in times:
        x = (t - START) / HOUR
        i = min(int(x), len(hourly) - 1)
        total = 100.0 + cumulative[i] + hourly[i] * (x - i)
        if (interval := journal.reading(t, float(total))) is not None:
            monitor.update(*interval)


def test_readings_become_hours_and_leak_is_found() -> None:
    hourly = water_days(2, seed=3) + TAP
    journal, monitor = MeterJournal(), _water_monitor()
    _feed(journal, monitor, [START + 300.0 * k for k in range(0, 48 * 12 + 1)], hourly)
    series = journal.series()
    assert series.start == START
    np.testing.assert_allclose(series.values, hourly, rtol=1e-9, atol=1e-12)
    assert monitor.findings[DetectorKind.WATER_NO_ZERO_HOUR].active


def test_meter_reset_and_long_silence_are_unknown_not_consumption() -> None:
    journal = MeterJournal(max_gap_s=2 * HOUR)
    assert journal.reading(START, 10.0) is None
    assert journal.reading(START + HOUR, 10.5) == (START, START + HOUR, 0.5)
    assert journal.reading(START + HOUR, 10.6) is None  # a repeat is ignored
    assert journal.reading(START + 2 * HOUR, 0.2) is None  # a new meter starts at 0.2
    assert journal.reading(START + 3 * HOUR, 0.3) is not None
    assert journal.reading(START + 9 * HOUR, 5.0) is None  # six silent hours: unknown
    assert journal.reading(START + 10 * HOUR, 5.1) is not None
    values = journal.series().values
    assert values[0] == pytest.approx(0.5)
    assert math.isnan(values[1])  # the hour of the swap
    assert values[2] == pytest.approx(0.1)
    assert np.all(np.isnan(values[3:9]))
    assert values[9] == pytest.approx(0.1)


def test_a_meter_reading_entered_by_hand_is_not_consumption() -> None:
    """Entering the dial's 456.78 m³ on a fresh meter must not show 456 m³ used this month."""
    journal = MeterJournal(max_rate_per_h=Carrier.WATER.max_rate_per_hour)
    assert journal.reading(START, 0.78) is None
    assert journal.reading(START + 300, 0.79) is not None
    assert journal.reading(START + 600, 456.79) is None  # the reading was entered
    assert journal.reading(START + 900, 456.80) is not None
    # a real burst (a 15 L/min hose for five minutes) and a single 10 L pulse a second apart count
    assert journal.reading(START + 1200, 456.875) is not None
    assert journal.reading(START + 1201, 456.885) is not None
    running = journal.running_hour
    assert running is not None
    assert running[1] == pytest.approx(0.01 + 0.01 + 0.075 + 0.01)
    restored = MeterJournal.from_dict(
        json.loads(json.dumps(journal.to_dict())), max_rate_per_h=Carrier.WATER.max_rate_per_hour
    )
    assert restored.reading(START + 1500, 1000.0) is None


def test_bad_readings_and_states_are_refused() -> None:
    journal = MeterJournal()
    with pytest.raises(ValueError, match="finite"):
        journal.reading(START, math.nan)
    with pytest.raises(ValueError, match="version"):
        MeterJournal.from_dict({"version": 9})
    state = MeterJournal().to_dict() | {"first_hour": START, "values": [0.1, -1.0]}
    with pytest.raises(ValueError, match="negative"):
        MeterJournal.from_dict(state)
    with pytest.raises(ValueError, match="whole hour"):
        MeterJournal().seed(START + 1, [0.1])
    seeded = MeterJournal()
    seeded.seed(START, [0.1])
    with pytest.raises(ValueError, match="without complete hours"):
        seeded.seed(START, [0.1])
    with pytest.raises(ValueError, match="hours"):
        _water_monitor().replay_hourly(START, [0.1, 0.2], outdoor_temps=[1.0])


@settings(max_examples=40, deadline=None)
@given(
    stop=st.integers(1, 30 * 12 - 1),
    down_s=st.floats(0, 3000),
)
def test_a_restart_reaches_the_same_verdict(stop: int, down_s: float) -> None:
    """Save the journal at any reading, rebuild the monitor from JSON, continue: same findings."""
    hourly = water_days(2, seed=1)[:30] + TAP
    times = [START + 300.0 * k for k in range(0, 30 * 12 + 1)]
    journal, live = MeterJournal(), _water_monitor()
    _feed(journal, live, times, hourly)

    before, first = MeterJournal(), _water_monitor()
    _feed(before, first, times[: stop + 1], hourly)
    restored = MeterJournal.from_dict(json.loads(json.dumps(before.to_dict())))
    rebuilt = _water_monitor()
    restored.replay_into(rebuilt)
    _feed(restored, rebuilt, times[stop + 1 :], hourly)

    assert (
        rebuilt.findings[DetectorKind.WATER_NO_ZERO_HOUR]
        == live.findings[DetectorKind.WATER_NO_ZERO_HOUR]
    )
    # the 5-minute rule keeps its verdict too (its "since" may only reach back six hours)
    assert {k: f.active for k, f in rebuilt.findings.items()} == {
        k: f.active for k, f in live.findings.items()
    }
    np.testing.assert_allclose(restored.series().values, journal.series().values, atol=1e-12)


def test_a_restart_keeps_a_continuous_flow_alarm() -> None:
    hourly = np.full(8, TAP)
    times = [START + 300.0 * k for k in range(0, 8 * 12 + 1)]
    journal, live = MeterJournal(), _water_monitor()
    _feed(journal, live, times, hourly)
    assert live.findings[DetectorKind.WATER_CONTINUOUS_FLOW].active
    rebuilt = _water_monitor()
    MeterJournal.from_dict(json.loads(json.dumps(journal.to_dict()))).replay_into(rebuilt)
    assert rebuilt.findings[DetectorKind.WATER_CONTINUOUS_FLOW].active


def test_history_from_the_recorder_detects_at_once() -> None:
    hourly = water_days(3, seed=2) + TAP
    journal = MeterJournal()
    journal.seed(START, hourly, end_total=250.0)
    monitor = _water_monitor()
    journal.replay_into(monitor)
    finding = monitor.findings[DetectorKind.WATER_NO_ZERO_HOUR]
    assert finding.active
    assert finding.rate_per_hour == pytest.approx(TAP)
    # live readings continue from the last hour's total
    end = START + len(hourly) * HOUR
    interval = journal.reading(end + 600, 250.01)
    assert interval is not None
    assert interval[:2] == (end, end + 600)
    assert interval[2] == pytest.approx(0.01)


def test_replay_hourly_matches_live_updates_and_keeps_gaps() -> None:
    hourly = water_days(2, seed=4)[:36] + TAP
    hourly[20] = math.nan
    replayed = _water_monitor().replay_hourly(START, hourly)
    live = _water_monitor()
    for i, v in enumerate(hourly):
        if math.isfinite(v):
            live.update(START + i * HOUR, START + (i + 1) * HOUR, float(v))
    assert replayed == live.findings
    # the unknown hour broke the run: 15 h since, not yet 24
    assert not replayed[DetectorKind.WATER_NO_ZERO_HOUR].active


def test_journal_keeps_a_bounded_history() -> None:
    journal = MeterJournal(keep_hours=24)
    journal.seed(START, np.full(30, 0.01))
    series = journal.series()
    assert len(series) == 24
    assert series.start == START + 6 * HOUR


def test_restart_leaves_the_silence_unknown() -> None:
    journal = MeterJournal()
    journal.reading(START, 1.0)
    journal.reading(START + HOUR, 1.1)
    journal.restart(START + HOUR + 1800, 1.1)  # the source was gone for half an hour
    assert journal.reading(START + 2 * HOUR + 1800, 1.2) is not None
    values = journal.series().values
    assert values[0] == pytest.approx(0.1)
    assert math.isnan(values[1])
    with pytest.raises(ValueError, match="finite"):
        journal.restart(START, math.inf)


def _restarted(journal: MeterJournal) -> MeterJournal:
    return MeterJournal.from_dict(json.loads(json.dumps(journal.to_dict())))


def test_a_journal_restarted_in_its_first_hour_takes_the_recorders_hours() -> None:
    """Set up at 10:20, restarted at 10:50; meanwhile the recorder got the hours up to 10:00."""
    first = MeterJournal()
    for minutes, total in ((20, 50.0), (30, 50.1), (48, 50.3)):
        first.reading(START + 10 * HOUR + minutes * 60, total)
    assert not first.has_hours and first.running_hour is not None
    journal = _restarted(first)
    journal.seed(START, np.full(10, 0.2), end_total=49.9)
    series = journal.series()
    assert series.start == START and len(series) == 10  # 10:00 is still running
    running = journal.running_hour
    assert running is not None
    # 10:00–10:20 from the recorder's total, 10:20–10:48 from the readings: nothing twice
    assert running == (START + 10 * HOUR, pytest.approx(0.4))
    assert journal.reading(START + 11 * HOUR, 50.4) is not None
    assert journal.series().values[-1] == pytest.approx(0.5)


def test_a_journal_the_recorder_has_overtaken_continues_from_the_recorder() -> None:
    """Readings at 10:20–10:48, Home Assistant off until 14:30, the recorder has hours to 14:00."""
    first = MeterJournal()
    first.reading(START + 10 * HOUR + 1200, 50.0)
    first.reading(START + 10 * HOUR + 2880, 50.3)
    journal = _restarted(first)
    journal.seed(START, np.full(14, 0.2), end_total=52.0)
    assert len(journal.series()) == 14 and journal.running_hour is None
    assert (journal.last_time, journal.last_total) == (START + 14 * HOUR, 52.0)
    assert journal.fine_first is None  # the recorder's hours replace the journal's own
    assert journal.reading(START + 14 * HOUR + 1800, 52.1) is not None


def test_a_seed_leaves_unknown_what_the_rules_refuse() -> None:
    """The recorder's last total is higher than the journal's first reading: a meter swapped."""
    first = MeterJournal()
    first.reading(START + 10 * HOUR + 1200, 3.0)
    first.reading(START + 10 * HOUR + 1800, 3.1)
    journal = _restarted(first)
    journal.seed(START, np.full(9, 0.2), end_total=80.0)
    assert journal.reading(START + 11 * HOUR, 3.2) is not None
    values = journal.series().values
    assert len(values) == 11
    assert np.all(np.isnan(values[9:]))  # 09:00 has no reading, 10:00 only its last 40 minutes
    # a journal saved before it kept its first reading: the stretch before it stays unknown
    old = first.to_dict()
    del old["first_reading"]
    journal = MeterJournal.from_dict(old)
    journal.seed(START, np.full(10, 0.2), end_total=2.9)
    assert journal.running_hour == (START + 10 * HOUR, pytest.approx(0.1))
    assert journal.reading(START + 11 * HOUR, 3.2) is not None
    assert math.isnan(journal.series().values[-1])


@st.composite
def _meter_after_history(
    draw: st.DrawFn,
) -> tuple[int, list[float], float, list[tuple[float, float]], int]:
    """Recorder hours, their last total, the readings that follow, and where HA restarted."""
    hours = draw(st.integers(1, 30))
    values = draw(st.lists(st.floats(0, 2), min_size=hours, max_size=hours))
    end_total = draw(st.floats(0, 1e5))
    end = START + hours * HOUR
    t = end + draw(st.integers(-3 * HOUR, 3 * HOUR))
    total = end_total + draw(st.floats(-1.0, 1.0))
    readings: list[tuple[float, float]] = []
    for _ in range(draw(st.integers(1, 40))):
        readings.append((float(t), total))
        t += draw(st.integers(1, 900))
        total += draw(st.floats(0, 0.5))
    first_bin = readings[0][0] // HOUR * HOUR
    in_first_hour = sum(1 for r in readings if r[0] < first_bin + HOUR)
    return START, values, end_total, readings, draw(st.integers(0, in_first_hour))


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))


@settings(max_examples=300, deadline=None)
@given(_meter_after_history())
def test_seeding_after_a_restart_is_as_if_the_recorder_came_first(
    case: tuple[int, list[float], float, list[tuple[float, float]], int],
) -> None:
    """Readings, a restart before the first whole hour, the recorder's hours, more readings: the
    same hours, running hour and last reading as a journal seeded before the first reading."""
    first_hour, values, end_total, readings, split = case
    uninterrupted = MeterJournal()
    uninterrupted.seed(first_hour, values, end_total)
    for t, total in readings:
        uninterrupted.reading(t, total)

    before = MeterJournal()
    for t, total in readings[:split]:
        before.reading(t, total)
    assert not before.has_hours
    journal = _restarted(before)
    journal.seed(first_hour, values, end_total)
    for t, total in readings[split:]:
        journal.reading(t, total)

    expected, got = uninterrupted.series(), journal.series()
    assert got.start == expected.start
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-9)
    assert (journal.last_time, journal.last_total) == (
        uninterrupted.last_time,
        uninterrupted.last_total,
    )
    a, b = journal.running_hour, uninterrupted.running_hour
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert a[0] == b[0] and _same(a[1], b[1])
