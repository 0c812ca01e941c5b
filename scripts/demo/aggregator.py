"""The utility's side: the aggregator on SQLite, seeded with a demo feeder, and its logins."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .processes import ProcessGroup, port_open

HOUSE_CLIENT = "house-demo"
"""The OAuth2 client of the demo home's Home Assistant (a VEN)."""
OPERATOR_CLIENT = "demo-provisioning"
"""A BL client: provisions the demo home's ven object (the operator UI has its own login)."""
DR_GROUP = "demo-feeder"
"""The target of seed-demo's feeder: a DR event for the feeder reaches the demo home too."""


@dataclass(frozen=True, slots=True)
class Aggregator:
    url: str
    ven_client_id: str
    ven_client_secret: str
    operator: dict[str, Any] = field(default_factory=dict)
    """What seed-demo printed: the operator's login, the DR target; empty without the feeder."""
    seeded: bool = False

    @property
    def ui_url(self) -> str:
        return self.url + "/ui/"


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """Run one ``python -m balance_aggregator`` command; its JSON output lines."""
    done = subprocess.run(
        [sys.executable, "-m", "balance_aggregator", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"balance_aggregator {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    out: list[dict[str, Any]] = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _has_command(name: str, env: dict[str, str], cwd: Path) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "balance_aggregator", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    return name in done.stdout


def environment(base: dict[str, str], port: int) -> dict[str, str]:
    """MQTT push when a broker runs here (polling otherwise), on topics of this run only."""
    env = dict(base)
    if port_open("127.0.0.1", 1883):
        env["BALANCE_VTN_MQTT_HOST"] = "127.0.0.1"
        env["BALANCE_VTN_MQTT_PUBLIC_URIS"] = "mqtt://127.0.0.1:1883"
        env["BALANCE_VTN_MQTT_TOPIC_PREFIX"] = f"balance-demo-{port}"
    else:
        env["BALANCE_VTN_MQTT_HOST"] = ""
    return env


def start_aggregator(
    group: ProcessGroup, *, port: int, db_path: Path, feeder: bool, password: str
) -> Aggregator:
    db = f"sqlite:///{db_path}"
    env = environment(group.env, port)
    operator: dict[str, Any] = {}
    seeded = feeder and _has_command("seed-demo", env, group.cwd)
    if seeded:
        lines = _cli(
            [
                "seed-demo",
                "--db",
                db,
                "--houses",
                "100",
                "--thieves",
                "2",
                "--username",
                "operator",
                "--password",
                password,
            ],
            env,
            group.cwd,
        )
        for line in lines:
            operator.update(line)
    else:
        _cli(["migrate", "--db", db], env, group.cwd)
    [bl] = _cli(["client-add", OPERATOR_CLIENT, "--role", "bl", "--db", db], env, group.cwd)
    [ven] = _cli(["client-add", HOUSE_CLIENT, "--role", "ven", "--db", db], env, group.cwd)
    serve_env = dict(env)
    serve_env["BALANCE_VTN_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    group.start(
        "aggregator",
        [
            sys.executable,
            "-m",
            "balance_aggregator",
            "serve",
            "--db",
            db,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=serve_env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, group, timeout=60)
    provision_house(
        url, OPERATOR_CLIENT, bl["client_secret"], str(operator.get("target", DR_GROUP))
    )
    return Aggregator(url, HOUSE_CLIENT, ven["client_secret"], operator, seeded)


def _post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:500]
        raise RuntimeError(f"POST {url}: HTTP {err.code}: {detail}") from err
    return answer


def provision_house(url: str, client_id: str, secret: str, group: str) -> None:
    """As the utility does for a new house: its ven object, in the feeder's DR group.

    The house's VEN then finds this object (rather than making one of its own) and takes its
    targets, so events for the group reach it.
    """
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).encode()
    token = _post(url + "/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})[
        "access_token"
    ]
    ven = {
        "objectType": "BL_VEN_REQUEST",
        "venName": HOUSE_CLIENT,
        "clientID": HOUSE_CLIENT,
        "targets": [group],
    }
    _post(
        url + "/vens",
        json.dumps(ven).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )


def wait_healthy(url: str, group: ProcessGroup, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        group.check()
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # HTTPError too: not healthy yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the aggregator at {url} is not healthy after {timeout:.0f} s")
        time.sleep(0.3)
