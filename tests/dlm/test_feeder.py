"""The feeder simulation: same households for every strategy, honest bookkeeping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlm.feeder import (
    DAY_MIN,
    FeederComparison,
    FeederScenario,
    Households,
    Strategy,
    TransformerGuard,
    compare_strategies,
    generate_households,
    plot_day,
    waterfill_cap,
)

SMALL = FeederScenario(houses=120, days=2, participation=0.5, seed=4)


@pytest.fixture(scope="module")
def small_households() -> Households:
    return generate_households(SMALL)


@pytest.fixture(scope="module")
def small_run(small_households: Households) -> FeederComparison:
    return compare_strategies(SMALL, small_households, strategies=tuple(Strategy), progress=None)


def test_households_follow_the_scenario(small_households: Households) -> None:
    h = small_households
    assert h.base_w.shape == (SMALL.minutes, SMALL.houses)
    assert h.base_w.min() >= 0.0
    assert np.all(np.diff(h.event_minute) >= 0)
    assert h.event_bounds[-1] == h.event_minute.size
    green = h.event_deadline >= 0
    # Every green run the households ask for can be finished uncontrolled.
    run_min = h.event_energy_wh[green] / h.rated_w[h.event_house[green], h.event_slot[green]] * 60
    assert np.all(h.event_minute[green] + run_min <= h.event_deadline[green])
    assert np.all(h.event_deadline < SMALL.minutes)
    assert 0.3 < h.participates.mean() < 0.7


def test_no_control_switches_nothing_and_misses_nothing(small_run: FeederComparison) -> None:
    free = small_run.outcomes[Strategy.NO_CONTROL]
    assert free.switches == 0
    assert free.green_deadlines_missed == 0
    assert free.minutes_over_limit > 0
    assert free.green_runs > 0


def test_every_strategy_serves_the_same_energy(small_run: FeederComparison) -> None:
    energy = {
        s: float(o.transformer_w.sum()) / 60_000.0 + o.unserved_at_end_kwh
        for s, o in small_run.outcomes.items()
    }
    reference = energy[Strategy.NO_CONTROL]
    for value in energy.values():
        assert value == pytest.approx(reference, rel=1e-9)


def test_dlm_keeps_comfort_and_cuts_the_overload(small_run: FeederComparison) -> None:
    dlm = small_run.outcomes[Strategy.DLM]
    assert dlm.comfort_violations == 0
    assert dlm.yellow_longest_off_min <= SMALL.yellow_max_off_s / 60
    assert small_run.over_limit_reduction_pct(Strategy.DLM) >= 80.0
    assert small_run.moved_to_night_kwh(Strategy.DLM) > 0.0
    assert dlm.unserved_at_end_kwh == 0.0


def test_the_blueprint_breaks_comfort_bounds_it_does_not_know(
    small_run: FeederComparison,
) -> None:
    blueprint = small_run.outcomes[Strategy.BLUEPRINT]
    assert blueprint.yellow_longest_off_min > SMALL.yellow_max_off_s / 60
    assert blueprint.switches > small_run.outcomes[Strategy.DLM].switches


def test_per_house_engines_decide_exactly_as_the_batch() -> None:
    scenario = FeederScenario(
        houses=4, days=1, participation=1.0, seed=7, transformer_limit_w=4 * 1200.0
    )
    households = generate_households(scenario)
    only = (Strategy.NO_CONTROL, Strategy.DLM)
    batch = compare_strategies(scenario, households, strategies=only, progress=None)
    engines = compare_strategies(
        scenario, households, strategies=only, progress=None, per_house_engines=True
    )
    a, b = batch.outcomes[Strategy.DLM], engines.outcomes[Strategy.DLM]
    # The comparison means something only if DLM and the guard had work to do.
    assert a.switches > 100
    assert batch.guard_engagements[Strategy.DLM] > 10
    assert a.switches == b.switches
    np.testing.assert_array_equal(a.transformer_w, b.transformer_w)


def test_waterfill_cap_takes_exactly_the_reduction_from_the_biggest() -> None:
    rng = np.random.default_rng(1)
    loads = rng.uniform(200.0, 9000.0, 300)
    for reduction in (1.0, 5_000.0, 100_000.0):
        cap = waterfill_cap(loads, reduction, floor_w=0.0)
        assert np.maximum(loads - cap, 0.0).sum() == pytest.approx(reduction)
    assert waterfill_cap(loads, 10e9, floor_w=1500.0) == 1500.0
    assert waterfill_cap(loads, 0.0, floor_w=0.0) == loads.max()


def test_the_guard_engages_tightens_and_lets_go_one_group_at_a_time() -> None:
    guard = TransformerGuard(limit_w=100_000.0, level=1, houses=20, groups=4)
    loads = np.full(20, 5000.0)
    first = guard.update(0, 100_000.0, loads)
    assert first.active(1).all()
    assert (first.level == 1).all()
    assert first.cap_w == pytest.approx(np.full(20, 5000.0 - 10_000.0 / 20))
    assert not first.active(int(first.until_minute[0])).any()
    tighter = guard.update(1, 97_000.0, loads * 0.9)
    assert (tighter.cap_w <= first.cap_w).all()
    held = guard.update(2, 90_000.0, loads)  # between the lines: hold, renew
    assert held.active(3).all()
    released = [int(guard.update(m, 50_000.0, loads).active(m + 1).sum()) for m in range(3, 8)]
    assert released == [15, 10, 5, 0, 0]
    again = guard.update(8, 99_000.0, loads)
    assert again.active(9).all()
    assert guard.engagements == 2


def test_the_day_figure_is_drawn(small_run: FeederComparison, tmp_path: Path) -> None:
    path = tmp_path / "day.png"
    day = plot_day(small_run, str(path))
    assert 0 <= day < SMALL.days
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_tail_serves_what_the_last_night_deferred() -> None:
    assert SMALL.minutes == SMALL.days * DAY_MIN + 9 * 60
    with pytest.raises(ValueError, match="calendar year"):
        generate_households(
            FeederScenario(houses=2, days=3, start=SMALL.start.replace(month=12, day=30))
        )
