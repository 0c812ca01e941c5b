"""The simulator's CPU cost with 720 meters in real time, and the client's inventory time.

Runs ``python -m dmesh_lib.simulator`` as its own process (240 D100FC modules, 720 meters,
reports every simulated minute, speed 1), keeps a client connected, and reads the simulator's
CPU time from /proc. Then times connect → identity, clock, full inventory of 240 modules.
Prints one JSON object: cpu_pct_720_meters, inventory_s_240_modules, readings_received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dmesh_lib import ConcentratorClient  # noqa: E402
from dmesh_lib.messages import MeterReading  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(url: str, pid: int, window: float, connects: int) -> dict[str, float]:
    client = ConcentratorClient(url)
    await client.connect()
    readings = 0

    def count(event: object) -> None:
        nonlocal readings
        if isinstance(event, MeterReading):
            readings += 1

    client.subscribe(count)
    await asyncio.sleep(2)  # let the start-up burst (cached state) pass
    readings = 0
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(window)
    cpu_pct = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100
    await client.close()

    inventory_times = []
    modules = 0
    for _ in range(connects):
        probe = ConcentratorClient(url)
        started = time.perf_counter()
        await probe.connect()
        inventory_times.append(time.perf_counter() - started)
        modules = len(probe.modules)
        await probe.close()
    return {
        "cpu_pct_720_meters": round(cpu_pct, 2),
        "inventory_s_240_modules": round(statistics.median(inventory_times), 4),
        "modules_in_inventory": modules,
        "readings_received": readings,
        "window_s": window,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    window = 20.0 if args.quick else 120.0
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dmesh_lib.simulator",
            "--listen",
            "127.0.0.1:0",
            "--modules",
            "240",
            "--no-home",
            "--speed",
            "1",
            "--report-interval",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert sim.stdout is not None
        started = json.loads(sim.stdout.readline())
        assert started["meters"] == 720, started
        result = asyncio.run(measure(started["url"], sim.pid, window, 5 if args.quick else 9))
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=30)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
