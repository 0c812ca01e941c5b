"""Forecast to the end of the month, last year's month, and savings after a change."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from balance_analytics import (
    BaselineMethod,
    DegreeDayBaseline,
    HourlySeries,
    TemperatureSeries,
    forecast_month,
    same_month_last_year,
    savings_since,
)

from .households import HOUR, TZ, midnight


def test_steady_use_forecasts_the_whole_month() -> None:
    start = midnight(2025, 3, 1)
    series = HourlySeries.from_values(start - 28 * 24 * HOUR, np.full((28 + 10) * 24, 0.5))
    now = start + 10 * 24 * HOUR
    forecast = forecast_month(series, now, TZ)
    assert forecast is not None
    hours_in_march = (midnight(2025, 4, 1) - start) // HOUR  # 743: the clocks go forward
    assert forecast.total == pytest.approx(0.5 * hours_in_march)
    assert forecast.used_so_far == pytest.approx(0.5 * 10 * 24)
    assert forecast.coverage == 1.0


def test_forecast_expects_weekend_days_to_look_like_weekends() -> None:
    start = midnight(2025, 5, 1)
    first = start - 28 * 24 * HOUR
    days = 28 + 14
    values = np.empty(days * 24)
    for d in range(days):
        weekday = datetime.fromtimestamp(first + d * 24 * HOUR, TZ).weekday()
        values[d * 24 : (d + 1) * 24] = 2.0 if weekday >= 5 else 1.0
    series = HourlySeries.from_values(first, values)
    forecast = forecast_month(series, start + 14 * 24 * HOUR, TZ)
    assert forecast is not None
    # 15-31 May 2025: 5 weekend days and 12 workdays remain
    assert forecast.expected_rest == pytest.approx((5 * 2.0 + 12 * 1.0) * 24)


def test_forecast_is_unknown_with_less_than_three_quarters_of_the_data() -> None:
    start = midnight(2025, 3, 1)
    values = np.full((28 + 10) * 24, 0.5)
    values[-10 * 24 : -10 * 24 + 70] = np.nan  # 70 of 240 hours this month missing: 71 % known
    series = HourlySeries.from_values(start - 28 * 24 * HOUR, values)
    assert forecast_month(series, start + 10 * 24 * HOUR, TZ) is None
    values[-10 * 24 : -10 * 24 + 50] = 0.5  # 20 missing: 92 % known, the gap is filled
    series = HourlySeries.from_values(start - 28 * 24 * HOUR, values)
    forecast = forecast_month(series, start + 10 * 24 * HOUR, TZ)
    assert forecast is not None
    assert forecast.filled_gaps == pytest.approx(20 * 0.5)
    assert forecast.coverage == pytest.approx(220 / 240)


def test_forecast_without_history_is_unknown() -> None:
    start = midnight(2025, 3, 1)
    series = HourlySeries.from_values(start, np.full(5 * 24, 1.0))
    assert forecast_month(series, start + 5 * 24 * HOUR, TZ) is None


def test_same_month_last_year() -> None:
    first = midnight(2024, 1, 1)
    hours = (midnight(2025, 3, 1) - first) // HOUR
    series = HourlySeries.from_values(first, np.full(hours, 0.25))
    last_year = same_month_last_year(series, midnight(2025, 2, 10), TZ)
    assert last_year is not None
    assert last_year.total == pytest.approx(0.25 * 29 * 24)  # February 2024 had 29 days
    assert last_year.start.timestamp() == midnight(2024, 2, 1)
    assert same_month_last_year(series, midnight(2024, 6, 10), TZ) is None


def _heating_year(first: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    day_index = np.arange(days)
    temp_day = 8 - 10 * np.cos(2 * np.pi * (day_index - 20) / 365) + rng.normal(0, 2, days)
    temps = np.repeat(temp_day, 24)
    hdd = np.maximum(0, 18 - temp_day)
    gas_day = 0.3 + 0.25 * hdd
    return np.repeat(gas_day / 24, 24), temps


def test_new_windows_saving_is_measured_against_the_weather_adjusted_baseline() -> None:
    first = midnight(2017, 1, 1)
    days = 365 + 90
    gas, temps = _heating_year(first, days, seed=1)
    change = midnight(2018, 1, 1)
    after = (change - first) // HOUR
    gas[after:] = gas[after:] / 3  # the new windows cut heating to a third
    series = HourlySeries.from_values(first, gas)
    weather = TemperatureSeries.from_values(first, temps)
    now = midnight(2018, 4, 1)
    report = savings_since(series, change, now, TZ, temperatures=weather)
    assert report is not None
    assert report.method is BaselineMethod.DEGREE_DAYS
    assert report.days == 90
    expected = float(np.sum(gas[after:] * 3))
    assert report.expected == pytest.approx(expected, rel=0.01)
    assert report.saved == pytest.approx(expected * 2 / 3, rel=0.01)
    assert report.saved_fraction == pytest.approx(2 / 3, rel=0.01)
    assert report.baseline is not None
    assert report.baseline.r_squared > 0.99


def test_a_mild_winter_is_not_counted_as_a_saving() -> None:
    first = midnight(2017, 1, 1)
    gas, temps = _heating_year(first, 365 + 90, seed=2)
    change = midnight(2018, 1, 1)
    after = (change - first) // HOUR
    temps[after:] += 4  # a warm winter, nothing changed in the house
    hdd = np.maximum(0, 18 - temps[after:])
    gas[after:] = (0.3 + 0.25 * hdd) / 24
    report = savings_since(
        HourlySeries.from_values(first, gas),
        change,
        midnight(2018, 4, 1),
        TZ,
        temperatures=TemperatureSeries.from_values(first, temps),
    )
    assert report is not None
    assert abs(report.saved) < 0.01 * report.expected


def test_without_temperatures_the_same_days_last_year_are_the_baseline() -> None:
    first = midnight(2017, 1, 1)
    gas, _ = _heating_year(first, 365 + 90, seed=3)
    change = midnight(2018, 1, 1)
    after = (change - first) // HOUR
    gas[after:] *= 0.8
    report = savings_since(HourlySeries.from_values(first, gas), change, midnight(2018, 4, 1), TZ)
    assert report is not None
    assert report.method is BaselineMethod.SAME_DAYS_LAST_YEAR
    assert report.saved_fraction is not None
    assert 0.1 < report.saved_fraction < 0.3


def test_without_temperatures_or_last_year_the_daily_mean_is_used() -> None:
    first = midnight(2025, 1, 1)
    usage = np.full(60 * 24, 1.0)
    usage[30 * 24 :] = 0.5
    report = savings_since(
        HourlySeries.from_values(first, usage), first + 30 * 24 * HOUR, first + 60 * 24 * HOUR, TZ
    )
    assert report is not None
    assert report.method is BaselineMethod.MEAN_DAILY
    assert report.saved == pytest.approx(30 * 24 * 0.5)


def test_degree_day_fit_recovers_base_load_and_slope() -> None:
    temps = np.linspace(-10, 25, 60)
    use = 2.0 + 0.4 * np.maximum(0, 18 - temps)
    fit = DegreeDayBaseline.fit(use, temps)
    assert fit.base_per_day == pytest.approx(2.0)
    assert fit.per_degree_day == pytest.approx(0.4)
    assert fit.expected([30.0])[0] == pytest.approx(2.0)
