"""Phase balancing: the loss model, the greedy plan against brute force, shares, candidates."""

from __future__ import annotations

import numpy as np
import pytest

from balance_grid import loss_by_phase, make_feeder, phase_loss_kwh, recommend_phase_moves
from balance_grid.phases import _objective, exact_assignment, greedy_assignment


def test_loss_of_a_balanced_house_has_no_neutral_part() -> None:
    x = np.ones((3, 24))
    losses = loss_by_phase(x, ["A", "B", "C"])
    assert losses["N"] == pytest.approx(0.0, abs=1e-12)
    # 1 kW per phase at 230 V is 4.35 A; 0.05 ohm gives 0.945 W, 24 h of it 0.0227 kWh
    assert losses["A"] == pytest.approx(0.05 * (1000 / 230) ** 2 * 24 / 1000)
    assert phase_loss_kwh(x, ["A", "B", "C"]).sum() == pytest.approx(sum(losses.values()))


def test_all_on_one_phase_loses_more_than_spread() -> None:
    x = np.ones((3, 24))
    assert phase_loss_kwh(x, ["A", "A", "A"]).sum() > 4 * phase_loss_kwh(x, ["A", "B", "C"]).sum()


def test_moves_balance_an_unbalanced_house() -> None:
    x = np.ones((6, 24))
    plan = recommend_phase_moves(x, ["A"] * 6, [f"f{i}" for i in range(6)], max_moves=5)
    assert len(plan.moves) == 4
    assert plan.phase_kwh_after == pytest.approx({"A": 48.0, "B": 48.0, "C": 48.0})
    assert plan.loss_after_kwh < plan.loss_before_kwh
    assert plan.reduction_pct == pytest.approx(
        100 * (plan.loss_before_kwh - plan.loss_after_kwh) / plan.loss_before_kwh
    )
    assert all(m.from_phase == "A" and m.to_phase in {"B", "C"} for m in plan.moves)


def test_the_cap_on_moves_is_kept() -> None:
    x = np.ones((9, 24))
    for cap in (0, 1, 2):
        plan = recommend_phase_moves(x, ["A"] * 9, [f"f{i}" for i in range(9)], max_moves=cap)
        assert len(plan.moves) == cap


def test_greedy_matches_brute_force_on_small_houses() -> None:
    """On random small houses the greedy plan is within a few per cent of the optimum."""
    rng = np.random.default_rng(2026)
    ratios = []
    for _ in range(120):
        n = int(rng.integers(3, 9))
        x = rng.gamma(1.0, 1.0, (n, 48)) * rng.lognormal(0.0, 0.8, n)[:, None]
        idx = rng.integers(0, 3, n).astype(np.intp)
        cap = int(rng.integers(1, 4))
        greedy, exact = greedy_assignment(x, idx, cap), exact_assignment(x, idx, cap)
        assert int((greedy != idx).sum()) <= cap
        base = _objective(x, idx)
        assert _objective(x, greedy) <= base + 1e-9
        assert _objective(x, exact) <= _objective(x, greedy) + 1e-9
        gained = base - _objective(x, exact)
        ratios.append((base - _objective(x, greedy)) / gained if gained > 0 else 1.0)
    assert float(np.mean(ratios)) >= 0.95
    assert float(np.mean(np.isclose(ratios, 1.0))) >= 0.8


def test_greedy_matches_brute_force_on_household_profiles() -> None:
    feeder = make_feeder(9, 7, seed=3)
    idx = np.array(["ABC".index(p) for p in feeder.phases], dtype=np.intp)
    for cap in (1, 2, 3):
        greedy = greedy_assignment(feeder.true_kwh, idx, cap)
        exact = exact_assignment(feeder.true_kwh, idx, cap)
        base = _objective(feeder.true_kwh, idx)
        assert base - _objective(feeder.true_kwh, greedy) >= 0.95 * (
            base - _objective(feeder.true_kwh, exact)
        )


def test_loss_shares_add_up_to_one() -> None:
    feeder = make_feeder(40, 5, seed=1)
    plan = recommend_phase_moves(feeder.true_kwh, feeder.phases, feeder.meter_ids)
    assert sum(plan.loss_share.values()) == pytest.approx(1.0)
    assert set(plan.loss_share) == set(feeder.meter_ids)
    assert sum(plan.phase_kwh_before.values()) == pytest.approx(float(feeder.true_kwh.sum()))
    assert sum(plan.phase_kwh_after.values()) == pytest.approx(float(feeder.true_kwh.sum()))


def test_a_big_consumer_is_a_multi_phase_candidate() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0.2, 0.6, (12, 48))
    x[4] += 6.0  # a heat pump on one phase
    phases = ["A", "B", "C"] * 4
    plan = recommend_phase_moves(x, phases, [f"f{i}" for i in range(12)], max_moves=0)
    assert plan.multi_phase_candidates[0] == "f4"
    assert max(plan.loss_share, key=plan.loss_share.__getitem__) == "f4"


def test_missing_hours_count_as_no_load() -> None:
    x = np.ones((3, 24))
    x[0, :12] = np.nan
    plan = recommend_phase_moves(x, ["A", "B", "C"], ["a", "b", "c"])
    assert plan.phase_kwh_before["A"] == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("phases", "ids", "cap", "match"),
    [
        (["A", "B"], ["a", "b", "c"], 5, "phases given"),
        (["A", "B", "D"], ["a", "b", "c"], 5, "unknown phase"),
        (["A", "B", "C"], ["a", "b"], 5, "meter ids given"),
        (["A", "B", "C"], ["a", "a", "c"], 5, "unique"),
        (["A", "B", "C"], ["a", "b", "c"], -1, "max_moves"),
    ],
)
def test_bad_input_is_rejected(phases: list[str], ids: list[str], cap: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        recommend_phase_moves(np.ones((3, 4)), phases, ids, max_moves=cap)


def test_negative_consumption_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        recommend_phase_moves(-np.ones((1, 4)), ["A"], ["a"])


def test_exact_solver_refuses_big_houses() -> None:
    with pytest.raises(ValueError, match="too many"):
        exact_assignment(np.ones((13, 2)), np.zeros(13, dtype=np.intp), 2)
