"""Water leak, continuous flow and burst detection as a household would meet them."""

from __future__ import annotations

import numpy as np
import pytest

from balance_analytics import (
    BurstDetector,
    Carrier,
    ContinuousFlowDetector,
    MeterContext,
    MeterMonitor,
    NoZeroHourDetector,
    NoZeroHourSettings,
    Sensitivity,
    replay_hourly,
)

from .households import HOUR, TZ, midnight, water_days

START = midnight(2025, 3, 3)
WATER = MeterContext(Carrier.WATER, TZ, price_per_unit=2.5)


def first_alarm_hour(findings: list) -> int | None:
    return next((i for i, f in enumerate(findings) if f.active), None)


def test_dripping_tap_is_found_within_a_day_with_its_monthly_cost() -> None:
    usage = water_days(20, seed=1)
    leak_from = 10 * 24 + 15  # a tap starts dripping at 15:00 on day 10, a quiet afternoon
    usage[leak_from:] += 0.015

    findings = replay_hourly(NoZeroHourDetector(WATER), START, usage)
    alarm = first_alarm_hour(findings)

    assert alarm is not None
    assert leak_from <= alarm <= leak_from + 24
    found = findings[alarm]
    assert found.loss_per_month == pytest.approx(0.015 * 24 * 365.25 / 12)
    assert round(found.loss_per_month) == 11  # "≈ 11 m³ a month"
    assert found.cost_per_month == pytest.approx(found.loss_per_month * 2.5)
    assert found.since is not None
    assert found.since.timestamp() == START + leak_from * HOUR
    assert "15 L" in found.reason


def test_clean_home_with_a_toilet_visit_every_night_raises_nothing_in_two_months() -> None:
    findings = replay_hourly(NoZeroHourDetector(WATER), START, water_days(60, seed=2))
    assert not any(f.active for f in findings)


def test_leak_alarm_clears_once_the_tap_is_fixed() -> None:
    usage = water_days(10, seed=3)
    usage[2 * 24 : 5 * 24] += 0.03
    findings = replay_hourly(NoZeroHourDetector(WATER), START, usage)
    assert any(f.active for f in findings[3 * 24 : 5 * 24])
    assert not any(f.active for f in findings[6 * 24 :])


def test_missing_hours_never_count_as_flow() -> None:
    usage = water_days(6, seed=4)
    usage[40:] += 0.015
    usage[50] = np.nan  # the radio missed one hour of the leak
    findings = replay_hourly(NoZeroHourDetector(WATER), START, usage)
    # 24 known hours of flow are needed after the gap, not 24 hours including it
    assert first_alarm_hour(findings) == 50 + 24


def test_a_radio_gap_does_not_clear_a_leak_alarm() -> None:
    usage = water_days(6, seed=7)
    usage[24:] += 0.015
    usage[4 * 24 + 3 : 4 * 24 + 6] = np.nan
    findings = replay_hourly(NoZeroHourDetector(WATER), START, usage)
    assert findings[4 * 24].active
    assert all(f.active for f in findings[4 * 24 :])


def test_low_sensitivity_waits_longer_and_ignores_tiny_flows() -> None:
    usage = water_days(10, seed=5)
    usage[24:] += 0.015
    normal = first_alarm_hour(replay_hourly(NoZeroHourDetector(WATER), START, usage))
    low = first_alarm_hour(
        replay_hourly(
            NoZeroHourDetector(WATER, NoZeroHourSettings.for_sensitivity(Sensitivity.LOW)),
            START,
            usage,
        )
    )
    assert normal is not None
    assert low is not None
    assert low >= normal + 24

    tiny = water_days(10, seed=5)
    tiny[24:] += 0.002  # 2 L/h: noise at low sensitivity, a leak at normal
    assert first_alarm_hour(replay_hourly(NoZeroHourDetector(WATER), START, tiny)) is not None
    low_detector = NoZeroHourDetector(WATER, NoZeroHourSettings.for_sensitivity(Sensitivity.LOW))
    assert first_alarm_hour(replay_hourly(low_detector, START, tiny)) is None


def _feed_minutes(detector: ContinuousFlowDetector | BurstDetector, litres_per_minute: list[float]):
    findings = []
    for i, litres in enumerate(litres_per_minute):
        t = START + i * 60
        findings.append(detector.update(t, t + 60, litres / 1000))
    return findings


def test_continuous_flow_on_minute_data_finds_a_running_toilet_in_hours() -> None:
    minutes = [0.0] * (60 * 3)
    minutes += [0.5] * (60 * 5)  # a flush valve that never seals: 30 L/h
    findings = _feed_minutes(ContinuousFlowDetector(WATER), minutes)
    alarm = first_alarm_hour(findings)
    assert alarm is not None
    assert (alarm + 1 - 180) / 60 == pytest.approx(3.0)
    assert findings[-1].rate_per_hour == pytest.approx(0.030)


def test_continuous_flow_is_not_fooled_by_a_busy_evening_with_pauses() -> None:
    evening = ([8.0] * 10 + [0.0] * 20) * 12  # showers and washing-up with breaks, 6 hours
    findings = _feed_minutes(ContinuousFlowDetector(WATER), evening)
    assert not any(f.active for f in findings)


def test_continuous_flow_gives_no_verdict_on_hourly_readings() -> None:
    detector = ContinuousFlowDetector(WATER)
    findings = replay_hourly(detector, START, np.full(48, 0.03))
    assert not any(f.active for f in findings)
    assert findings[-1].evidence.get("readings_too_coarse") == 1.0


def test_burst_is_raised_after_half_an_hour_of_high_flow_and_not_by_a_shower() -> None:
    shower = [0.0] * 30 + [10.0] * 12 + [0.0] * 30
    assert not any(f.active for f in _feed_minutes(BurstDetector(WATER), shower))

    burst = [0.0] * 30 + [35.0] * 60
    findings = _feed_minutes(BurstDetector(WATER), burst)
    alarm = first_alarm_hour(findings)
    assert alarm is not None
    assert 30 + 25 <= alarm <= 30 + 35
    assert findings[-1].evidence["flow_l_per_min"] == pytest.approx(35.0)
    assert findings[-1].loss_per_day == pytest.approx(35 * 60 * 24 / 1000)


def test_monitor_runs_all_water_detectors_and_explains_the_alarm() -> None:
    monitor = MeterMonitor(WATER, Sensitivity.NORMAL)
    usage = water_days(5, seed=6) + 0.02
    for i, value in enumerate(usage):
        monitor.update(START + i * HOUR, START + (i + 1) * HOUR, float(value))
    assert monitor.alarm
    attributes = [f.as_attributes() for f in monitor.findings.values() if f.active]
    assert attributes
    assert attributes[0]["loss_per_month"] == pytest.approx(0.02 * 24 * 365.25 / 12)
    assert attributes[0]["cost_per_month"] == pytest.approx(0.02 * 24 * 365.25 / 12 * 2.5)
