"""`make demo`: a household and a utility working together, on this machine.

Starts the DMesh simulator (the demo home: electricity, water, gas and heat meters, sockets of
three colours, a tap that started dripping yesterday), the aggregator on SQLite with a demo
feeder, and Home Assistant with a prepared configuration; sets BALANCE up in Home Assistant the
way a user would; prints the two URLs and the login. Ctrl-C stops everything.

    python -m scripts.demo [--headless] [--duration S] [--free-ports] [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from . import ha_config
from .aggregator import Aggregator, start_aggregator
from .ha_api import HomeAssistantApi, HomeAssistantError
from .ha_setup import HomeSetup, configure, try_backfill
from .household import Simulator, start_simulator
from .layout import DemoEntities
from .processes import ChildExited, ProcessGroup, free_port, port_open

ROOT = Path(__file__).resolve().parents[2]
BACKFILL_POLL_S = 15.0


@dataclass(frozen=True, slots=True)
class Ports:
    ha: int
    vtn: int
    simulator: int
    control: int
    street: int


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--ha-port", type=int, default=8123)
    parser.add_argument("--vtn-port", type=int, default=8080)
    parser.add_argument("--sim-port", type=int, default=7700, help="control port: this + 1")
    parser.add_argument(
        "--street-port", type=int, default=7710, help="the demo street's concentrator"
    )
    parser.add_argument(
        "--free-ports", action="store_true", help="let the OS pick every port (tests)"
    )
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="balance-demo")
    parser.add_argument(
        "--no-feeder",
        action="store_true",
        help="an empty aggregator, without the demo feeder of 100 houses",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated s per real s")
    parser.add_argument(
        "--tap-hours-ago", type=float, default=26.0, help="when the dripping tap started"
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="print one JSON line with URLs and logins when ready, for tests",
    )
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0: Ctrl-C)"
    )
    return parser


class PortInUse(RuntimeError):
    pass


def _ports(args: argparse.Namespace) -> Ports:
    if args.free_ports:
        return Ports(free_port(), free_port(), free_port(), free_port(), free_port())
    ports = Ports(args.ha_port, args.vtn_port, args.sim_port, args.sim_port + 1, args.street_port)
    # Said before anything starts: a server that cannot bind would only show up as a timeout.
    for name, port in (
        ("--ha-port", ports.ha),
        ("--vtn-port", ports.vtn),
        ("--sim-port", ports.simulator),
        ("--sim-port (+1)", ports.control),
        ("--street-port", ports.street),
    ):
        if port_open("127.0.0.1", port):
            raise PortInUse(
                f"port {port} ({name}) is in use: stop what listens there, choose another port, "
                "or use --free-ports"
            )
    return ports


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _announce(
    args: argparse.Namespace,
    ports: Ports,
    simulator: Simulator,
    aggregator: Aggregator,
    setup: HomeSetup,
) -> None:
    ha_url = f"http://127.0.0.1:{ports.ha}"
    if args.headless:
        ready = {
            "event": "ready",
            "ha_url": ha_url,
            "username": args.username,
            "password": args.password,
            "vtn_url": aggregator.url,
            "ui_url": aggregator.ui_url,
            "operator": aggregator.operator,
            "seeded": aggregator.seeded,
            "simulator": simulator.url,
            "street": aggregator.street.get("url"),
            "street_concentrator": aggregator.street.get("concentrator"),
            "street_meters": [m["meter"] for m in aggregator.street.get("mapping", [])],
            "control": "{}:{}".format(*simulator.control),
            "concentrator_entry": setup.concentrator_entry,
            "load_manager_entry": setup.load_manager_entry,
            "utility_entry": setup.utility_entry,
        }
        print(json.dumps(ready), flush=True)
        return
    op = aggregator.operator
    operator = (
        f"login: {op.get('username')} / {op.get('password')}   "
        f"({op.get('houses')} houses, DR group {op.get('target')})"
        if aggregator.seeded
        else "no demo feeder (--no-feeder): the VTN API only"
    )
    print(
        "\n".join(
            [
                "",
                f"  Home Assistant      {ha_url}",
                f"                      login: {args.username} / {args.password}",
                f"  Utility operator    {aggregator.ui_url}",
                f"                      {operator}",
                f"  Simulator           {simulator.url}  (control: nc "
                + "{} {})".format(*simulator.control),
                f"  Demo street         {aggregator.street.get('url', '-')}  "
                f"({len(aggregator.street.get('mapping', []))} houses of the feeder, read by "
                "the aggregator's head-end)",
                "",
                "  Ctrl-C stops everything.",
                "",
            ]
        ),
        flush=True,
    )


def run(args: argparse.Namespace, group: ProcessGroup, ports: Ports) -> None:
    state: Path = args.state_dir
    entities = DemoEntities()
    ha_dir = state / "ha"
    ha_config.prepare(
        ha_dir,
        port=ports.ha,
        login=ha_config.DemoLogin(args.username, args.password),
        entities=entities,
        integration_dir=ROOT / "custom_components" / "balance",
    )
    _say(f"Home Assistant configuration prepared in {ha_dir}")
    simulator = start_simulator(
        group,
        port=ports.simulator,
        control_port=ports.control,
        speed=args.speed,
        tap_hours_ago=args.tap_hours_ago,
    )
    _say(f"simulator: {simulator.url}, concentrator {simulator.concentrator}")
    (state / "vtn.db").unlink(missing_ok=True)
    aggregator = start_aggregator(
        group,
        port=ports.vtn,
        db_path=state / "vtn.db",
        feeder=not args.no_feeder,
        password=args.password,
        street_port=ports.street,
    )
    _say(f"aggregator: {aggregator.url}" + (" (demo feeder seeded)" if aggregator.seeded else ""))
    api = _start_home_assistant(group, ha_dir, ports.ha, args)
    setup = configure(api, simulator, aggregator, entities, _say)
    if not args.headless:
        _announce(args, ports, simulator, aggregator, setup)
        _say("within about five minutes: the meters' history, then one restart of Home Assistant")
    stop_at = time.monotonic() + args.duration if args.duration else None
    next_backfill = time.monotonic()
    while stop_at is None or time.monotonic() < stop_at:
        group.check()
        if len(setup.backfilled) < 2 and time.monotonic() >= next_backfill:
            if try_backfill(api, setup):
                _say(f"history backfilled from the modules' hourly counters: {setup.backfilled}")
                api = _restart_for_history(group, ha_dir, ports.ha, args, setup)
                api.wait_for_states(entities.concentrator_ids(), timeout=90)
                if args.headless:
                    _announce(args, ports, simulator, aggregator, setup)
            next_backfill = time.monotonic() + BACKFILL_POLL_S
        time.sleep(0.5)


def _start_home_assistant(
    group: ProcessGroup, ha_dir: Path, port: int, args: argparse.Namespace
) -> HomeAssistantApi:
    # --skip-pip: everything is installed by `make venv`; HA must not fetch packages at run time.
    group.start(
        "homeassistant",
        [sys.executable, "-m", "homeassistant", "-c", str(ha_dir), "--skip-pip"],
        stop_timeout=60,
    )
    api = HomeAssistantApi(f"http://127.0.0.1:{port}")
    api.wait_until_up(timeout=180)
    api.login(args.username, args.password)
    _say("Home Assistant is up")
    return api


def _restart_for_history(
    group: ProcessGroup, ha_dir: Path, port: int, args: argparse.Namespace, setup: HomeSetup
) -> HomeAssistantApi:
    """Restart HA once so the household analytics start from the backfilled history.

    The analytics read the recorder's hourly history only when they start with an empty
    journal, and they started minutes before the backfill could run (it waits for the
    recorder's first statistics). Their journal of those few minutes is dropped while HA is
    stopped; on start they seed from the recorder: 44 days, the dripping tap included.
    """
    group.stop("homeassistant")
    journal = ha_dir / ".storage" / f"balance.analytics.{setup.concentrator_entry}"
    journal.unlink(missing_ok=True)
    _say("Home Assistant restarts to read the history")
    return _start_home_assistant(group, ha_dir, port, args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state: Path = args.state_dir.resolve()
    args.state_dir = state
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old_log in logs.glob("*.log"):
        old_log.unlink()  # each run's logs alone; a restart within the run appends to its own
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    group = ProcessGroup(logs, env, ROOT)
    # Ctrl-C and SIGTERM alike stop the demo; SIGINT is set explicitly because a demo started
    # from a background job (a test, CI) inherits it ignored.
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate),
    }
    try:
        run(args, group, _ports(args))
    except KeyboardInterrupt:
        _say("stopping")
    except (ChildExited, HomeAssistantError, RuntimeError, OSError) as err:
        _say(f"failed: {err}\n(logs in {logs})")
        return 1
    finally:
        # A second Ctrl-C must not cut the orderly stop short and leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        group.stop_all()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
