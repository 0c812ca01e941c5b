"""Finding the loss: each method on its own, then the combined ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from balance_grid import (
    changepoint_coefficients,
    forecast_change,
    honesty_coefficients,
    imbalance_correlation,
    make_feeder,
    rank_suspects,
)


def test_honesty_coefficients_recover_the_scale_of_a_constant_theft() -> None:
    f = make_feeder(60, 20, thieves=1, seed=11, attacks=("h1",), onset_window=(0.0, 0.0))
    i = f.meter_ids.index(f.dishonest[0])
    alpha = f.reported_kwh[i].sum() / f.true_kwh[i].sum()
    fit = honesty_coefficients(f.input_kwh, f.reported_kwh)
    assert fit.coefficients[i] == pytest.approx(1 / alpha, rel=0.1)
    honest = np.delete(fit.coefficients, i)
    assert float(np.median(np.abs(honest - 1.0))) < 0.05
    assert int(np.argmax(fit.z)) == i
    # the fitted technical loss is close to the simulated one
    assert np.nansum(fit.technical_kwh) == pytest.approx(f.technical_kwh.sum(), rel=0.25)


def test_honest_feeder_has_coefficients_near_one() -> None:
    f = make_feeder(40, 14, seed=12)
    fit = honesty_coefficients(f.input_kwh, f.reported_kwh)
    assert float(np.median(fit.coefficients)) == pytest.approx(1.0, abs=0.02)


def test_imbalance_correlates_with_the_thief() -> None:
    f = make_feeder(60, 20, thieves=1, seed=13, attacks=("h1",), onset_window=(0.0, 0.0))
    corr = imbalance_correlation(f.input_kwh, f.reported_kwh)
    i = f.meter_ids.index(f.dishonest[0])
    assert int(np.argmax(corr)) == i
    assert corr[i] > 0.3
    assert np.all(np.abs(corr) <= 1.0)


@pytest.mark.parametrize("kind", ["stuck", "h5", "h4"])
def test_forecast_change_finds_when_it_started(kind: str) -> None:
    theft = kind.startswith("h")
    f = make_feeder(60, 30, thieves=int(theft), faulty=int(not theft), seed=14, attacks=(kind,))
    fit = forecast_change(f.input_kwh, f.reported_kwh, f.hours)
    i = f.meter_ids.index(f.dishonest[0])
    onset_day = (f.onset[f.dishonest[0]] - f.hours[0]).days
    assert int(np.argmax(fit.statistic)) == i
    assert abs(int(fit.onset_day[i]) - onset_day) <= 2
    assert fit.explained[i] > 0.3


def test_forecast_change_reports_the_shortfall() -> None:
    f = make_feeder(40, 20, faulty=1, seed=15, attacks=("stuck",))
    fit = forecast_change(f.input_kwh, f.reported_kwh, f.hours)
    i = f.meter_ids.index(f.dishonest[0])
    first = f.hours.index(f.onset[f.dishonest[0]])
    assert fit.drop_pct[i] == pytest.approx(100.0, abs=5.0)
    assert fit.kwh_lost[i] == pytest.approx(f.true_kwh[i, first:].sum(), rel=0.35)


def test_a_holiday_is_not_a_theft() -> None:
    """A household that goes away uses less, but the imbalance does not rise with it."""
    f = make_feeder(50, 24, seed=16)
    reported = f.reported_kwh.copy()
    reported[7, 12 * 24 :] *= 0.15
    true = f.true_kwh.copy()
    true[7, 12 * 24 :] *= 0.15  # really away: the group meter sees the drop too
    inp = true.sum(axis=0) + f.technical_kwh
    fit = forecast_change(inp, reported, f.hours)
    assert fit.statistic[7] < 0


def test_changepoint_coefficients_recover_the_share_after_the_onset() -> None:
    f = make_feeder(60, 30, thieves=1, seed=31, attacks=("h1",))
    i = f.meter_ids.index(f.dishonest[0])
    onset_day = (f.onset[f.dishonest[0]] - f.hours[0]).days
    first = onset_day * 24
    alpha = f.reported_kwh[i, first:].sum() / f.true_kwh[i, first:].sum()
    onsets = np.full(60, 10, dtype=np.intp)
    onsets[i] = onset_day
    fit = changepoint_coefficients(f.input_kwh, f.reported_kwh, f.hours, onsets)
    assert int(np.argmax(fit.statistic)) == i
    # the scale and the forecast shortfall share the theft; together they give back the use
    after = f.reported_kwh[i, first:]
    forecast = f.reported_kwh[i, :first].reshape(-1, 24).mean(axis=0)
    hidden = (fit.after_coefficient[i] - 1.0) * after.sum() + fit.shortfall_coefficient[i] * (
        np.tile(forecast, after.size // 24).sum() - after.sum()
    )
    assert hidden == pytest.approx(after.sum() * (1 / alpha - 1), rel=0.3)
    honest = np.delete(fit.statistic, i)
    assert float(np.median(honest)) < 0.05 * float(fit.statistic[i])


def test_changepoint_coefficients_score_nothing_without_a_change_day() -> None:
    f = make_feeder(20, 10, faulty=1, seed=32, attacks=("stuck",))
    fit = changepoint_coefficients(f.input_kwh, f.reported_kwh, f.hours, np.full(20, -1))
    assert np.all(fit.statistic == 0.0)
    with pytest.raises(ValueError, match="onset_day"):
        changepoint_coefficients(f.input_kwh, f.reported_kwh, f.hours, np.zeros(3, np.intp))


def test_shortfall_finds_hidden_hours_and_their_day() -> None:
    f = make_feeder(60, 30, thieves=1, seed=33, attacks=("h2",))
    i = f.meter_ids.index(f.dishonest[0])
    onset_day = (f.onset[f.dishonest[0]] - f.hours[0]).days
    fit = forecast_change(f.input_kwh, f.reported_kwh, f.hours)
    assert int(np.argmax(fit.shortfall_statistic)) == i
    assert abs(int(fit.shortfall_onset_day[i]) - onset_day) <= 2


@pytest.mark.parametrize("seed", [2, 3])
def test_shape_shortfall_finds_use_moved_between_hours(seed: int) -> None:
    """h5 reports each day's mean in every hour: the day's energy is kept, so the plain shortfall
    against the own forecast may miss it (ranked 37th and 4th on these seeds); against the
    forecast scaled to the day's own readings it stands first."""
    f = make_feeder(100, 30, thieves=1, seed=seed, attacks=("h5",))
    i = f.meter_ids.index(f.dishonest[0])
    fit = forecast_change(f.input_kwh, f.reported_kwh, f.hours)
    assert int(np.argmax(fit.shape_shortfall_statistic)) == i
    assert int(np.argmax(fit.shortfall_statistic)) != i


def test_a_holiday_has_a_negative_shortfall() -> None:
    f = make_feeder(50, 24, seed=16)
    reported = f.reported_kwh.copy()
    reported[7, 12 * 24 :] *= 0.15
    true = f.true_kwh.copy()
    true[7, 12 * 24 :] *= 0.15
    inp = true.sum(axis=0) + f.technical_kwh
    fit = forecast_change(inp, reported, f.hours)
    assert fit.shortfall_statistic[7] < 0
    # the day's shape is the same at 15 %: nothing moved between hours either
    assert fit.shape_shortfall_statistic[7] < 0
    # the same drop, hidden from the group meter, is the clearest suspect
    hidden = forecast_change(f.true_kwh.sum(axis=0) + f.technical_kwh, reported, f.hours)
    assert int(np.argmax(hidden.shortfall_statistic)) == 7


def test_too_short_a_window_finds_no_change() -> None:
    f = make_feeder(5, 3, seed=1)
    fit = forecast_change(f.input_kwh, f.reported_kwh, f.hours)
    assert np.all(fit.onset_day == -1)
    assert np.all(fit.shortfall_onset_day == -1)
    assert np.all(fit.shortfall_statistic == 0)


@pytest.mark.parametrize("kind", ["h1", "h6", "stuck"])
def test_rank_suspects_puts_the_culprit_first(kind: str) -> None:
    theft = kind.startswith("h")
    f = make_feeder(80, 30, thieves=int(theft), faulty=int(not theft), seed=21, attacks=(kind,))
    suspects = rank_suspects(f.input_kwh, f.reported_kwh, f.meter_ids, f.hours)
    assert [s.meter_id for s in suspects][:1] == f.dishonest
    assert sorted(s.meter_id for s in suspects) == sorted(f.meter_ids)
    assert all(0.0 <= s.score <= 1.0 for s in suspects)
    assert [s.score for s in suspects] == sorted((s.score for s in suspects), reverse=True)
    top = suspects[0]
    assert top.score > 0.5 > suspects[-1].score
    assert top.evidence.endswith(".")
    if kind == "stuck":
        assert top.since is not None
        assert abs(top.since - f.onset[top.meter_id]) <= timedelta(days=2)
        assert top.kwh_lost > 0


def test_rank_suspects_finds_a_magnet_among_several_culprits() -> None:
    """A magnet the earlier combination ranked 17th, behind honest households (seed chosen so)."""
    f = make_feeder(100, 30, thieves=2, faulty=2, seed=42, attacks=("h1", "h3", "stuck", "magnet"))
    magnet = next(m for m in f.dishonest if f.attack[m] == "magnet")
    suspects = rank_suspects(f.input_kwh, f.reported_kwh, f.meter_ids, f.hours)
    assert magnet in {s.meter_id for s in suspects[:6]}


def test_rank_suspects_on_several_culprits() -> None:
    f = make_feeder(100, 30, thieves=4, faulty=2, seed=22)
    suspects = rank_suspects(f.input_kwh, f.reported_kwh, f.meter_ids, f.hours)
    top = {s.meter_id for s in suspects[:8]}
    assert len(top & set(f.dishonest)) >= 4


def test_gaps_in_a_meter_do_not_make_it_a_suspect() -> None:
    f = make_feeder(60, 20, thieves=1, seed=23, attacks=("h1",))
    reported = f.reported_kwh.copy()
    honest = next(i for i, m in enumerate(f.meter_ids) if m not in f.dishonest)
    reported[honest, 100:160] = np.nan
    inp = f.input_kwh.copy()
    inp[300:310] = np.nan
    suspects = rank_suspects(inp, reported, f.meter_ids, f.hours)
    assert suspects[0].meter_id == f.dishonest[0]
    assert f.meter_ids[honest] not in {s.meter_id for s in suspects[:5]}


def test_hours_need_not_start_at_midnight() -> None:
    f = make_feeder(30, 10, faulty=1, seed=24, attacks=("stuck",))
    suspects = rank_suspects(f.input_kwh[5:], f.reported_kwh[:, 5:], f.meter_ids, f.hours[5:])
    assert suspects[0].meter_id == f.dishonest[0]


def test_empty_group() -> None:
    hours = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(3)]
    assert rank_suspects(np.ones(3), np.zeros((0, 3)), [], hours) == []


@pytest.mark.parametrize(
    ("inp", "subs", "ids", "hours", "match"),
    [
        (np.ones(48), np.ones((2, 47)), ["a", "b"], 48, r"\(N, 48\)"),
        (np.ones(48), np.ones((2, 48)), ["a"], 48, "meter ids given"),
        (np.ones(48), np.ones((2, 48)), ["a", "a"], 48, "unique"),
        (np.ones(48), np.ones((2, 48)), ["a", "b"], 47, "hours given"),
        (np.full(48, np.inf), np.ones((2, 48)), ["a", "b"], 48, "infinite"),
        (np.ones(48), np.ones(48), ["a", "b"], 48, r"\(N, T\)"),
    ],
)
def test_bad_input_is_rejected(
    inp: np.ndarray, subs: np.ndarray, ids: list[str], hours: int, match: str
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match=match):
        rank_suspects(inp, subs, ids, [start + timedelta(hours=h) for h in range(hours)])


def test_hours_must_be_aware_and_increasing() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    naive = [datetime(2026, 1, 1) + timedelta(hours=h) for h in range(48)]
    with pytest.raises(ValueError, match="timezone-aware"):
        forecast_change(np.ones(48), np.ones((1, 48)), naive)
    backwards = [start - timedelta(hours=h) for h in range(48)]
    with pytest.raises(ValueError, match="increasing"):
        forecast_change(np.ones(48), np.ones((1, 48)), backwards)


def test_agreeing_moderate_evidence_outweighs_one_large_statistic() -> None:
    """Two methods 2 SD up beat one method 3.5 SD up (a root of the sum of squares says 2.8)."""
    from balance_grid.losses import _combine

    combined = _combine(np.array([2.0, 3.5, -4.0]), np.array([2.0, 0.0, 1.0]))
    assert combined[0] > combined[1]
    # a method that cannot see an attack kind does not count against it
    assert combined[2] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kind", "seed", "within"), [("h3", 502, 1), ("under_registration", 8506, 3)]
)
def test_rank_suspects_adds_up_small_agreeing_evidence(kind: str, seed: int, within: int) -> None:
    """Small thefts a root of the sum of squares ranked 5th and 6th (tuning seeds)."""
    theft = kind.startswith("h")
    f = make_feeder(100, 30, thieves=int(theft), faulty=int(not theft), seed=seed, attacks=(kind,))
    suspects = rank_suspects(f.input_kwh, f.reported_kwh, f.meter_ids, f.hours)
    assert f.dishonest[0] in [s.meter_id for s in suspects][:within]
