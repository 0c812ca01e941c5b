"""Counters to meter totals: wraps, resets and corrections never make a total fall or spike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dmesh_lib.units import COUNTER_MODULO, MeterConfig, MeterKind, MeterTotalizer, counter_delta


def gas(initial: float = 0.0, counter: int | None = None) -> MeterConfig:
    return MeterConfig(
        MeterKind.GAS, pulses_per_unit=100, initial_reading=initial, initial_counter=counter
    )


def test_constant_and_initial_reading_give_the_printed_figure() -> None:
    meter = MeterTotalizer(gas(initial=1234.56, counter=1000))
    assert meter.update(1000) == pytest.approx(1234.56)
    assert meter.update(1250) == pytest.approx(1237.06)  # 250 imp at 0.01 m³/imp


def test_wrap_counts_forward() -> None:
    meter = MeterTotalizer(MeterConfig(MeterKind.ELECTRICITY, 1000, initial_reading=7.0))
    assert meter.update(COUNTER_MODULO - 10) == pytest.approx(7.0)
    assert meter.update(5) == pytest.approx(7.015)
    assert counter_delta(COUNTER_MODULO - 10, 5) == 15


def test_replaced_module_does_not_drop_the_total() -> None:
    meter = MeterTotalizer(gas(initial=10))
    before = meter.update(5000)
    after = meter.update(3)  # a new module starts near zero
    assert after == pytest.approx(before)
    assert meter.update(103) == pytest.approx(before + 1.0)


def test_user_sets_reading_after_meter_replacement() -> None:
    meter = MeterTotalizer(gas(initial=500))
    meter.update(10_000)
    meter.set_reading(0.5)
    assert meter.total == pytest.approx(0.5)
    assert meter.update(10_100) == pytest.approx(1.5)


def test_first_counter_is_the_reference_without_an_initial_counter() -> None:
    # A module fitted years ago reports 1e9 on its first frame: that is not 1e7 m³ of gas.
    meter = MeterTotalizer(gas(initial=100))
    assert meter.update(1_000_000_000) == pytest.approx(100)


def test_value_at_past_counter_for_backlog() -> None:
    meter = MeterTotalizer(gas(initial=100, counter=100))
    assert meter.update(1000) == pytest.approx(109.0)
    assert meter.value_at(900) == pytest.approx(108.0)
    assert meter.value_at(1100) == pytest.approx(110.0)


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        MeterConfig(MeterKind.WATER, pulses_per_unit=0)


@given(st.lists(st.integers(0, COUNTER_MODULO - 1), min_size=1, max_size=60))
def test_total_never_decreases(counters: list[int]) -> None:
    meter = MeterTotalizer(MeterConfig(MeterKind.WATER, 1000, initial_reading=42.0))
    last = meter.total
    for c in counters:
        total = meter.update(c)
        assert total >= last
        last = total


@given(st.integers(0, COUNTER_MODULO - 1), st.lists(st.integers(0, 10**6), max_size=50))
def test_small_steps_across_wrap_add_up_exactly(start: int, steps: list[int]) -> None:
    meter = MeterTotalizer(MeterConfig(MeterKind.ELECTRICITY, 1, initial_counter=start))
    counter = start
    meter.update(counter)
    for step in steps:
        counter = (counter + step) % COUNTER_MODULO
        meter.update(counter)
    assert meter.pulses == sum(steps)
