"""How long one DLM decision takes for a household with 50 sockets.

Run from the repository root: `.venv/bin/python benchmarks/dlm_decision.py [--quick]`.
The last line of stdout is one JSON object; `decision_ms_50_sockets` is the median.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from dlm import (
    DlmEngine,
    GreenRun,
    LimitStack,
    PowerReading,
    SocketAction,
    SocketColour,
    SocketConfig,
    SocketObservation,
    TariffWindow,
)

SOCKETS = 50


def build_engine() -> tuple[DlmEngine, list[SocketConfig]]:
    rng = np.random.default_rng(7)
    colours = [SocketColour.RED] * 10 + [SocketColour.YELLOW] * 25 + [SocketColour.GREEN] * 15
    sockets = [
        SocketConfig(
            socket_id=f"socket_{i}",
            name=f"Socket {i}",
            colour=colour,
            power_w=float(rng.uniform(100.0, 3000.0)),
            priority=i % 5,
        )
        for i, colour in enumerate(colours)
    ]
    limits = LimitStack(
        household_limit_w=20_000.0,
        contract_power_w=25_000.0,
        tariff_windows=(TariffWindow("night", wall_time(23), wall_time(7), cheap=True),),
    )
    return DlmEngine(sockets, limits), sockets


def measure(steps: int) -> dict[str, Any]:
    engine, sockets = build_engine()
    rng = np.random.default_rng(11)
    start = datetime(2025, 1, 13, 17, 0, tzinfo=UTC)
    for config in sockets[35:]:
        engine.request_run(
            config.socket_id, GreenRun(deadline=start + timedelta(hours=14), run_s=3600.0)
        )
    is_on = {config.socket_id: True for config in sockets}
    draw = {config.socket_id: float(config.power_w or 0.0) for config in sockets}
    durations: list[float] = []
    decisions = 0
    # The household total wanders around the limit, so that steps shed, restore and hold.
    total = 18_000.0
    for step in range(steps):
        now = start + timedelta(seconds=10 * step)
        total = float(np.clip(total + rng.normal(0.0, 1500.0), 8_000.0, 30_000.0))
        observations = {
            socket_id: SocketObservation(on, draw[socket_id] if on else 0.0)
            for socket_id, on in is_on.items()
        }
        reading = PowerReading(total, now)
        began = time.perf_counter()
        result = engine.step(now, reading, observations)
        durations.append(time.perf_counter() - began)
        decisions += len(result)
        for decision in result:
            is_on[decision.socket_id] = decision.action is SocketAction.SWITCH_ON
    ordered = sorted(durations)
    return {
        "decision_ms_50_sockets": statistics.median(durations) * 1000.0,
        "decision_ms_50_sockets_p95": ordered[int(0.95 * (len(ordered) - 1))] * 1000.0,
        "decision_ms_50_sockets_max": ordered[-1] * 1000.0,
        "steps": steps,
        "switch_decisions": decisions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a few seconds)")
    args = parser.parse_args()
    steps = 2_000 if args.quick else 20_000
    result = measure(steps)
    result["sockets"] = SOCKETS
    result["python"] = platform.python_version()
    result["numpy"] = np.__version__
    print(
        f"median {result['decision_ms_50_sockets']:.3f} ms, "
        f"p95 {result['decision_ms_50_sockets_p95']:.3f} ms over {steps} steps"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
