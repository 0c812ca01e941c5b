"""Standby baseline ("energy vampires")."""

from __future__ import annotations

import pytest

from balance_analytics import (
    Carrier,
    MeterContext,
    Sensitivity,
    StandbyDetector,
    StandbySettings,
    replay_hourly,
)

from .households import HOUR, TZ, electricity_days, midnight

START = midnight(2025, 10, 6)
POWER = MeterContext(Carrier.ELECTRICITY, TZ, price_per_unit=0.25)


def nights_until_flag(findings: list, added_at_hour: int) -> int | None:
    for i in range(added_at_hour, len(findings)):
        if findings[i].active:
            # count the local nights (01:00-05:00) that ended between the change and the flag
            return sum(1 for h in range(added_at_hour, i + 1) if h % 24 == 4)
    return None


def test_baseline_is_reported_in_watts_kwh_per_month_and_money() -> None:
    findings = replay_hourly(StandbyDetector(POWER), START, electricity_days(14, standby_w=45))
    last = findings[-1]
    # the hourly night floor is standby plus the fridge's average, 80 W
    assert last.power_w == pytest.approx(80, abs=7)
    assert last.loss_per_month == pytest.approx(last.power_w * 24 * 365.25 / 12 / 1000)
    assert last.cost_per_month == pytest.approx(last.loss_per_month * 0.25)
    assert not last.active
    assert "W at night" in last.reason


def test_new_30w_device_left_on_is_flagged_within_three_nights() -> None:
    usage = electricity_days(40, seed=1)
    added = 30 * 24 + 15
    usage[added:] += 0.030
    findings = replay_hourly(StandbyDetector(POWER), START, usage)
    nights = nights_until_flag(findings, added)
    assert nights is not None
    assert nights <= 3
    flagged = next(f for f in findings[added:] if f.active)
    assert flagged.evidence["rise_w"] == pytest.approx(30, abs=8)
    assert "more than usual" in flagged.reason


def test_a_home_with_a_big_fridge_and_steady_standby_is_not_nagged() -> None:
    findings = replay_hourly(StandbyDetector(POWER), START, electricity_days(120, standby_w=90))
    assert not any(f.active for f in findings)


def test_flag_stays_until_the_device_is_switched_off_or_accepted() -> None:
    usage = electricity_days(50, seed=2)
    usage[20 * 24 :] += 0.05
    detector = StandbyDetector(POWER)
    findings = replay_hourly(detector, START, usage[: 40 * 24])
    assert findings[-1].active  # still flagged weeks later: the reference is frozen
    accepted = detector.acknowledge()
    assert not accepted.active
    later = replay_hourly(detector, START + 40 * 24 * HOUR, usage[40 * 24 :])
    assert not any(f.active for f in later)


def test_flag_clears_when_the_extra_load_goes() -> None:
    usage = electricity_days(40, seed=3)
    usage[20 * 24 : 25 * 24] += 0.05
    findings = replay_hourly(StandbyDetector(POWER), START, usage)
    assert any(f.active for f in findings[20 * 24 : 25 * 24 + 6])
    assert not findings[-1].active


def test_absolute_limit_chosen_by_the_household() -> None:
    settings = StandbySettings.for_sensitivity(Sensitivity.NORMAL, alert_above_w=60)
    findings = replay_hourly(
        StandbyDetector(POWER, settings), START, electricity_days(4, standby_w=45)
    )
    assert findings[-1].active
    assert findings[-1].evidence["limit_w"] == 60
    assert "above your limit" in findings[-1].reason


def test_a_night_with_missing_data_does_not_lower_the_baseline() -> None:
    usage = electricity_days(10, seed=4)
    usage[5 * 24 + 2] = float("nan")
    findings = replay_hourly(StandbyDetector(POWER), START, usage)
    assert findings[-1].evidence["nights"] == 9
