"""The simulated DMesh sub-network with the demo home, and its control port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from .processes import ProcessGroup

DEMO_MODULES = 9
"""The demo home kit (sensor module, three AD220, a valve) and four D100FC meter modules: the
home's electricity, water and gas meters, neighbours, and a heat meter on the fourth."""


@dataclass(frozen=True, slots=True)
class Simulator:
    url: str
    control: tuple[str, int]
    concentrator: str

    def command(self, line: str) -> dict[str, Any]:
        """One line on the control port, e.g. ``scenario dripping_tap on``; its JSON answer."""
        with socket.create_connection(self.control, timeout=5) as conn:
            conn.sendall(line.encode() + b"\n")
            answer: dict[str, Any] = json.loads(conn.makefile().readline())
        if not answer.get("ok"):
            raise RuntimeError(f"simulator refused {line!r}: {answer.get('error')}")
        return answer


def start_simulator(
    group: ProcessGroup, *, port: int, control_port: int, speed: float, tap_hours_ago: float
) -> Simulator:
    child = group.start(
        "simulator",
        [
            sys.executable,
            "-m",
            "scripts.demo.simulator_host",
            "--listen",
            f"127.0.0.1:{port}",
            "--modules",
            str(DEMO_MODULES),
            "--speed",
            str(speed),
            "--tap-hours-ago",
            str(tap_hours_ago),
            "--control",
            f"127.0.0.1:{control_port}",
        ],
        stdout=subprocess.PIPE,
    )
    out = child.process.stdout
    assert out is not None
    lines: dict[str, dict[str, Any]] = {}
    while len(lines) < 2:
        line = out.readline()
        if not line:
            group.check()
            raise RuntimeError("the simulator closed its output before it was listening")
        event = json.loads(line)
        lines[event["event"]] = event
    host, _, control = lines["control"]["address"].rpartition(":")
    return Simulator(
        url=lines["listening"]["url"],
        control=(host, int(control)),
        concentrator=lines["listening"]["concentrator"],
    )
