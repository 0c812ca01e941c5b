"""What a Home Assistant restart costs the household analytics, and whether it changes a verdict.

For simulated households (the simulator's consumption model, a 15 L/h dripping tap switched on
part-way), a water meter is read every 5 minutes into a ``MeterJournal`` and a ``MeterMonitor``,
as the integration does. At a random reading the journal is saved to JSON, a fresh monitor is
rebuilt from it (``replay_into``, the integration's restart path) and both runs continue to the
end. Reported: the share of restarts after which every detector's verdict equals the
uninterrupted run's, the time to seed a year of recorder history and to rebuild a monitor, and
the size of a meter's saved state.

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from zoneinfo import ZoneInfo

import numpy as np

from balance_analytics import Carrier, MeterContext, MeterJournal, MeterMonitor
from dmesh_lib.simulator.consumption import ConsumptionModel
from dmesh_lib.units import MeterKind

TZ = ZoneInfo("Europe/Chisinau")
HOUR = 3600
STEP = 300
TAP = 0.015
REPLAY_HOURS = 36 * 24  # what the integration replays into a fresh monitor


def _monitor() -> MeterMonitor:
    return MeterMonitor(MeterContext(Carrier.WATER, TZ, price_per_unit=2.0))


def _run(totals: np.ndarray, start: int, stop: int | None) -> tuple[MeterMonitor, float]:
    """Feed the readings; with ``stop``, save and rebuild there. Returns the rebuild's seconds."""
    journal, monitor = MeterJournal(), _monitor()
    rebuild_s = 0.0
    for k, total in enumerate(totals.tolist()):
        if k == stop:
            began = time.perf_counter()
            journal = MeterJournal.from_dict(json.loads(json.dumps(journal.to_dict())))
            monitor = _monitor()
            journal.replay_into(monitor, REPLAY_HOURS)
            rebuild_s = time.perf_counter() - began
        if (interval := journal.reading(start + k * STEP, total)) is not None:
            monitor.update(*interval)
    return monitor, rebuild_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer households and days")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    homes, days = (6, 6) if args.quick else (24, 10)
    rng = np.random.default_rng(args.seed)
    start = 1746403200  # 2025-05-05 00:00 UTC, a Monday
    model = ConsumptionModel([MeterKind.WATER] * homes, seed=args.seed)
    same = 0
    rebuilds: list[float] = []
    for home in range(homes):
        hourly = model.hourly_history(start // HOUR, days * 24)[home]
        tap_from = int(rng.integers(24, days * 24 - 30))
        hourly[tap_from:] += TAP
        # 5-minute readings of the cumulative meter, linear within each hour
        fine = np.repeat(hourly / 12, 12)
        totals = 100.0 + np.concatenate([[0.0], np.cumsum(fine)])
        live, _ = _run(totals, start, None)
        stop = int(rng.integers(1, len(totals) - 1))
        rebuilt, seconds = _run(totals, start, stop)
        rebuilds.append(seconds)
        verdicts = {k: f.active for k, f in live.findings.items()}
        if verdicts == {k: f.active for k, f in rebuilt.findings.items()}:
            same += 1
        print(f"home {home + 1}/{homes}: restart at reading {stop}", file=sys.stderr)

    year = model.hourly_history(start // HOUR - 365 * 24, 365 * 24)[0]
    began = time.perf_counter()
    journal = MeterJournal()
    journal.seed(start - 365 * 24 * HOUR, year, end_total=1000.0)
    monitor = _monitor()
    journal.replay_into(monitor, REPLAY_HOURS)
    seed_s = time.perf_counter() - began
    state_kb = len(json.dumps(journal.to_dict())) / 1024
    result = {
        "restarts": homes,
        "same_verdict_share": same / homes,
        "rebuild_ms_median": round(statistics.median(rebuilds) * 1000, 1),
        "seed_year_and_rebuild_ms": round(seed_s * 1000, 1),
        "saved_state_kb_per_meter_year": round(state_kb, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
