"""The demo's parts that need no Home Assistant running: its config directory, its simulator with
a day of dripping tap in the modules' counters, and its clear errors (part of `make test`)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import numpy as np
import pytest
from homeassistant.components.onboarding.const import STEPS

from dmesh_lib import ConcentratorClient
from dmesh_lib.simulator.network import HISTORY_HOURS
from scripts.demo import __main__ as demo_main
from scripts.demo import ha_config
from scripts.demo.layout import DemoEntities

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "balance"
LOGIN = ha_config.DemoLogin("demo", "s3cret-pass")


@pytest.fixture(autouse=True)
def _real_sockets(socket_enabled: None) -> None:
    """Home Assistant's test plugin blocks sockets; the simulator is reached over loopback TCP."""


def _storage(config_dir: Path, key: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((config_dir / ".storage" / key).read_text())
    return data


def test_config_directory_is_onboarded_with_a_login_that_checks(tmp_path: Path) -> None:
    config = tmp_path / "ha"
    ha_config.prepare(
        config, port=18123, login=LOGIN, entities=DemoEntities(), integration_dir=INTEGRATION
    )
    onboarding = _storage(config, "onboarding")["data"]
    assert isinstance(onboarding, dict)
    assert set(onboarding["done"]) == set(STEPS)
    provider = _storage(config, "auth_provider.homeassistant")["data"]
    assert isinstance(provider, dict)
    [user] = provider["users"]
    stored = base64.b64decode(user["password"])
    assert bcrypt.checkpw(b"s3cret-pass", stored)
    assert not bcrypt.checkpw(b"wrong", stored)
    http = _storage(config, "http")["data"]
    assert isinstance(http, dict)
    assert http["stable"]["server_port"] == 18123
    assert http["pending"] is None
    yaml = (config / "configuration.yaml").read_text()
    assert "default_config:" not in yaml.splitlines()
    assert "energy:" in yaml.splitlines()
    assert (config / "custom_components" / "balance").resolve() == INTEGRATION.resolve()


def test_energy_prefs_name_the_meters_the_dashboard_shows(tmp_path: Path) -> None:
    entities = DemoEntities()
    prefs = ha_config.energy_prefs(entities)
    sources = {s["type"]: s["stat_energy_from"] for s in prefs["energy_sources"]}
    assert sources == {
        "grid": entities.electricity_total,
        "gas": entities.gas_total,
        "water": entities.water_total,
    }
    assert prefs["device_consumption"][0]["stat_consumption"] == entities.heat_total


def test_a_directory_not_made_by_the_demo_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "mine"
    config.mkdir()
    (config / "configuration.yaml").write_text("keep: me\n")
    with pytest.raises(FileExistsError, match="not made by the demo"):
        ha_config.prepare(
            config, port=18123, login=LOGIN, entities=DemoEntities(), integration_dir=INTEGRATION
        )
    assert (config / "configuration.yaml").read_text() == "keep: me\n"


def test_a_second_run_starts_afresh(tmp_path: Path) -> None:
    config = tmp_path / "ha"
    for port in (18123, 18124):
        ha_config.prepare(
            config, port=port, login=LOGIN, entities=DemoEntities(), integration_dir=INTEGRATION
        )
        (config / "home-assistant_v2.db").write_text("old run")
    ha_config.prepare(
        config, port=18125, login=LOGIN, entities=DemoEntities(), integration_dir=INTEGRATION
    )
    assert not (config / "home-assistant_v2.db").exists()


def test_a_port_in_use_is_a_clear_error_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = demo_main.main(["--state-dir", str(tmp_path), "--ha-port", str(port)])
    assert code == 1
    assert f"port {port} (--ha-port) is in use" in capsys.readouterr().err
    assert not (tmp_path / "ha").exists()


async def test_the_simulator_has_dripped_for_a_day_before_it_listens(tmp_path: Path) -> None:
    """The demo home's water meter counts at least 15 L in every one of the last 24 hours."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.demo.simulator_host",
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--tap-hours-ago",
        "26",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        listening = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        client = ConcentratorClient(listening["url"], auto_reconnect=False)
        await client.connect()
        try:
            now_hour = int(time.time()) // 3600
            backlog = await client.fetch_backlog(0x10000100, now_hour - 24, now_hour, [1])
        finally:
            await client.close()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    counters = [r.counter for r in backlog[1]]
    assert len(counters) == 25
    litres = [b - a for a, b in itertools.pairwise(counters)]
    # 1 pulse per litre; a dripping tap is 15 L/h, and some hours also have real draws.
    assert min(litres) >= 14, litres


def test_the_demo_street_replays_the_seeded_houses_and_meters_the_thieves() -> None:
    """Each street module's electricity channel holds, hour by hour, what seed-demo gave its house
    (to the meter's pulse), so the feeder's balance adds up when the head-end reads the field."""
    from balance_grid.synthetic import make_feeder
    from dmesh_lib.units import COUNTER_MODULO
    from scripts.demo import street_host

    end_hour = 1_767_225_600 // 3600 + 24 * 31  # 2026-02-01 00:00 UTC, a fixed hour
    args = street_host.build_parser().parse_args(["--modules", "12", "--start-hour", str(end_hour)])
    network, mapping = street_host.street_network(args, now=end_hour * 3600 + 1800)
    start = datetime.fromtimestamp(end_hour * 3600, UTC) - timedelta(days=30)
    feeder = make_feeder(100, 30, thieves=2, seed=7, start=start)
    assert len(mapping) == 12
    assert {m["meter"] for m in mapping[:2]} == set(feeder.dishonest)
    first = end_hour - 30 * 24
    for m, module in zip(mapping, network.meter_modules, strict=True):
        assert m["resource_name"] == f"{module.serial:08X}/0"
        i = feeder.meter_ids.index(m["meter"])
        assert m["node"] == f"demo-house-{i + 1:03d}" and m["phase"] == feeder.phases[i]
        ppu = float(network.ppu[module.row, 0])
        for hour in (first, first + 100, end_hour - 1):
            h0, h1 = hour % HISTORY_HOURS, (hour + 1) % HISTORY_HOURS
            assert network.history_hour[h0] == hour and network.history_hour[h1] == hour + 1
            pulses = int(network.history[module.row, 0, h1] - network.history[module.row, 0, h0])
            value = (pulses % COUNTER_MODULO) / ppu
            want = feeder.reported_kwh[i, hour - first]
            assert abs(value - (0.0 if np.isnan(want) else want)) <= 1.0 / ppu + 1e-9
