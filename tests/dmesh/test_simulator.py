"""The simulated network: scenarios do what the field does, the CLI and control port work."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmesh_lib.messages import (
    ChannelFault,
    ChannelStatus,
    ModuleHealth,
    SensorKind,
    SensorReport,
)
from dmesh_lib.simulator.__main__ import ControlServer
from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import MAX_MODULES, SimulatedNetwork
from dmesh_lib.simulator.scenarios import Scenario, ScenarioName
from dmesh_lib.units import COUNTER_MODULO

from .conftest import START

ROOT = Path(__file__).resolve().parents[2]


def network(meter_modules: int = 2, **kwargs: object) -> SimulatedNetwork:
    return SimulatedNetwork(meter_modules=meter_modules, start=START, **kwargs)  # type: ignore[arg-type]


def pulses(net: SimulatedNetwork, row: int, channel: int, before: np.ndarray) -> int:
    return int((net.counters[row, channel] - before[row, channel]) % COUNTER_MODULO)


def test_same_seed_same_households() -> None:
    a, b = network(seed=3), network(seed=3)
    a.advance(START + 6 * 3600)
    b.advance(START + 6 * 3600)
    assert np.array_equal(a.counters, b.counters)
    assert not np.array_equal(a.counters, network(seed=4).counters)


def test_dripping_tap_adds_15_litres_an_hour() -> None:
    clean, leaking = network(seed=5), network(seed=5)
    leaking.apply(Scenario(ScenarioName.DRIPPING_TAP))
    before_clean, before_leak = clean.counters.copy(), leaking.counters.copy()
    clean.advance(START + 24 * 3600)
    leaking.advance(START + 24 * 3600)
    extra_litres = pulses(leaking, 0, 1, before_leak) - pulses(clean, 0, 1, before_clean)
    assert extra_litres == pytest.approx(24 * 15, abs=2)  # 1 L/imp


def test_gas_leak_and_vampires_add_their_rates() -> None:
    clean, faulty = network(seed=6), network(seed=6)
    faulty.apply(Scenario.parse("gas_leak"))
    faulty.apply(Scenario.parse("standby_vampires:watts=50"))
    b_clean, b_faulty = clean.counters.copy(), faulty.counters.copy()
    clean.advance(START + 48 * 3600)
    faulty.advance(START + 48 * 3600)
    gas_row = faulty.default_target(ScenarioName.GAS_LEAK).row
    extra_gas = (pulses(faulty, gas_row, 2, b_faulty) - pulses(clean, gas_row, 2, b_clean)) / 100
    assert extra_gas == pytest.approx(0.44, abs=0.02)
    extra_kwh = (pulses(faulty, 0, 0, b_faulty) - pulses(clean, 0, 0, b_clean)) / 1000
    assert extra_kwh == pytest.approx(2.4, abs=0.01)


def test_magnet_reports_and_under_registers_cut_wire_stops() -> None:
    net = network()
    (status,) = net.apply(Scenario.parse("magnet:registration=0"))
    assert isinstance(status, ChannelStatus) and status.faults & ChannelFault.MAGNET
    (cut,) = net.apply(Scenario.parse(f"cut_wire:channel=1,module={net.meter_modules[0].serial}"))
    assert isinstance(cut, ChannelStatus) and cut.faults & ChannelFault.WIRE_BREAK
    before = net.counters.copy()
    net.advance(START + 12 * 3600)
    assert pulses(net, 0, 0, before) == 0 and pulses(net, 0, 1, before) == 0
    assert pulses(net, 1, 0, before) > 0
    (cleared,) = net.apply(Scenario.parse("magnet"), on=False)
    assert isinstance(cleared, ChannelStatus) and not cleared.faults & ChannelFault.MAGNET


def test_power_cut_drops_phases_and_electricity() -> None:
    net = network()
    messages = net.apply(Scenario(ScenarioName.POWER_CUT))
    report = next(m for m in messages if isinstance(m, SensorReport))
    assert report.scaled()[SensorKind.PHASE_L1] is False
    before = net.counters.copy()
    net.advance(START + 3 * 3600)
    assert pulses(net, 0, 0, before) == 0
    assert pulses(net, 1, 0, before) > 0


def test_low_battery_and_flood_are_reported_at_once() -> None:
    net = network()
    (health,) = net.apply(Scenario(ScenarioName.LOW_BATTERY))
    assert isinstance(health, ModuleHealth) and health.battery_pct < 10
    (report,) = net.apply(Scenario(ScenarioName.FLOOD))
    assert isinstance(report, SensorReport) and report.scaled()[SensorKind.FLOOD] is True


def test_packet_loss_loses_reports_but_not_counts() -> None:
    lossy, clean = network(seed=8), network(seed=8)
    lossy.apply(Scenario.parse("packet_loss:p=0.5"))
    lossy_out = lossy.advance(START + 6 * 3600)
    clean_out = clean.advance(START + 6 * 3600)
    assert len(lossy_out) < len(clean_out)
    assert np.array_equal(lossy.history, clean.history)


def test_home_kit_alone_reports_its_state() -> None:
    net = network(meter_modules=0)
    report = next(m for m in net.initial_state() if isinstance(m, SensorReport))
    assert report.scaled()[SensorKind.TEMPERATURE] == pytest.approx(21.0)


def test_module_count_is_limited_to_240() -> None:
    with pytest.raises(ValueError, match="240"):
        network(meter_modules=MAX_MODULES)
    assert len(network(meter_modules=MAX_MODULES, home=False).modules) == MAX_MODULES


def test_scenario_parsing_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        Scenario.parse("haunted_meter")
    with pytest.raises(ValueError, match="takes module, hours"):
        Scenario.parse("offline:minutes=3")


async def test_control_port_switches_scenarios_at_run_time() -> None:
    net = network()
    concentrator = SimulatedConcentrator(net, SimClock(START, 60))
    control = ControlServer([concentrator])
    assert control.execute("scenario dripping_tap on") == {
        "ok": True,
        "scenario": "dripping_tap",
        "on": True,
    }
    status = control.execute("status")
    assert "dripping_tap" in status["concentrators"][0]["scenarios"]  # type: ignore[index]
    assert control.execute("scenario dripping_tap off")["ok"] is True
    assert control.execute("scenario nonsense on")["ok"] is False
    assert control.execute("dance")["ok"] is False


def test_cli_runs_serves_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dmesh_lib.simulator",
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--modules",
            "12",
            "--speed",
            "60",
            "--scenario",
            "dripping_tap",
            "--control",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        second = json.loads(proc.stdout.readline())
        assert first["event"] == second["event"] == "listening"
        assert first["concentrator"] != second["concentrator"]  # two sub-networks
        assert first["modules"] == 12 and first["meters"] == 21
        assert "dripping_tap" in first["scenarios"]
        control = json.loads(proc.stdout.readline())
        host, port = control["address"].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"scenario gas_leak on\nstatus\n")
            replies = conn.makefile()
            switched, status = json.loads(replies.readline()), json.loads(replies.readline())
        assert switched == {"ok": True, "scenario": "gas_leak", "on": True}
        assert "gas_leak" in status["concentrators"][0]["scenarios"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_cli_refuses_too_many_modules() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "dmesh_lib.simulator", "--modules", "300"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "1 to 240 modules" in result.stderr


async def test_speed_accelerates_simulated_time() -> None:
    clock = SimClock(START, speed=3600)
    await asyncio.sleep(0.05)
    assert clock.now() - START >= 0.05 * 3600 * 0.9
