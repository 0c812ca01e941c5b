"""Run simulated DMesh concentrators: ``python -m dmesh_lib.simulator --listen 127.0.0.1:7700``.

Scenarios are chosen with ``--scenario`` and switched at run time through the control port, one
command per line (answers are JSON lines)::

    $ nc 127.0.0.1 7701
    scenario dripping_tap on
    scenario offline:hours=6,module=0x10000102 on
    scenario gas_leak off
    disconnect          # drop every connected host, as an unplugged cable would
    status
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

from .concentrator import SimClock, SimulatedConcentrator
from .network import HOME_KIT_SIZE, MAX_MODULES, SimulatedNetwork
from .scenarios import Scenario, ScenarioName

_LOGGER = logging.getLogger("dmesh_lib.simulator")


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dmesh_lib.simulator",
        description="Simulated DMesh concentrators with realistic households.",
    )
    parser.add_argument(
        "--listen",
        type=_address,
        action="append",
        metavar="HOST:PORT",
        help="address of one concentrator; repeat for several (default 127.0.0.1:7700)",
    )
    parser.add_argument(
        "--modules",
        type=int,
        default=240,
        help=f"modules per concentrator, at most {MAX_MODULES}: the demo home kit"
        f" ({HOME_KIT_SIZE} modules) and D100FC meter modules with 3 meters each",
    )
    parser.add_argument(
        "--no-home",
        action="store_true",
        help="leave out the demo home kit (sensor module, three AD220 relays, a valve)",
    )
    parser.add_argument("--seed", type=int, default=1, help="makes a run reproducible")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--report-interval",
        type=float,
        default=60.0,
        help="simulated seconds between a module's meter reports",
    )
    parser.add_argument(
        "--hop-latency", type=float, default=0.05, help="real seconds per radio hop"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME[:k=v,...]",
        help="switch a scenario on at start: " + ", ".join(s.value for s in ScenarioName),
    )
    parser.add_argument(
        "--control",
        type=_address,
        metavar="HOST:PORT",
        help="control port for switching scenarios at run time",
    )
    parser.add_argument("--start", type=float, help="simulated start time (unix seconds)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


class ControlServer:
    """Line commands that change a running simulation (see the module docstring)."""

    def __init__(self, concentrators: list[SimulatedConcentrator]) -> None:
        self.concentrators = concentrators

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = self.execute(line.decode(errors="replace").strip())
                writer.write((json.dumps(answer) + "\n").encode())
                await writer.drain()
        except ConnectionError, asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    def execute(self, command: str) -> dict[str, object]:
        words = command.split()
        if not words:
            return {"ok": False, "error": "empty command"}
        target = self.concentrators[0]
        try:
            match words:
                case ["status"]:
                    return {
                        "ok": True,
                        "concentrators": [
                            c.network.describe() | {"hosts": len(c.sessions)}
                            for c in self.concentrators
                        ],
                    }
                case ["scenario", spec, ("on" | "off") as state]:
                    scenario = Scenario.parse(spec)
                    messages = target.network.apply(scenario, on=state == "on")
                    target.fan_out(messages)
                    return {"ok": True, "scenario": scenario.name.value, "on": state == "on"}
                case ["disconnect"]:
                    count = len(target.sessions)
                    target.drop_hosts()
                    return {"ok": True, "dropped": count}
                case _:
                    return {"ok": False, "error": f"unknown command {command!r}"}
        except (ValueError, KeyError) as err:
            return {"ok": False, "error": str(err)}


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    addresses = args.listen or [("127.0.0.1", 7700)]
    start = args.start if args.start is not None else time.time()
    concentrators: list[SimulatedConcentrator] = []
    scenarios = [Scenario.parse(s) for s in args.scenario]
    for index, (host, port) in enumerate(addresses):
        network = SimulatedNetwork(
            meter_modules=args.modules - (0 if args.no_home else HOME_KIT_SIZE),
            home=not args.no_home,
            seed=args.seed,
            start=start,
            concentrator_index=index,
            report_interval=args.report_interval,
        )
        clock = SimClock(start=start, speed=args.speed)
        concentrator = SimulatedConcentrator(
            network, clock, hop_latency=args.hop_latency, seed=args.seed + index
        )
        if index == 0:
            for scenario in scenarios:
                network.apply(scenario)
        bound = await concentrator.start(host, port)
        concentrators.append(concentrator)
        info = network.describe()
        print(
            json.dumps({"event": "listening", "url": f"socket://{host}:{bound}", **info}),
            flush=True,
        )
    control: asyncio.Server | None = None
    if args.control:
        server = ControlServer(concentrators)
        control = await asyncio.start_server(server.handle, *args.control)
        bound_host, bound_port = control.sockets[0].getsockname()[:2]
        print(json.dumps({"event": "control", "address": f"{bound_host}:{bound_port}"}), flush=True)
    await stop.wait()
    if control is not None:
        control.close()
    for concentrator in concentrators:
        await concentrator.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(run(args))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot listen: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
