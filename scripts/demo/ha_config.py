"""A Home Assistant configuration directory prepared before its first start.

Onboarding is marked done and a demo owner exists with a known password, so the UI opens on the
login page instead of the onboarding wizard; the integrations are listed one by one instead of
``default_config`` (which pulls in go2rtc, a binary these machines lack). The Energy dashboard and
the Lovelace dashboard are written as HA's own storage files, in the formats HA itself saves.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt

from .layout import DemoEntities, lovelace_config

INTEGRATIONS = (
    # The frontend and what the demo's pages use; each also pulls in its own dependencies.
    "frontend",
    "config",
    "energy",
    "recorder",
    "history",
    "logbook",
    "automation",
    "blueprint",
    "script",
    "input_boolean",
    "system_health",
)


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    name: str = "Demo"


def _store(key: str, data: Any, version: int = 1, minor_version: int = 1) -> str:
    """One ``.storage`` file as HA's ``Store`` writes it."""
    return json.dumps(
        {"version": version, "minor_version": minor_version, "key": key, "data": data}, indent=2
    )


def _auth_files(login: DemoLogin) -> dict[str, str]:
    user_id = uuid.uuid4().hex
    # HA's own provider stores base64(bcrypt(password)); 12 rounds as in hash_password().
    hashed = bcrypt.hashpw(login.password.encode()[:72], bcrypt.gensalt(rounds=12))
    auth = {
        "users": [
            {
                "id": user_id,
                "group_ids": ["system-admin"],
                "is_owner": True,
                "is_active": True,
                "name": login.name,
                "system_generated": False,
                "local_only": False,
            }
        ],
        "groups": [
            {"id": "system-admin", "name": "Administrators"},
            {"id": "system-users", "name": "Users"},
            {"id": "system-read-only", "name": "Read Only"},
        ],
        "credentials": [
            {
                "id": uuid.uuid4().hex,
                "user_id": user_id,
                "auth_provider_type": "homeassistant",
                "auth_provider_id": None,
                "data": {"username": login.username},
            }
        ],
        "refresh_tokens": [],
    }
    provider = {
        "users": [{"username": login.username, "password": base64.b64encode(hashed).decode()}]
    }
    return {
        "auth": _store("auth", auth),
        "auth_provider.homeassistant": _store("auth_provider.homeassistant", provider),
    }


def http_config(port: int) -> dict[str, Any]:
    """HA keeps its HTTP settings in storage now; YAML would only be a five-minute trial.

    A config written as ``stable`` is what a user confirmed as working: it is used at once and
    never reverted. Loopback only: the demo's login is printed on the terminal.
    """
    return {
        "stable": {
            "server_host": ["127.0.0.1"],
            "server_port": port,
            "cors_allowed_origins": ["https://cast.home-assistant.io"],
            "login_attempts_threshold": -1,
            "ip_ban_enabled": True,
            "ssl_profile": "modern",
            "use_x_frame_options": True,
            "created_at": datetime.now(UTC).isoformat(),
            "error": None,
            "error_message": None,
        },
        "pending": None,
        "yaml_migration_done": True,
    }


def configuration_yaml() -> str:
    lines = [
        "# Written by `make demo` (scripts/demo): the integrations the demo needs, listed one by",
        "# one instead of default_config, which pulls in go2rtc.",
        "homeassistant:",
        "  name: BALANCE demo home",
        "  latitude: 47.0105",
        "  longitude: 28.8638",
        "  elevation: 85",
        "  unit_system: metric",
        "  currency: EUR",
        "  country: MD",
        "  time_zone: Europe/Chisinau",
        "  language: en",
        "recorder:",
        "  commit_interval: 1",
        "logger:",
        "  default: warning",
        "  logs:",
        "    custom_components.balance: info",
    ]
    lines += [f"{name}:" for name in INTEGRATIONS if name != "recorder"]
    return "\n".join(lines) + "\n"


def energy_prefs(entities: DemoEntities) -> dict[str, Any]:
    """The Energy dashboard: electricity from the grid, gas, water; heat as an own device.

    No prices: the demo enters the meters' readings after their first state, and a cost sensor
    would count that jump as money spent.
    """
    grid = {
        "type": "grid",
        "stat_energy_from": entities.electricity_total,
        "stat_energy_to": None,
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
        "stat_compensation": None,
        "entity_energy_price_export": None,
        "number_energy_price_export": None,
        "cost_adjustment_day": 0.0,
    }
    gas = {
        "type": "gas",
        "stat_energy_from": entities.gas_total,
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
    }
    water = {
        "type": "water",
        "stat_energy_from": entities.water_total,
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
    }
    return {
        "energy_sources": [grid, gas, water],
        "device_consumption": [{"stat_consumption": entities.heat_total, "name": "Heat"}],
        "device_consumption_water": [],
    }


def prepare(
    config_dir: Path,
    *,
    port: int,
    login: DemoLogin,
    entities: DemoEntities,
    integration_dir: Path,
) -> None:
    """Write the configuration directory; a directory that already has one is rewritten anew.

    A demo always starts from scratch: a recorder database left from an earlier run would hold
    statistics of another simulated start time.
    """
    if config_dir.exists() and not (config_dir / ".demo-ha").exists():
        raise FileExistsError(
            f"{config_dir} exists and was not made by the demo; choose another --state-dir"
        )
    _clear(config_dir)
    storage = config_dir / ".storage"
    storage.mkdir(parents=True)
    (config_dir / ".demo-ha").write_text(datetime.now(UTC).isoformat() + "\n")
    (config_dir / "configuration.yaml").write_text(configuration_yaml())
    custom = config_dir / "custom_components"
    custom.mkdir()
    (custom / "balance").symlink_to(integration_dir.resolve(), target_is_directory=True)
    files = {
        "onboarding": _store(
            "onboarding", {"done": ["user", "core_config", "analytics", "integration"]}, version=4
        ),
        **_auth_files(login),
        "http": _store("http", http_config(port), version=2, minor_version=2),
        "energy": _store("energy", energy_prefs(entities), minor_version=3),
        "lovelace": _store("lovelace", {"config": lovelace_config(entities)}),
    }
    for name, text in files.items():
        path = storage / name
        path.write_text(text)
        path.chmod(0o600)


def _clear(directory: Path) -> None:
    if not directory.exists():
        return
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            path.rmdir()
    directory.rmdir()
