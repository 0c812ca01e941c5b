"""Loss localisation on synthetic feeders: AUC, precision@k, top-1/top-3, delay, and speed.

Feeders come from ``balance_grid.synthetic``: N households from the archetype library behind one
group meter that also sees the feeder's technical loss (3 %), honest meters with class-1 errors,
and dishonest ones (Jokar et al. 2016 attacks h1-h6; under-registration, stuck register, magnet)
starting on a random day in the first 20-60 % of the window. Everything is analysed with
``rank_suspects`` exactly as the aggregator calls it.

* Localisation: one dishonest meter per feeder, each of the nine kinds on every seed; top-1 and
  top-3 are the shares of feeders where it is ranked first / in the first three.
* Detection: k dishonest meters of N per feeder (mixed kinds); AUC from the ranking over all
  meters, precision@k the share of the first k that are dishonest.
* Delay: for the single-meter feeders, the window is grown one day at a time from the onset; the
  delay is the first whole day after which the meter is in the top 3 and stays there.
* From the start: the same localisation with attacks present in the whole window (no change
  point to find) — reported separately because only methods 1 and 2 can see those.
* Sensitivity (full run only): detection again with a group meter ten times quieter (0.02 %
  random error per hour instead of 0.2 %), to show how much of the miss is the meter's noise.
* Speed: a 500-subscriber feeder over 60 days, balance + suspects + phase plan, best of three.

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# run as a script from a checkout without an editable install, as `make bench` may
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from balance_grid import group_balance, make_feeder, rank_suspects, recommend_phase_moves
from balance_grid.synthetic import (
    FAULT_KINDS,
    GROUP_METER_NOISE,
    THEFT_ATTACKS,
    SyntheticFeeder,
)

KINDS = THEFT_ATTACKS + FAULT_KINDS


def _single(kind: str, seed: int, n: int, days: int, onset: tuple[float, float]) -> SyntheticFeeder:
    theft = kind in THEFT_ATTACKS
    return make_feeder(
        n,
        days,
        thieves=int(theft),
        faulty=int(not theft),
        seed=seed,
        attacks=(kind,),
        onset_window=onset,
    )


def _rank_of(feeder: SyntheticFeeder, hours: int | None = None) -> list[str]:
    t = feeder.input_kwh.size if hours is None else hours
    suspects = rank_suspects(
        feeder.input_kwh[:t], feeder.reported_kwh[:, :t], feeder.meter_ids, feeder.hours[:t]
    )
    return [s.meter_id for s in suspects]


def _auc(order: list[str], positives: set[str]) -> float:
    """Mann-Whitney AUC of the ranking (first = most suspicious)."""
    pos_seen, pairs, n_pos = 0, 0, len(positives)
    n_neg = len(order) - n_pos
    for meter in order:
        if meter in positives:
            pos_seen += 1
        else:
            pairs += pos_seen  # every positive ranked above this negative
    return pairs / (n_pos * n_neg)


def localisation(
    seeds: int, n: int, days: int, onset: tuple[float, float], label: str
) -> dict[str, object]:
    top1: list[bool] = []
    top3: list[bool] = []
    per_kind: dict[str, float] = {}
    for k, kind in enumerate(KINDS):
        hits = []
        for seed in range(seeds):
            feeder = _single(kind, 1000 * seed + k, n, days, onset)
            position = _rank_of(feeder).index(feeder.dishonest[0])
            top1.append(position == 0)
            top3.append(position < 3)
            hits.append(position < 3)
        per_kind[kind] = sum(hits) / len(hits)
        print(f"{label} {kind}: top-3 {per_kind[kind]:.2f}", file=sys.stderr)
    return {
        "top1": sum(top1) / len(top1),
        "top3": sum(top3) / len(top3),
        "top3_by_kind": per_kind,
    }


def detection(
    seeds: int, n: int, days: int, k: int, noise: float = GROUP_METER_NOISE
) -> dict[str, float]:
    aucs, precisions = [], []
    thieves = (2 * k + 2) // 3
    for seed in range(seeds):
        feeder = make_feeder(
            n,
            days,
            thieves=thieves,
            faulty=k - thieves,
            seed=50_000 + seed,
            group_meter_noise=noise,
        )
        order = _rank_of(feeder)
        dishonest = set(feeder.dishonest)
        aucs.append(_auc(order, dishonest))
        precisions.append(len(dishonest & set(order[:k])) / k)
        print(
            f"detection seed {seed}: AUC {aucs[-1]:.3f} P@k {precisions[-1]:.2f}", file=sys.stderr
        )
    return {
        "auc": statistics.fmean(aucs),
        "auc_min": min(aucs),
        "auc_std": statistics.pstdev(aucs),
        "precision_at_k": statistics.fmean(precisions),
        "precision_at_k_min": min(precisions),
    }


def delay(seeds: int, n: int, days: int) -> dict[str, float]:
    delays: list[int] = []
    missed = 0
    for k, kind in enumerate(KINDS):
        for seed in range(seeds):
            feeder = _single(kind, 1000 * seed + k, n, days, (0.2, 0.6))
            culprit = feeder.dishonest[0]
            onset_day = (feeder.onset[culprit] - feeder.hours[0]).days
            found: int | None = None
            for d in range(onset_day + 1, days + 1):
                in_top3 = culprit in _rank_of(feeder, d * 24)[:3]
                if in_top3 and found is None:
                    found = d - onset_day
                elif not in_top3:
                    found = None
            if found is None:
                missed += 1
            else:
                delays.append(found)
    return {
        "detection_delay_days_median": float(statistics.median(delays)) if delays else -1.0,
        "detection_delay_days_mean": statistics.fmean(delays) if delays else -1.0,
        "detection_delay_missed_share": missed / (missed + len(delays)),
    }


def speed(n: int = 500, days: int = 60) -> dict[str, float]:
    feeder = make_feeder(n, days, thieves=10, faulty=5, seed=7)
    best, best_rank = float("inf"), float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        group_balance(feeder.input_kwh, feeder.reported_kwh)
        t1 = time.perf_counter()
        rank_suspects(feeder.input_kwh, feeder.reported_kwh, feeder.meter_ids, feeder.hours)
        t2 = time.perf_counter()
        recommend_phase_moves(feeder.reported_kwh, feeder.phases, feeder.meter_ids, max_moves=5)
        t3 = time.perf_counter()
        best, best_rank = min(best, t3 - t0), min(best_rank, t2 - t1)
    plan = recommend_phase_moves(feeder.true_kwh, feeder.phases, feeder.meter_ids, max_moves=10)
    return {
        "seconds_500x60": best,
        "seconds_500x60_rank_only": best_rank,
        "phase_reduction_pct_10_moves": plan.reduction_pct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds, under a minute")
    args = parser.parse_args()
    n, days, k = 100, 30, 6
    seeds = 2 if args.quick else 10
    t0 = time.perf_counter()
    result: dict[str, object] = {"n": n, "days": days, "k": k, "seeds": seeds}
    loc = localisation(seeds, n, days, (0.2, 0.6), "onset in window")
    result["top1_localisation"] = loc["top1"]
    result["top3_localisation"] = loc["top3"]
    result["top3_by_kind"] = loc["top3_by_kind"]
    result.update(detection(max(seeds, 3), n, days, k))
    result.update(delay(1 if args.quick else 3, n, days))
    start = localisation(1 if args.quick else 5, n, days, (0.0, 0.0), "from the start")
    result["top3_localisation_from_start"] = start["top3"]
    result["top3_from_start_by_kind"] = start["top3_by_kind"]
    if not args.quick:
        # what limits the figures: the same detection with a group meter ten times quieter
        quiet = detection(seeds, n, days, k, noise=GROUP_METER_NOISE / 10)
        result["auc_quiet_group_meter"] = quiet["auc"]
        result["precision_at_k_quiet_group_meter"] = quiet["precision_at_k"]
    result.update(speed())
    result["wall_seconds"] = time.perf_counter() - t0
    print(json.dumps(result, default=lambda v: round(v, 4) if isinstance(v, float) else v))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
