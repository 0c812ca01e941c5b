"""The simulator's household consumption model: determinism, magnitudes, and the realism that leak
and standby detection rely on (zero-flow hours in clean homes, night heating in winter only)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmesh_lib.simulator.consumption import ConsumptionModel
from dmesh_lib.units import MeterKind

HOUR = 3600
DAY = 86_400
JAN = 1_736_121_600  # Monday 2025-01-06 00:00 UTC
JUL = 1_751_846_400  # Monday 2025-07-07 00:00 UTC
NEW_YEAR = 1_767_225_600  # 2026-01-01 00:00 UTC (01:00 CET)
SUMMER_TIME_STARTS = 1_743_296_400  # 2025-03-30 01:00 UTC
KINDS = (MeterKind.ELECTRICITY, MeterKind.WATER, MeterKind.GAS, MeterKind.HEAT)
STANDBY_FLOOR_KWH_PER_S = 20.0 / 3.6e6

F64 = npt.NDArray[np.float64]


def households(count: int, seed: int) -> ConsumptionModel:
    """``count`` households, each with an electricity, water, gas and heat meter (in that order)."""
    return ConsumptionModel(
        list(KINDS) * count, seed=seed, household_of=[i // 4 for i in range(4 * count)]
    )


def run(model: ConsumptionModel, t0: float, steps: list[float]) -> list[F64]:
    out = []
    t = t0
    for step in steps:
        out.append(model.consumption(t, t + step))
        t += step
    return out


@pytest.fixture(scope="module")
def winter() -> tuple[ConsumptionModel, F64]:
    """Four weeks of January for 60 households, hour by hour."""
    model = households(60, seed=11)
    return model, model.hourly_history(JAN // HOUR, 28 * 24)


@pytest.fixture(scope="module")
def summer() -> tuple[ConsumptionModel, F64]:
    model = households(60, seed=11)
    return model, model.hourly_history(JUL // HOUR, 28 * 24)


def test_same_seed_and_calls_give_the_same_consumption() -> None:
    steps = [1.0, 59.0, 600.0, 3600.0, 17.0, 3600.0]
    a = run(households(20, seed=5), JAN + 7 * HOUR, steps)
    b = run(households(20, seed=5), JAN + 7 * HOUR, steps)
    c = run(households(20, seed=6), JAN + 7 * HOUR, steps)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c, strict=True))


def test_history_is_deterministic_and_leaves_the_live_state_alone() -> None:
    steps = [60.0] * 120
    plain = households(10, seed=2)
    probed = households(10, seed=2)
    first = run(plain, JAN + 6 * HOUR, steps)
    second = run(probed, JAN + 6 * HOUR, steps[:60])
    history = probed.hourly_history(JAN // HOUR - 48, 48)
    probed.mean_power_w(0, JAN + 7 * HOUR, JAN + 7 * HOUR + 60)
    second += run(probed, JAN + 7 * HOUR, steps[60:])
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(
        history, households(10, seed=2).hourly_history(JAN // HOUR - 48, 48)
    )


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=364 * DAY),
    steps=st.lists(st.floats(min_value=1.0, max_value=3600.0), min_size=1, max_size=12),
)
def test_any_split_into_successive_calls_is_non_negative_and_above_standby(
    start: int, steps: list[float]
) -> None:
    model = households(3, seed=9)
    for step, used in zip(steps, run(model, 1_735_689_600 + start, steps), strict=True):
        assert used.shape == (model.n_meters,)
        assert np.isfinite(used).all()
        assert (used >= 0).all()
        # electricity never falls below the smallest standby base
        assert (used[0::4] >= STANDBY_FLOOR_KWH_PER_S * step * (1 - 1e-9)).all()


def test_hourly_history_shape_and_magnitudes(
    winter: tuple[ConsumptionModel, F64], summer: tuple[ConsumptionModel, F64]
) -> None:
    model, jan = winter
    _, jul = summer
    assert jan.shape == (240, 28 * 24)
    assert (jan >= 0).all()
    assert (jul >= 0).all()

    days = 28
    electricity = jan[0::4].sum(axis=1) / days
    assert 4.0 < np.median(electricity) < 12.0  # kWh/day: ~2,500 kWh a year, more in winter
    assert electricity.min() > 1.0
    assert electricity.max() < 40.0

    persons = np.array([model.persons(h) for h in model.households])
    litres = jul[1::4].sum(axis=1) * 1000 / days / persons
    assert 80.0 < np.median(litres) < 170.0  # L per person and day

    gas_jan = jan[2::4].sum(axis=1) / days
    gas_jul = jul[2::4].sum(axis=1) / days
    assert 2.0 < np.median(gas_jan) < 12.0  # m³/day with heating
    assert np.median(gas_jul) < 1.0  # hot water and cooking only
    assert (gas_jan > 2 * gas_jul).all()

    heat_jan = jan[3::4].sum(axis=1) / days
    heat_jul = jul[3::4].sum(axis=1) / days
    assert 20.0 < np.median(heat_jan) < 120.0  # kWh/day
    assert np.median(heat_jul) < 0.05 * np.median(heat_jan)


def test_history_is_statistically_like_the_live_path(
    winter: tuple[ConsumptionModel, F64],
) -> None:
    _, history = winter
    live = households(60, seed=11)
    hours = np.array(run(live, JAN, [3600.0] * (3 * 24))).T  # (meters, hours)
    for k, band in enumerate((0.1, 0.25, 0.15)):
        ratio = hours[k::4].sum() / history[k::4, : 3 * 24].sum()
        assert abs(ratio - 1) < band, (KINDS[k], ratio)
    # space heating is not random: the same hour gives the same heat
    np.testing.assert_allclose(hours[3::4], history[3::4, : 3 * 24], rtol=1e-9)


def test_winter_heating_runs_at_night_and_summer_gas_has_silent_hours(
    winter: tuple[ConsumptionModel, F64], summer: tuple[ConsumptionModel, F64]
) -> None:
    _, jan = winter
    _, jul = summer
    night = np.arange(28 * 24) % 24 == 2  # 03:00-04:00 CET
    assert (jan[3::4][:, night] > 0).mean() > 0.95  # heat meters
    assert np.median(jan[2::4][:, night]) > 0.05  # gas m³ in a January night hour
    assert ((jul[2::4] == 0).sum(axis=1) / 28 > 6).mean() > 0.9  # zero-flow gas hours a day


def test_clean_homes_have_zero_flow_hours_and_a_dripping_tap_removes_them(
    summer: tuple[ConsumptionModel, F64],
) -> None:
    _, jul = summer
    water = jul[1::4].reshape(60, 28, 24)
    zero_hours = (water == 0).sum(axis=2)
    assert zero_hours.mean() > 5
    assert (zero_hours >= 1).mean() > 0.99  # Kamstrup-style rule: no false alarm on clean homes
    # the small hours are nearly dry, but not entirely (night toilet visits)
    small_hours = water[:, :, 1:4]
    assert 0.005 < (small_hours > 0).mean() < 0.2

    model = households(10, seed=11)
    for h in range(10):
        model.set_extra_rate(4 * h + 1, 0.015)
    dripping = model.hourly_history(JUL // HOUR, 7 * 24)[1::4]
    assert (dripping >= 0.015 - 1e-12).all()
    assert ((dripping == 0).sum(axis=1) == 0).all()


@settings(max_examples=15, deadline=None)
@given(
    steps=st.lists(st.floats(min_value=1.0, max_value=3600.0), min_size=1, max_size=8),
    per_hour=st.floats(min_value=0.0, max_value=5.0),
)
def test_any_extra_rate_over_any_split_adds_rate_times_duration(
    steps: list[float], per_hour: float
) -> None:
    clean = households(2, seed=13)
    overlaid = households(2, seed=13)
    overlaid.set_extra_rate(5, per_hour)
    bounds = np.cumsum([float(JAN), *steps])  # the call boundaries exactly as ``run`` makes them
    for t0, t1, a, b in zip(
        bounds[:-1], bounds[1:], run(clean, JAN, steps), run(overlaid, JAN, steps), strict=True
    ):
        assert b[5] - a[5] == pytest.approx(per_hour * (t1 - t0) / HOUR, rel=1e-9, abs=1e-15)
        np.testing.assert_array_equal(np.delete(b, 5), np.delete(a, 5))


def test_extra_rate_adds_exactly_its_rate_times_duration() -> None:
    steps = [1.0, 30.0, 600.0, 3600.0, 42.5]
    clean = households(5, seed=4)
    leaky = households(5, seed=4)
    leaky.set_extra_rate(1, 0.015)  # dripping tap, m³/h
    leaky.set_extra_rate(2, 0.22 / 24)  # gas leak, m³/h
    leaky.set_extra_rate(4, 0.03)  # 30 W of standby vampires, kWh/h
    for step, a, b in zip(steps, run(clean, JAN, steps), run(leaky, JAN, steps), strict=True):
        expected = np.zeros(clean.n_meters)
        expected[[1, 2, 4]] = np.array([0.015, 0.22 / 24, 0.03]) * step / HOUR
        np.testing.assert_allclose(b - a, expected, rtol=0, atol=1e-12)
    leaky.set_extra_rate(1, 0.0)
    assert leaky.extra_rate(1) == 0.0
    with pytest.raises(ValueError, match="extra rate"):
        leaky.set_extra_rate(1, -1.0)
    with pytest.raises(IndexError):
        leaky.set_extra_rate(99, 1.0)


def test_fine_and_coarse_steps_agree_over_a_day() -> None:
    """Successive calls of any size sample the same process: a day in 1-minute steps and a day
    in 1-hour steps give the same totals per kind within sampling noise."""
    fine = households(100, seed=3)
    coarse = households(100, seed=3)
    fine_total = np.sum(run(fine, JAN, [60.0] * (24 * 60)), axis=0)
    coarse_total = np.sum(run(coarse, JAN, [3600.0] * 24), axis=0)
    for k, band in enumerate((0.1, 0.2, 0.1, 1e-9)):  # heat is deterministic
        ratio = fine_total[k::4].sum() / coarse_total[k::4].sum()
        assert abs(ratio - 1) < band, (KINDS[k], ratio)


def test_water_draws_carry_across_calls() -> None:
    """A shower lasts minutes: with one-second calls, some meter flows in long unbroken runs."""
    model = households(20, seed=8)
    per_second = np.array(run(model, JAN + 6 * HOUR, [1.0] * 1800))  # 07:00-07:30 CET
    flowing = per_second[:, 1::4] > 0
    longest = 0
    for meter in flowing.T:
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate(([0], meter, [0])))))[::2]
        longest = max(longest, int(runs.max(initial=0)))
    assert longest >= 180


def test_households_share_occupancy_across_their_meters() -> None:
    """Water, electricity and gas of one household rise together; other homes' do not."""
    model = households(30, seed=12)
    hours = model.hourly_history(JUL // HOUR, 14 * 24)
    water = hours[1::4]
    electricity = hours[0::4]
    corr = np.corrcoef(np.concatenate((water, electricity)))[:30, 30:]
    own = np.diag(corr).mean()
    others = corr[~np.eye(30, dtype=bool)].mean()
    assert own > others + 0.1


def test_year_boundary_and_summer_time_are_continuous() -> None:
    model = households(20, seed=1)
    # 2025-12-31 22:00 CET to 2026-01-01 02:00 CET, one minute at a time
    start = NEW_YEAR - 3 * HOUR
    minutes = np.array(run(model, start, [60.0] * 240))
    assert np.isfinite(minutes).all()
    assert (minutes >= 0).all()
    heat_by_hour = minutes[:, 3::4].sum(axis=1).reshape(4, 60).sum(axis=1)
    assert (heat_by_hour > 0).all()
    assert heat_by_hour.max() / heat_by_hour.min() < 1.5
    temps = [model.outdoor_temperature(start + 60 * i) for i in range(241)]
    assert np.abs(np.diff(temps)).max() < 0.2

    # one call across the new year equals the same physics as two calls split at midnight
    a = households(20, seed=1)
    b = households(20, seed=1)
    whole = a.consumption(NEW_YEAR - 1800, NEW_YEAR + 1800)
    assert (whole >= 0).all()
    split = b.consumption(NEW_YEAR - 1800, NEW_YEAR) + b.consumption(NEW_YEAR, NEW_YEAR + 1800)
    np.testing.assert_allclose(whole[3::4], split[3::4], rtol=1e-9)  # heat: deterministic

    across = np.array(run(model, SUMMER_TIME_STARTS - HOUR, [300.0] * 24))
    assert (across >= 0).all()

    history = model.hourly_history(NEW_YEAR // HOUR - 24, 48)
    assert history.shape == (80, 48)
    assert (history[3::4] > 0).all()


def test_indoor_and_outdoor_climate_is_plausible() -> None:
    model = households(8, seed=21)
    times = np.arange(JAN - 5 * DAY, JAN + 360 * DAY, 7 * HOUR + 13 * 60)
    outdoor = np.array([model.outdoor_temperature(float(t)) for t in times])
    month = (times - (JAN - 5 * DAY)) // (30 * DAY)
    assert outdoor[month == 0].mean() < outdoor[month == 6].mean() - 10
    assert outdoor.min() > -30
    assert outdoor.max() < 40
    # time in the outer loop, as a simulator asks: each day's plans are built once
    inside = np.array(
        [[model.indoor_temperature(h, float(t)) for h in model.households] for t in times]
    )
    humidity = np.array(
        [[model.indoor_humidity(h, float(t)) for h in model.households] for t in times]
    )
    assert inside.min() > 15.0
    assert inside.max() < 30.0
    assert humidity.min() >= 18.0
    assert humidity.max() <= 80.0
    assert (np.abs(np.median(inside, axis=0) - 21.0) < 2.5).all()
    assert (np.median(humidity[month == 0], axis=0) < np.median(humidity[month == 6], axis=0)).all()
    with pytest.raises(KeyError):
        model.indoor_temperature(999, JAN)


def test_mean_power_reports_what_runs_now() -> None:
    model = ConsumptionModel([MeterKind.ELECTRICITY, MeterKind.WATER], seed=3)
    model.consumption(JAN + 8 * HOUR, JAN + 8 * HOUR + 60)
    watts = model.mean_power_w(0, JAN + 8 * HOUR + 60, JAN + 8 * HOUR + 120)
    assert 20.0 <= watts < 10_000.0
    model.set_extra_rate(0, 0.5)
    assert model.mean_power_w(0, JAN + 8 * HOUR + 60, JAN + 8 * HOUR + 120) == pytest.approx(
        watts + 500.0
    )
    with pytest.raises(ValueError, match="energy"):
        model.mean_power_w(1, JAN, JAN + 60)
    assert model.mean_rate(1, JAN + 8 * HOUR + 60, JAN + 8 * HOUR + 120) >= 0.0


def test_bad_arguments_are_refused() -> None:
    model = households(1, seed=0)
    with pytest.raises(ValueError, match="empty"):
        model.consumption(JAN, JAN)
    with pytest.raises(ValueError, match="household_of"):
        ConsumptionModel([MeterKind.WATER], seed=0, household_of=[1, 2])
    assert ConsumptionModel([], seed=0).consumption(JAN, JAN + 60).shape == (0,)
    unknown = ConsumptionModel([MeterKind.UNKNOWN], seed=0)
    assert unknown.consumption(JAN, JAN + HOUR).tolist() == [0.0]
