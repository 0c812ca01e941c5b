"""Tariffs: time-of-use, progressive steps, contract power, and restorable accumulation."""

from __future__ import annotations

import json
from datetime import datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balance_analytics import (
    ContractPower,
    PriceSchedule,
    PriceStep,
    TariffAccumulator,
    TariffPlan,
    TariffZone,
    TimeWindow,
)

from .households import HOUR, TZ, midnight

DAY_NIGHT = TariffPlan.day_night(day_price=2.0, night_price=1.0, tz=TZ)


def test_night_hours_are_billed_at_the_night_price() -> None:
    acc = TariffAccumulator(DAY_NIGHT)
    day = midnight(2025, 5, 5)
    for h in range(24):
        acc.add(day + h * HOUR, day + (h + 1) * HOUR, 1.0)
    assert acc.totals["night"].consumption == pytest.approx(8.0)  # 00-07 and 23-24
    assert acc.totals["day"].consumption == pytest.approx(16.0)
    assert acc.total_cost == pytest.approx(8 * 1.0 + 16 * 2.0)


def test_a_reading_across_the_zone_edge_is_split_by_time() -> None:
    acc = TariffAccumulator(DAY_NIGHT)
    t0 = int(datetime(2025, 5, 5, 22, 30, tzinfo=TZ).timestamp())
    acc.add(t0, t0 + HOUR, 2.0)  # 22:30-23:30
    assert acc.totals["day"].consumption == pytest.approx(1.0)
    assert acc.totals["night"].consumption == pytest.approx(1.0)


def test_peak_window_on_workdays_only() -> None:
    plan = TariffPlan(
        (
            TariffZone("peak", PriceSchedule.flat(3.0), (TimeWindow.parse("Mon-Fri 17:00-20:00"),)),
            TariffZone("night", PriceSchedule.flat(1.0), (TimeWindow.parse("23:00-07:00"),)),
            TariffZone("day", PriceSchedule.flat(2.0)),
        ),
        TZ,
    )
    friday_6pm = datetime(2025, 5, 9, 18, 0, tzinfo=TZ).timestamp()
    saturday_6pm = datetime(2025, 5, 10, 18, 0, tzinfo=TZ).timestamp()
    assert plan.zone_at(friday_6pm).name == "peak"
    assert plan.zone_at(saturday_6pm).name == "day"


def test_social_norm_first_100_kwh_cheap_then_dearer_and_it_restarts_each_month() -> None:
    plan = TariffPlan.flat(PriceSchedule.parse("100:1.0, *:2.0"), TZ)
    acc = TariffAccumulator(plan)
    may = midnight(2025, 5, 1)
    for d in range(30):
        acc.add(may + d * 24 * HOUR, may + (d + 1) * 24 * HOUR, 5.0)  # 150 kWh in May
    assert acc.total_cost == pytest.approx(100 * 1.0 + 50 * 2.0)
    assert acc.price_now(may + 30 * 24 * HOUR - 1) == 2.0
    june = midnight(2025, 6, 1)
    acc.add(june, june + 24 * HOUR, 5.0)  # the new month starts at the social price again
    assert acc.total_cost == pytest.approx(200.0 + 5.0)
    assert acc.price_now(june + 24 * HOUR) == 1.0


def test_contract_power_exceedance_goes_to_the_penalty_zone() -> None:
    plan = TariffPlan(
        (TariffZone("base", PriceSchedule.flat(0.2)),),
        TZ,
        ContractPower(limit_kw=5.0, penalty_price=1.0),
    )
    acc = TariffAccumulator(plan)
    t = midnight(2025, 5, 5) + 18 * HOUR
    for quarter in range(4):
        acc.add(t + quarter * 900, t + (quarter + 1) * 900, 2.0)  # 8 kWh in one hour
    acc.add(t + HOUR, t + 2 * HOUR, 4.0)  # the next hour stays under the limit
    assert acc.totals["base"].consumption == pytest.approx(5.0 + 4.0)
    assert acc.totals["penalty"].consumption == pytest.approx(3.0)
    assert acc.total_cost == pytest.approx(9 * 0.2 + 3 * 1.0)


def test_state_survives_a_restart_as_json() -> None:
    plan = TariffPlan.flat(PriceSchedule.parse("100:1.0, *:2.0"), TZ)
    acc = TariffAccumulator(plan)
    t = midnight(2025, 5, 1)
    acc.add(t, t + 24 * HOUR, 90.0)
    restored = TariffAccumulator.from_dict(plan, json.loads(json.dumps(acc.to_dict())))
    restored.add(t + 24 * HOUR, t + 48 * HOUR, 20.0)
    assert restored.total_consumption == pytest.approx(110.0)
    assert restored.total_cost == pytest.approx(100 * 1.0 + 10 * 2.0)


def test_readings_sent_twice_are_counted_once() -> None:
    acc = TariffAccumulator(DAY_NIGHT)
    t = midnight(2025, 5, 5) + 12 * HOUR
    acc.add(t, t + HOUR, 1.0)
    assert acc.add(t, t + HOUR, 1.0) == 0.0
    acc.add(t + 1800, t + 2 * HOUR, 1.5)  # half of it was already counted
    assert acc.total_consumption == pytest.approx(2.0)


def test_dst_night_is_still_23_to_7_local() -> None:
    acc = TariffAccumulator(DAY_NIGHT)
    t0 = midnight(2025, 3, 30)  # clocks go forward at 03:00 in Chisinau
    t1 = midnight(2025, 3, 31)
    assert (t1 - t0) // HOUR == 23
    for h in range((t1 - t0) // HOUR):
        acc.add(t0 + h * HOUR, t0 + (h + 1) * HOUR, 1.0)
    assert acc.totals["night"].consumption == pytest.approx(7.0)
    assert acc.totals["day"].consumption == pytest.approx(16.0)


ONE = PriceSchedule.flat(1.0)


def test_plans_must_be_unambiguous() -> None:
    with pytest.raises(ValueError, match="no windows"):
        TariffPlan((TariffZone("night", ONE, (TimeWindow.parse("23:00-07:00"),)),))
    with pytest.raises(ValueError, match="unique"):
        TariffPlan((TariffZone("a", ONE), TariffZone("a", ONE)))
    with pytest.raises(ValueError, match="increasing"):
        PriceSchedule.parse("200:1.0, 100:2.0, *:3.0")
    with pytest.raises(ValueError, match="weekday"):
        TimeWindow.parse("Fri-Mon 10:00-12:00")


def test_window_text_round_trip_examples() -> None:
    assert str(TimeWindow.parse("mon-fri 7:00-23:00")) == "Mon-Fri 07:00-23:00"
    assert str(TimeWindow.parse("Sat,Sun 00:00-24:00")) == "Sat-Sun 00:00-24:00"
    assert TimeWindow.parse("23:00-07:00").contains(datetime(2025, 1, 1, 3, 0, tzinfo=TZ))
    assert not TimeWindow.parse("Mon-Fri 23:00-07:00").contains(
        datetime(2025, 1, 5, 3, 0, tzinfo=TZ)  # Sunday 03:00 belongs to Saturday night
    )


# --- properties -------------------------------------------------------------------------------

prices = st.floats(min_value=0, max_value=10, allow_nan=False).map(lambda p: round(p, 4))
volumes = st.floats(min_value=0, max_value=1000, allow_nan=False)


@st.composite
def schedules(draw: st.DrawFn) -> PriceSchedule:
    limits = sorted(set(draw(st.lists(st.integers(1, 500), max_size=4))))
    steps = [PriceStep(float(limit), draw(prices)) for limit in limits]
    return PriceSchedule((*steps, PriceStep(None, draw(prices))))


@given(schedules(), volumes, volumes, volumes)
def test_progressive_cost_is_additive(
    schedule: PriceSchedule, before: float, a: float, b: float
) -> None:
    whole = schedule.cost(before, a + b)
    parts = schedule.cost(before, a) + schedule.cost(before + a, b)
    assert whole == pytest.approx(parts, rel=1e-9, abs=1e-9)


@given(schedules(), volumes, volumes)
def test_progressive_cost_lies_between_cheapest_and_dearest_step(
    schedule: PriceSchedule, before: float, amount: float
) -> None:
    cost = schedule.cost(before, amount)
    low = min(s.price for s in schedule.steps) * amount
    high = max(s.price for s in schedule.steps) * amount
    assert low - 1e-9 <= cost <= high + 1e-9


@given(schedules())
def test_schedule_text_round_trip(schedule: PriceSchedule) -> None:
    assert PriceSchedule.parse(str(schedule)) == schedule


@st.composite
def windows(draw: st.DrawFn) -> TimeWindow:
    start = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    end = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    days = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    return TimeWindow(start, end, days)


@given(windows())
def test_window_text_round_trip(window: TimeWindow) -> None:
    assert TimeWindow.parse(str(window)) == window


@st.composite
def readings(draw: st.DrawFn) -> list[tuple[int, int, float]]:
    t = midnight(2025, 3, 28) + draw(st.integers(0, 48)) * 900
    out = []
    for _ in range(draw(st.integers(1, 40))):
        length = draw(st.sampled_from([60, 300, 900, 1800, 3600, 5400]))
        out.append((t, t + length, draw(st.floats(0, 6, allow_nan=False))))
        t += length
    return out


RICH_PLAN = TariffPlan(
    (
        TariffZone(
            "peak", PriceSchedule.parse("50:3.0, *:4.0"), (TimeWindow.parse("Mon-Fri 17:30-20:00"),)
        ),
        TariffZone("night", PriceSchedule.flat(1.0), (TimeWindow.parse("23:00-07:00"),)),
        TariffZone("day", PriceSchedule.parse("30:2.0, *:2.5")),
    ),
    TZ,
    ContractPower(limit_kw=3.0, penalty_price=5.0),
)


@settings(max_examples=60, deadline=None)
@given(readings(), st.integers(0, 39), st.floats(0.05, 0.95))
def test_accumulation_does_not_depend_on_how_readings_are_cut_or_when_it_restarts(
    stream: list[tuple[int, int, float]], cut_at: int, fraction: float
) -> None:
    whole = TariffAccumulator(RICH_PLAN)
    for t0, t1, amount in stream:
        whole.add(t0, t1, amount)

    split = TariffAccumulator(RICH_PLAN)
    for i, (t0, t1, amount) in enumerate(stream):
        if i == cut_at % len(stream):
            mid = t0 + (t1 - t0) * fraction
            split.add(t0, mid, amount * fraction)
            split = TariffAccumulator.from_dict(RICH_PLAN, json.loads(json.dumps(split.to_dict())))
            split.add(mid, t1, amount * (1 - fraction))
        else:
            split.add(t0, t1, amount)

    total = sum(a for _, _, a in stream)
    assert whole.total_consumption == pytest.approx(total, abs=1e-9)
    for name in RICH_PLAN.zone_names:
        assert split.totals[name].consumption == pytest.approx(
            whole.totals[name].consumption, abs=1e-9
        )
        assert split.totals[name].cost == pytest.approx(whole.totals[name].cost, abs=1e-8)
