"""The utility's side: the aggregator on SQLite, seeded with a demo feeder, its logins, and the
demo street: a simulated concentrator whose modules meter houses of the feeder, read by the
aggregator's own head-end (in ``serve``), mapped to those houses by the hierarchy import."""

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

STREET_CONCENTRATOR = "demo-street"
"""The demo street's concentrator, registered on the feeder's street node."""
STREET_MODULES = 36
"""D100FC modules on the demo street: a few dozen of the feeder's 100 houses, the thieves first."""

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
    street: dict[str, Any] = field(default_factory=dict)
    """The demo street's concentrator: its URL and the houses it meters; empty without it."""

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
    group: ProcessGroup,
    *,
    port: int,
    db_path: Path,
    feeder: bool,
    password: str,
    street_port: int | None = None,
) -> Aggregator:
    db = f"sqlite:///{db_path}"
    env = environment(group.env, port)
    operator: dict[str, Any] = {}
    seeded = feeder and _has_command("seed-demo", env, group.cwd)
    street: dict[str, Any] = {}
    if seeded:
        hour = seed_feeder(db, env, group.cwd, password, operator)
        if street_port is not None:
            street = start_street(group, street_port, hour)
            attach_street(db, env, group.cwd, street, db_path.parent)
    else:
        _cli(["migrate", "--db", db], env, group.cwd)
    [bl] = _cli(["client-add", OPERATOR_CLIENT, "--role", "bl", "--db", db], env, group.cwd)
    [ven] = _cli(["client-add", HOUSE_CLIENT, "--role", "ven", "--db", db], env, group.cwd)
    serve_env = dict(env)
    serve_env["BALANCE_VTN_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    if street:
        # the head-end runs in serve; the street's clock is real time, so it is left alone
        serve_env["BALANCE_VTN_HEADEND_IN_SERVE"] = "true"
        serve_env["BALANCE_VTN_HEADEND_SYNC_TIME"] = "false"
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
    return Aggregator(url, HOUSE_CLIENT, ven["client_secret"], operator, seeded, street)


def seed_feeder(
    db: str, env: dict[str, str], cwd: Path, password: str, operator: dict[str, Any]
) -> int:
    """seed-demo's feeder, within one hour: the hour index its 30 days end at (the street's
    modules must replay the very same hours). Seeded again if an hour began meanwhile."""
    while True:
        hour = int(time.time() // 3600)
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
            cwd,
        )
        if int(time.time() // 3600) == hour:
            for line in lines:
                operator.update(line)
            return hour
        Path(db.removeprefix("sqlite:///")).unlink(missing_ok=True)


def start_street(group: ProcessGroup, port: int, hour: int) -> dict[str, Any]:
    """The demo street's simulator; what it printed (URL, concentrator, the houses' mapping)."""
    child = group.start(
        "street",
        [
            sys.executable,
            "-m",
            "scripts.demo.street_host",
            "--listen",
            f"127.0.0.1:{port}",
            "--modules",
            str(STREET_MODULES),
            "--start-hour",
            str(hour),
        ],
        stdout=subprocess.PIPE,
    )
    out = child.process.stdout
    assert out is not None
    line = out.readline()
    if not line:
        group.check()
        raise RuntimeError("the street simulator closed its output before it was listening")
    event: dict[str, Any] = json.loads(line)
    return event


def attach_street(
    db: str, env: dict[str, str], cwd: Path, street: dict[str, Any], state: Path
) -> None:
    """Map the street's meters to their houses' subscriber meters (hierarchy import: ven_id
    ``dmesh``, resource_name ``SSSSSSSS/c``) and register its concentrator on the feeder's street,
    read from the first hour seed-demo has, so the houses' month comes from the field."""
    hierarchy = {
        "meters": [
            {
                "id": m["meter"],
                "node": m["node"],
                "role": "subscriber",
                "phase": m["phase"],
                "ven_id": "dmesh",
                "resource_name": m["resource_name"],
            }
            for m in street["mapping"]
        ]
    }
    path = state / "demo-street.json"
    path.write_text(json.dumps(hierarchy, indent=1))
    _cli(["grid-import", str(path), "--db", db], env, cwd)
    _cli(
        [
            "concentrator",
            "add",
            STREET_CONCENTRATOR,
            street["url"],
            "--node",
            "demo-street",
            "--backfill-hours",
            str(30 * 24),
            "--db",
            db,
        ],
        env,
        cwd,
    )


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
