"""`make demo`: a simulated DMesh home and sub-network, watched by the monitor.

Starts the simulator (a demo home with sensors, three AD220 sockets and a water valve, plus
meter modules; one simulated minute per real second), the monitor printing every decoded event as
a JSON line, and after a while switches on a dripping tap through the control port. Ctrl-C stops
everything. Later issues add Home Assistant and the aggregator to this command.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7700)
    parser.add_argument("--modules", type=int, default=20)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument(
        "--tap-after", type=float, default=30.0, help="real seconds before the dripping tap starts"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (0: run until Ctrl-C)",
    )
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    control_port = args.port + 1
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dmesh_lib.simulator",
            "--listen",
            f"127.0.0.1:{args.port}",
            "--modules",
            str(args.modules),
            "--speed",
            str(args.speed),
            "--control",
            f"127.0.0.1:{control_port}",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert simulator.stdout is not None
    started = json.loads(simulator.stdout.readline())
    print(
        f"simulator: {started['url']}  concentrator {started['concentrator']}, "
        f"{started['modules']} modules, {started['meters']} meters, speed ×{args.speed:g}",
        file=sys.stderr,
    )
    print(
        f"control:   nc 127.0.0.1 {control_port}   (e.g. 'scenario gas_leak on', 'status')",
        file=sys.stderr,
    )
    monitor = subprocess.Popen(
        [sys.executable, "-m", "dmesh_lib.monitor", started["url"]], env=env, cwd=ROOT
    )
    tap_at = time.monotonic() + args.tap_after
    stop_at = time.monotonic() + args.duration if args.duration else None
    tap_on = False
    try:
        while monitor.poll() is None:
            time.sleep(0.2)
            if not tap_on and time.monotonic() >= tap_at:
                with socket.create_connection(("127.0.0.1", control_port), timeout=5) as conn:
                    conn.sendall(b"scenario dripping_tap on\n")
                    conn.makefile().readline()
                print("demo: a tap starts dripping (15 L/h) in the demo home", file=sys.stderr)
                tap_on = True
            if stop_at is not None and time.monotonic() >= stop_at:
                break
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (monitor, simulator):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (monitor, simulator):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
