"""The feeder comparison: no control vs the HA blueprint vs DLM on a simulated transformer.

Run from the repository root: `.venv/bin/python benchmarks/dlm_feeder.py [--quick]`.
Progress goes to stderr; the last line of stdout is one JSON object. `--quick` runs the main
comparison (1,000 houses x 7 days, 40 % participation) and the engine/batch cross-check; the
full run adds DLM and the blueprint without the transformer signal, a participation sweep, the
guard letting every house go at once, and a stricter transformer.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from dlm.feeder import (
    FeederComparison,
    FeederScenario,
    Strategy,
    compare_strategies,
    generate_households,
    plot_day,
)

REPO = Path(__file__).resolve().parents[1]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _strategy_figures(comparison: FeederComparison, strategy: Strategy) -> dict[str, Any]:
    outcome = comparison.outcomes[strategy]
    return {
        "minutes_over_limit": outcome.minutes_over_limit,
        "over_limit_reduction_pct": round(comparison.over_limit_reduction_pct(strategy), 2),
        "energy_over_limit_kwh": round(outcome.energy_over_limit_kwh, 1),
        "peak_kw": round(outcome.peak_kw, 1),
        "moved_to_night_kwh": round(comparison.moved_to_night_kwh(strategy), 1),
        "yellow_longest_off_min": outcome.yellow_longest_off_min,
        "yellow_total_off_h": round(outcome.yellow_total_off_h, 1),
        "yellow_off_violations": outcome.yellow_off_violations,
        "green_deadlines_missed": outcome.green_deadlines_missed,
        "comfort_violations": outcome.comfort_violations,
        "switches": outcome.switches,
        "seconds": round(outcome.seconds, 2),
    }


def _engines_match_batch() -> bool:
    """DLM through per-house `DlmEngine` objects gives the same feeder load as the batch."""
    scenario = FeederScenario(
        houses=4, days=1, participation=1.0, seed=7, transformer_limit_w=4 * 1200.0
    )
    households = generate_households(scenario)
    only = (Strategy.NO_CONTROL, Strategy.DLM)
    batch = compare_strategies(scenario, households, strategies=only, progress=None)
    objects = compare_strategies(
        scenario, households, strategies=only, progress=None, per_house_engines=True
    )
    return bool(
        np.array_equal(
            batch.outcomes[Strategy.DLM].transformer_w,
            objects.outcomes[Strategy.DLM].transformer_w,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="main comparison only (< 1 min)")
    parser.add_argument(
        "--png",
        default=str(REPO / "benchmarks" / "out" / "dlm_feeder_day.png"),
        help="where to draw the transformer load over the worst day",
    )
    args = parser.parse_args()

    scenario = FeederScenario(houses=1000, days=7, participation=0.4)
    _log("[feeder] 1,000 houses x 7 days, 40 % participating: no control, blueprint, DLM")
    began = time.perf_counter()
    main_run = compare_strategies(scenario)
    seconds = time.perf_counter() - began

    dlm = main_run.outcomes[Strategy.DLM]
    blueprint = main_run.outcomes[Strategy.BLUEPRINT]
    free = main_run.outcomes[Strategy.NO_CONTROL]
    result: dict[str, Any] = {
        "over_limit_reduction_pct": round(main_run.over_limit_reduction_pct(Strategy.DLM), 2),
        "blueprint_over_limit_reduction_pct": round(
            main_run.over_limit_reduction_pct(Strategy.BLUEPRINT), 2
        ),
        "comfort_violations": dlm.comfort_violations,
        "blueprint_comfort_violations": blueprint.comfort_violations,
        "seconds_1000_houses_7_days": round(seconds, 2),
        "houses": scenario.houses,
        "days": scenario.days,
        "participation": scenario.participation,
        "participants": main_run.participants,
        "transformer_limit_kw": round(main_run.limit_w / 1000.0, 1),
        "limit_share_of_uncontrolled_peak": scenario.limit_share_of_peak,
        "green_runs": free.green_runs,
        "no_control": _strategy_figures(main_run, Strategy.NO_CONTROL),
        "blueprint": _strategy_figures(main_run, Strategy.BLUEPRINT),
        "dlm": _strategy_figures(main_run, Strategy.DLM),
        "guard_engagements": {k.value: v for k, v in main_run.guard_engagements.items()},
    }
    result["goals"] = {
        "dlm_cuts_over_limit_minutes_80pct": result["over_limit_reduction_pct"] >= 80.0,
        "dlm_zero_comfort_violations": dlm.comfort_violations == 0,
        "dlm_beats_blueprint_on_over_limit": dlm.minutes_over_limit < blueprint.minutes_over_limit,
        "dlm_beats_blueprint_on_comfort": dlm.comfort_violations < blueprint.comfort_violations,
        "under_30_s": seconds < 30.0,
    }

    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    result["png"] = args.png
    result["png_day"] = plot_day(main_run, args.png)
    _log(f"[feeder] figure written to {args.png}")

    _log("[feeder] cross-check: per-house DlmEngine objects vs the batched kernel")
    result["engines_match_batch"] = _engines_match_batch()

    if not args.quick:
        _log("[feeder] without the transformer signal (household limits and tariff only)")
        local = compare_strategies(
            scenario,
            strategies=(
                Strategy.NO_CONTROL,
                Strategy.BLUEPRINT_HOUSEHOLD_ONLY,
                Strategy.DLM_HOUSEHOLD_ONLY,
            ),
        )
        result["dlm_household_only"] = _strategy_figures(local, Strategy.DLM_HOUSEHOLD_ONLY)
        result["blueprint_household_only"] = _strategy_figures(
            local, Strategy.BLUEPRINT_HOUSEHOLD_ONLY
        )
        sweep: dict[str, Any] = {}
        for share in (0.1, 0.2, 0.4, 0.6, 1.0):
            _log(f"[feeder] participation {share:.0%}")
            run = compare_strategies(
                FeederScenario(houses=1000, days=7, participation=share), progress=None
            )
            sweep[f"{share:.1f}"] = {
                "dlm": _strategy_figures(run, Strategy.DLM),
                "blueprint": _strategy_figures(run, Strategy.BLUEPRINT),
            }
        result["participation_sweep"] = sweep
        _log("[feeder] a transformer at 75 % of the uncontrolled peak")
        strict = compare_strategies(
            FeederScenario(houses=1000, days=7, participation=0.4, limit_share_of_peak=0.75),
            progress=None,
        )
        _log("[feeder] the guard letting every house go at once (one group)")
        one_group = compare_strategies(
            FeederScenario(houses=1000, days=7, participation=0.4, guard_groups=1),
            progress=None,
        )
        result["guard_one_group"] = {
            "dlm": _strategy_figures(one_group, Strategy.DLM),
            "blueprint": _strategy_figures(one_group, Strategy.BLUEPRINT),
        }
        result["strict_limit_75pct"] = {
            "no_control_minutes_over_limit": strict.outcomes[
                Strategy.NO_CONTROL
            ].minutes_over_limit,
            "dlm": _strategy_figures(strict, Strategy.DLM),
            "blueprint": _strategy_figures(strict, Strategy.BLUEPRINT),
        }

    result["python"] = platform.python_version()
    result["numpy"] = np.__version__
    print(
        f"over-limit minutes: no control {free.minutes_over_limit}, "
        f"blueprint {blueprint.minutes_over_limit}, DLM {dlm.minutes_over_limit}; "
        f"comfort violations: blueprint {blueprint.comfort_violations}, "
        f"DLM {dlm.comfort_violations}; {seconds:.1f} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
