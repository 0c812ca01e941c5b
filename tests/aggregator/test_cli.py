"""The deployable service: CLI, configuration by file and environment, JSON logs, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import aiohttp

from balance_aggregator.config import Settings
from balance_aggregator.logs import JsonFormatter
from balance_openadr.client import VenClient


def test_settings_from_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "vtn.toml"
    config.write_text(
        '[vtn]\ndb = "sqlite:///a.db"\nport = 9000\nmqtt_public_uris = ["mqtts://b:8883"]\n'
    )
    env = {"BALANCE_VTN_PORT": "9100", "BALANCE_VTN_MQTT_RETAIN": "true"}
    settings = Settings.load(config, env=env)
    assert settings.db == "sqlite:///a.db"
    assert settings.port == 9100
    assert settings.mqtt_retain is True
    assert settings.mqtt_public_uris == ["mqtts://b:8883"]
    assert Settings.load(config, env=env, db="postgresql://x/y").db == "postgresql://x/y"


def test_json_log_lines() -> None:
    record = logging.makeLogRecord(
        {"name": "vtn", "levelname": "INFO", "msg": "hello %s", "args": ("x",), "ven": "v1"}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello x" and line["ven"] == "v1" and line["level"] == "INFO"


async def _cli(*args: str, env: dict[str, str]) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "balance_aggregator",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_serve_migrates_answers_and_stops_on_sigterm(
    storage_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "vtn.toml"
    config.write_text('port = 0\nmqtt_topic_prefix = "cli-test"\n')
    env = dict(os.environ, BALANCE_VTN_DB=storage_url)
    assert await _cli("migrate", "--config", str(config), env=env) == {"schema": 5}
    added = await _cli("client-add", "operator", "--role", "bl", "--config", str(config), env=env)
    secret = str(added["client_secret"])
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "balance_aggregator",
        "serve",
        "--config",
        str(config),
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None
    try:
        port = 0
        while not port:
            raw = await asyncio.wait_for(server.stdout.readline(), 30)
            assert raw, "the server exited before listening"
            line = json.loads(raw)
            assert {"ts", "level", "logger", "msg"} <= set(line)
            if line["msg"] == "vtn listening":
                port = int(line["bound_port"])
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/health") as response:
                assert (await response.json())["status"] == "ok"
            async with VenClient(base, "operator", secret, session=session) as bl:
                program = await bl.request("POST", "/programs", json_body={"programName": "cli"})
                assert program["programName"] == "cli"
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)
    assert server.returncode == 0
    removed = await _cli("client-remove", "operator", "--config", str(config), env=env)
    assert removed == {"client_id": "operator", "removed": True}
