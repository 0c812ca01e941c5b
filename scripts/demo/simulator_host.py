"""The demo's simulator: the DMesh simulator with a day of history already behind it.

``python -m scripts.demo.simulator_host`` runs the same simulated network, concentrator and
control port as ``python -m dmesh_lib.simulator``, with one difference: before it listens, it
plays the last ``--tap-hours-ago`` hours in simulated time with a dripping tap in the demo home.
The modules' hourly counters then hold a day of the tap, so Home Assistant (which backfills a
meter's statistics from those counters) shows the leak at once instead of a day later, and live
time continues from now at ``--speed``, in step with Home Assistant's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time

from dmesh_lib.simulator.__main__ import ControlServer
from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import HOME_KIT_SIZE, SimulatedNetwork
from dmesh_lib.simulator.scenarios import Scenario

PREROLL_STEP_S = 600.0


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo.simulator_host")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 7700))
    parser.add_argument("--control", type=_address, default=("127.0.0.1", 7701))
    parser.add_argument("--modules", type=int, default=9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--report-interval", type=float, default=10.0)
    parser.add_argument(
        "--tap-hours-ago",
        type=float,
        default=26.0,
        help="the dripping tap started this many hours before now (0: no tap)",
    )
    return parser


def preroll(network: SimulatedNetwork, until: float) -> None:
    """Advance simulated time to ``until``; what modules said meanwhile nobody heard."""
    t = network.now
    while t < until:
        t = min(until, t + PREROLL_STEP_S)
        network.advance(t)


async def run(args: argparse.Namespace) -> None:
    now = time.time()
    tap_s = max(0.0, args.tap_hours_ago * 3600)
    network = SimulatedNetwork(
        meter_modules=args.modules - HOME_KIT_SIZE,
        home=True,
        seed=args.seed,
        start=now - tap_s,
        report_interval=args.report_interval,
    )
    if tap_s:
        network.apply(Scenario.parse("dripping_tap"))
        preroll(network, now)
    concentrator = SimulatedConcentrator(
        network, SimClock(start=network.now, speed=args.speed), seed=args.seed
    )
    bound = await concentrator.start(*args.listen)
    info = network.describe()
    url = f"socket://{args.listen[0]}:{bound}"
    print(json.dumps({"event": "listening", "url": url, **info}), flush=True)
    control = await asyncio.start_server(ControlServer([concentrator]).handle, *args.control)
    host, port = control.sockets[0].getsockname()[:2]
    print(json.dumps({"event": "control", "address": f"{host}:{port}"}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    control.close()
    await concentrator.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
