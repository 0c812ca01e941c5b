"""The monitor prints one JSON line per decoded event and survives garbage on the line."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from dmesh_lib.messages import MeterReading, SensorKind, SensorReport, UnknownFrame
from dmesh_lib.monitor import event_line, monitor
from dmesh_lib.simulator.scenarios import Scenario, ScenarioName

from .conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_event_lines_are_json_with_a_type() -> None:
    line = json.loads(event_line(MeterReading(0x10000100, 5, ((0, 7),))))
    assert line == {
        "type": "meter_reading",
        "module": "10000100",
        "timestamp": 5,
        "counters": [[0, 7]],
    }
    sensor = json.loads(event_line(SensorReport(1, 2, ((SensorKind.FLOOD, 1),))))
    assert sensor["values"] == [["flood", 1]]
    unknown = json.loads(event_line(UnknownFrame(0x99, b"\x01\xff", "unknown message type")))
    assert unknown == {
        "type": "unknown_frame",
        "msg_type": 0x99,
        "payload": "01ff",
        "reason": "unknown message type",
    }


async def test_monitor_prints_events_through_line_noise(start_simulator) -> None:
    sim = await start_simulator(meter_modules=3, speed=1200)
    sim.network.apply(Scenario(ScenarioName.LINE_NOISE, params={"p": 0.2}))
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(monitor(sim.url, out, stop=stop, clock=sim.clock))
    await wait_for(lambda: out.getvalue().count('"meter_reading"') >= 10, within=20)
    stop.set()
    assert await task == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["type"] == "connection"
    assert any(line["type"] == "concentrator" for line in lines)
    stats = lines[-1]
    assert stats["type"] == "link_stats"
    assert stats["crc_errors"] + stats["garbage_bytes"] > 0


def test_monitor_cli_against_simulator_cli(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dmesh_lib.simulator",
            "--listen",
            "127.0.0.1:0",
            "--modules",
            "8",
            "--speed",
            "600",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert sim.stdout is not None
        url = json.loads(sim.stdout.readline())["url"]
        mon = subprocess.Popen(
            # The simulator runs 600 times faster than this host's clock.
            [sys.executable, "-m", "dmesh_lib.monitor", url, "--clock-skew", "86400"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert mon.stdout is not None
        types = []
        for _ in range(30):
            types.append(json.loads(mon.stdout.readline())["type"])
        mon.send_signal(signal.SIGINT)
        assert mon.wait(timeout=20) == 0
        assert "concentrator" in types and "meter_reading" in types
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=20)


def test_monitor_reports_unreachable_port() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "dmesh_lib.monitor", "/dev/ttyDMESH-missing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no such serial port" in result.stderr
