"""Gas night flow, heat without demand and away mode."""

from __future__ import annotations

import numpy as np
import pytest

from balance_analytics import (
    Allowance,
    Carrier,
    HeatWithoutDemandDetector,
    MeterContext,
    MeterMonitor,
    NightFlowDetector,
    NightFlowSettings,
    ZeroControl,
    replay_hourly,
)

from .households import HOUR, TZ, gas_days, heated_gas_days, midnight

START = midnight(2025, 6, 2)
GAS = MeterContext(Carrier.GAS, TZ, price_per_unit=8.0)
LEAK = 0.22 / 24


def first_alarm(findings: list) -> int | None:
    return next((i for i, f in enumerate(findings) if f.active), None)


def test_gas_leak_of_022_m3_a_day_is_found_within_two_days() -> None:
    usage = gas_days(14, seed=1)
    leak_from = 5 * 24 + 10
    usage[leak_from:] += LEAK
    findings = replay_hourly(NightFlowDetector(GAS), START, usage)
    alarm = first_alarm(findings)
    assert alarm is not None
    assert alarm - leak_from + 1 <= 48
    found = findings[alarm]
    assert found.loss_per_day == pytest.approx(0.22)
    assert round(found.loss_per_month) == 7  # "за месяц это 7 кубов"
    assert found.cost_per_month == pytest.approx(found.loss_per_month * 8.0)
    assert "2 nights" in found.reason


def test_a_leak_that_starts_in_the_middle_of_the_night_is_found_the_next_morning() -> None:
    usage = gas_days(10, seed=10)
    leak_from = 5 * 24 + 3  # 03:00: only half of the first night sees it
    usage[leak_from:] += LEAK
    findings = replay_hourly(NightFlowDetector(GAS), START, usage)
    alarm = first_alarm(findings)
    assert alarm == 6 * 24 + 4  # the end of the next full night, 26 h later
    assert findings[alarm].loss_per_day == pytest.approx(0.22)


def test_a_flow_that_fades_night_by_night_is_not_a_leak() -> None:
    usage = gas_days(10, seed=11)
    for night, rate in enumerate([0.05, 0.02, 0.008, 0.004]):
        usage[(night + 2) * 24 + 1 : (night + 2) * 24 + 5] += rate
    assert first_alarm(replay_hourly(NightFlowDetector(GAS), START, usage)) is None


def test_a_single_night_of_gas_is_not_a_leak() -> None:
    usage = gas_days(14, seed=2)
    usage[3 * 24 + 1 : 3 * 24 + 5] += 0.01  # someone kept the kettle going one night
    assert first_alarm(replay_hourly(NightFlowDetector(GAS), START, usage)) is None


def test_boiler_heating_through_winter_nights_is_not_a_leak() -> None:
    monitor = MeterMonitor(GAS, gas_heats_home=True)
    alarms = []
    for i, value in enumerate(heated_gas_days(60, seed=3)):
        t = START + i * HOUR
        monitor.update(t, t + HOUR, float(value), outdoor_temp_c=2.0)
        alarms.append(monitor.alarm)
    assert not any(alarms)


def test_a_burner_lit_in_the_night_is_not_steady_flow() -> None:
    usage = gas_days(10, seed=8)
    for night in range(10):
        usage[night * 24 + 2] += 0.12  # a pot on the stove at 02:00, every night
    assert first_alarm(replay_hourly(NightFlowDetector(GAS), START, usage)) is None


def test_a_leak_counted_in_10_litre_pulses_is_still_found() -> None:
    exact = gas_days(8, seed=9)
    exact[24:] += LEAK
    # what a reed contact reports: whole 10 L pulses, the remainder carried to the next hour
    meter = np.floor(np.cumsum(exact) / 0.01) * 0.01
    pulses = np.diff(meter, prepend=0.0)
    assert set(np.round(pulses[2 * 24 + 1 : 2 * 24 + 5], 3)) <= {0.0, 0.01, 0.02}
    alarm = first_alarm(replay_hourly(NightFlowDetector(GAS), START, pulses))
    assert alarm is not None
    assert alarm - 24 + 1 <= 48


def test_cold_nights_are_passed_over_when_gas_also_heats_the_home() -> None:
    settings = NightFlowSettings(heating_limit_c=12.0)
    detector = NightFlowDetector(GAS, settings)
    usage = gas_days(6, seed=4) + 0.02  # a steady 20 L/h at night: a boiler or a leak?
    for i, value in enumerate(usage):
        t = START + i * HOUR
        detector.update(t, t + HOUR, float(value), outdoor_temp_c=-5.0)
    assert not detector.finding.active
    # a warm spell: once the last days' weather says the heating is off, steady flow is a leak
    for i, value in enumerate(gas_days(5, seed=5) + 0.02, start=len(usage)):
        t = START + i * HOUR
        detector.update(t, t + HOUR, float(value), outdoor_temp_c=20.0)
    assert detector.finding.active
    assert detector.finding.evidence["nights_passed_over_for_heating"] >= 6


def test_a_night_without_data_neither_raises_nor_clears_the_alarm() -> None:
    usage = gas_days(10, seed=12) + LEAK
    usage[4 * 24 + 2] = np.nan
    findings = replay_hourly(NightFlowDetector(GAS), START, usage)
    assert findings[3 * 24 + 6].active
    assert all(f.active for f in findings[3 * 24 + 6 :])


def test_leak_alarm_clears_after_the_repair() -> None:
    usage = gas_days(12, seed=6)
    usage[: 6 * 24] += LEAK
    findings = replay_hourly(NightFlowDetector(GAS), START, usage)
    assert any(f.active for f in findings[: 6 * 24])
    assert not findings[-1].active


HEAT = MeterContext(Carrier.HEAT, TZ, price_per_unit=0.1)


def test_heat_flowing_on_a_warm_day_is_reported() -> None:
    detector = HeatWithoutDemandDetector(HEAT)
    for i in range(12):
        t = START + i * HOUR
        finding = detector.update(t, t + HOUR, 0.8, outdoor_temp_c=24.0)
    assert finding.active
    assert finding.rate_per_hour == pytest.approx(0.8)
    assert finding.power_w == pytest.approx(800)
    assert "no heating demand" in finding.reason


def test_heat_on_a_cold_day_is_just_heating() -> None:
    detector = HeatWithoutDemandDetector(HEAT)
    for i in range(48):
        t = START + i * HOUR
        finding = detector.update(t, t + HOUR, 1.5, outdoor_temp_c=-3.0)
    assert not finding.active


def test_a_thermostat_that_is_satisfied_overrides_the_weather() -> None:
    detector = HeatWithoutDemandDetector(HEAT)
    for i in range(8):
        t = START + i * HOUR
        finding = detector.update(t, t + HOUR, 1.0, outdoor_temp_c=-3.0, demand=False)
    assert finding.active


def test_heat_without_any_demand_information_gives_no_verdict() -> None:
    detector = HeatWithoutDemandDetector(HEAT)
    for i in range(24):
        t = START + i * HOUR
        finding = detector.update(t, t + HOUR, 1.0)
    assert not finding.active
    assert finding.evidence["demand_unknown"] == 1.0


def _home() -> ZeroControl:
    water = MeterContext(Carrier.WATER, TZ, 2.5)
    power = MeterContext(Carrier.ELECTRICITY, TZ, 0.2)
    return ZeroControl(
        {
            "water": (water, Allowance.default_for(Carrier.WATER)),
            "power": (power, Allowance.default_for(Carrier.ELECTRICITY, baseline_per_hour=0.08)),
        }
    )


def test_guests_opening_a_tap_while_away_raise_the_alarm() -> None:
    home = _home()
    home.arm(START)
    for minute in range(60):
        t = START + minute * 60
        home.update("power", t, t + 60, 0.08 / 60)  # fridge and standby only
        home.update("water", t, t + 60, 0.0)
    assert not home.alarm
    t = START + 3600
    finding = home.update("water", t, t + 60, 0.004)
    assert home.alarm
    assert finding.active
    assert "set to zero" in finding.reason
    # the alarm stays until the family disarms, even if water stops
    home.update("water", t + 60, t + 120, 0.0)
    assert home.finding("water").active
    home.disarm()
    assert not home.alarm


def test_nothing_counts_while_disarmed_or_before_arming() -> None:
    home = _home()
    home.update("water", START, START + 60, 0.05)
    assert not home.alarm
    home.arm(START + 3600)
    home.update("water", START + 3000, START + 3600, 0.05)  # used before leaving
    assert not home.alarm


def test_a_single_stray_pulse_is_noise() -> None:
    home = _home()
    home.arm(START)
    home.update("water", START, START + 60, 0.001)
    assert not home.alarm


def test_someone_switching_on_a_heater_while_away_is_seen() -> None:
    home = _home()
    home.arm(START)
    for minute in range(30):
        t = START + minute * 60
        home.update("power", t, t + 60, 2.0 / 60)  # 2 kW
    assert home.finding("power").active


def test_monitor_for_gas_uses_outdoor_temperature_when_gas_heats() -> None:
    monitor = MeterMonitor(GAS, gas_heats_home=True)
    usage = np.tile(gas_days(1, seed=7), 5) + 0.02
    for i, value in enumerate(usage):
        t = START + i * HOUR
        monitor.update(t, t + HOUR, float(value), outdoor_temp_c=0.0)
    assert not monitor.alarm
