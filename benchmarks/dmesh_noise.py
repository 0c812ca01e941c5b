"""How the DMesh link degrades on a noisy line: readings delivered through a garbage proxy.

A simulated concentrator (real speed, 20 meter modules reporting every second) sits behind
``dmesh_lib.simulator.noise.GarbageProxy``, which writes 1–63 random bytes before 30 % and then
50 % of the chunks it forwards to the host. A real ``ConcentratorClient`` connects through it.
Reported: the share of the readings the simulator sent that reached the client's subscribers,
and how many readings passed that no simulated meter produced (must be 0).

    python benchmarks/dmesh_noise.py [--quick]

The last line printed is one JSON object with ``decoded_share_at_30pct_garbage``,
``decoded_share_at_50pct_garbage`` and ``wrong_readings`` (goals ≥ 0.9, ≥ 0.7, 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dmesh_lib.simulator.noise import NoiseRun, measure_noise  # noqa: E402


async def run(window_s: float, seed: int) -> dict[str, object]:
    results: dict[float, NoiseRun] = {}
    for share in (0.3, 0.5):
        result = await measure_noise(share, seed=seed, window_s=window_s)
        results[share] = result
        print(
            json.dumps(
                {
                    "share_garbled": share,
                    "sent": result.sent,
                    "decoded": result.decoded,
                    "decoded_share": round(result.decoded_share, 4),
                    "wrong": result.wrong,
                    "connect_failures": result.connect_failures,
                    "reconnects": result.reconnects,
                    "link": result.link,
                    "proxy_chunks": result.proxy.chunks,
                    "proxy_garbled_chunks": result.proxy.garbled_chunks,
                }
            ),
            flush=True,
        )
    return {
        "decoded_share_at_30pct_garbage": round(results[0.3].decoded_share, 4),
        "decoded_share_at_50pct_garbage": round(results[0.5].decoded_share, 4),
        "wrong_readings": sum(r.wrong for r in results.values()),
        "window_s": window_s,
        "seed": seed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows, within a minute")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    summary = asyncio.run(run(8.0 if args.quick else 30.0, args.seed))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
