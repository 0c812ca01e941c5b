"""``make test-install``: the release installed the way a Home Assistant user gets it.

Builds ``dist/balance.zip``, makes a fresh virtual environment with nothing but the
``homeassistant`` version the tests pin, unpacks the zip into a fresh configuration directory as
HACS does, and starts ``hass`` *without* ``--skip-pip``, so Home Assistant installs the manifest's
requirements from PyPI itself. Then, through the same HTTP API the frontend uses: onboard a user,
add BALANCE against the DMesh simulator on a loopback socket, check that its entities exist and
the meters have values; restart Home Assistant and check it all again.

Everything listens on 127.0.0.1 only, every wait is bounded, and every process started here is
stopped (its whole process group) however the run ends. On a failure the end of Home
Assistant's log is printed: that is where ``RequirementsNotFound`` or ``No module named`` show.

    python -m scripts.test_install [--work .install-test] [--reuse-venv]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp

from scripts import release
from scripts.demo.ha_api import JSON, HomeAssistantApi, HomeAssistantError
from scripts.demo.ha_config import http_config
from scripts.demo.processes import ChildExited, ProcessGroup, free_port, port_open

ROOT = release.ROOT
DOMAIN = release.DOMAIN
USERNAME = "installer"
PASSWORD = "install-test-password"  # loopback only, a throw-away configuration
UNAVAILABLE = ("unavailable", "unknown")

CONFIGURATION_YAML = """\
# Written by `make test-install` (scripts/test_install.py). Without any configuration HA sets up
# its default integrations, frontend among them, and with it onboarding, api, config and
# websocket_api: all the test needs. default_config would add go2rtc and more, which BALANCE does
# not use. The recorder is here because BALANCE imports its meters' hours into statistics.
recorder:
logger:
  default: warning
  logs:
    homeassistant.util.package: info
    homeassistant.requirements: info
    custom_components.balance: info
"""


class InstallTestError(RuntimeError):
    """A step of the install test failed; the message says which and why."""


@dataclass(slots=True)
class Timings:
    started: float = field(default_factory=time.monotonic)
    phases: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        print(f"== {name}", flush=True)
        begin = time.monotonic()
        try:
            yield
        finally:
            self.phases.append((name, time.monotonic() - begin))

    def summary(self) -> str:
        lines = [f"  {name:<44} {seconds:7.1f} s" for name, seconds in self.phases]
        lines.append(f"  {'total':<44} {time.monotonic() - self.started:7.1f} s")
        return "\n".join(lines)


class InstallApi(HomeAssistantApi):
    """The demo's REST client plus what only a first start needs: onboarding."""

    request_timeout = 600.0

    def wait_for_http(self, path: str, timeout: float, alive: Callable[[], None]) -> None:
        """``path`` answers without a login as soon as the HTTP server is up.

        ``/api/onboarding`` until a user is onboarded (HA registers it only until then),
        ``/auth/providers`` from then on (it refuses to answer before).

        The first start installs the frontend and the default integrations' requirements
        before the server starts, hence the long bound; ``alive`` raises if HA died meanwhile.
        """
        deadline = time.monotonic() + timeout
        while True:
            alive()
            try:
                self._request("GET", path)
                return
            except (OSError, HomeAssistantError) as err:
                if time.monotonic() > deadline:
                    raise InstallTestError(
                        f"Home Assistant's HTTP API did not answer within {timeout:.0f} s: {err}"
                    ) from err
            time.sleep(1.0)

    def wait_running(self, timeout: float, alive: Callable[[], None]) -> None:
        """Until HA's start has finished: HTTP serves long before, but only a running HA has
        its signal handlers, so a SIGTERM earlier kills it without saving its storage."""
        deadline = time.monotonic() + timeout
        state = None
        while True:
            alive()
            state = self._request("GET", "/api/core/state").get("state")
            if state == "RUNNING":
                return
            if time.monotonic() > deadline:
                raise InstallTestError(f"Home Assistant is {state} after {timeout:.0f} s")
            time.sleep(1.0)

    def onboard(self, username: str, password: str) -> None:
        """The onboarding wizard's requests, in its order: user, core config, analytics, done."""
        client_id = self.base_url + "/"
        done = {s["step"]: s["done"] for s in self._request("GET", "/api/onboarding")}
        if any(done.values()):
            raise InstallTestError(f"a fresh configuration is already onboarded: {done}")
        created = self._request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": client_id,
                "name": "Install test",
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        token = self._request(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": client_id,
            },
        )
        self.token = cast(str, token["access_token"])
        self._request("POST", "/api/onboarding/core_config", {})
        self._request("POST", "/api/onboarding/analytics", {})
        self._request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": client_id, "redirect_uri": client_id + "?auth_callback=1"},
        )
        done = {s["step"]: s["done"] for s in self._request("GET", "/api/onboarding")}
        if not all(done.values()):
            raise InstallTestError(f"onboarding did not finish: {done}")

    def flow_step(self, path: str, answer: JSON | None = None) -> JSON:
        if answer is None:
            # The first step loads the integration, and HA installs its requirements (uv, from
            # PyPI) before it answers: the request waits for that, as the frontend does.
            return cast(JSON, self._request("POST", path, {"handler": DOMAIN}))
        return cast(JSON, self._request("POST", path, answer))

    def entity_registry(self) -> list[JSON]:
        """The entity registry, which only the websocket API lists."""
        return asyncio.run(self._ws_command({"type": "config/entity_registry/list"}))

    async def _ws_command(self, command: JSON) -> list[JSON]:
        url = self.base_url.replace("http://", "ws://", 1) + "/api/websocket"
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.ws_connect(url) as ws,
        ):
            hello = await ws.receive_json()
            if hello.get("type") != "auth_required":
                raise InstallTestError(f"websocket: unexpected greeting {hello}")
            await ws.send_json({"type": "auth", "access_token": self.token})
            auth = await ws.receive_json()
            if auth.get("type") != "auth_ok":
                raise InstallTestError(f"websocket: authentication failed: {auth}")
            await ws.send_json({"id": 1, **command})
            answer = await ws.receive_json()
            if not answer.get("success"):
                raise InstallTestError(f"websocket {command['type']}: {answer.get('error')}")
            return cast(list[JSON], answer["result"])


# -- the environment


def base_python() -> str:
    """The interpreter the dev venv was made from: the same Python a user's HA would run on."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def pinned_homeassistant() -> str:
    return importlib.metadata.version("homeassistant")


def clean_env(venv: Path) -> dict[str, str]:
    """The child's environment: the fresh venv first on PATH, nothing of the dev venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_logged(
    argv: list[str], log: Path, *, timeout: float, what: str, env: dict[str, str]
) -> None:
    with log.open("a") as out:
        try:
            proc = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise InstallTestError(f"{what} took longer than {timeout:.0f} s") from err
    if proc.returncode != 0:
        raise InstallTestError(f"{what} failed ({proc.returncode}):\n{tail(log, 25)}")


def make_venv(venv: Path, python: str, version: str, logs: Path, *, reuse: bool) -> None:
    if reuse and (venv / "bin" / "hass").exists():
        print(f"   reusing {venv} (--reuse-venv: not a fresh install)")
        return
    shutil.rmtree(venv, ignore_errors=True)
    env = clean_env(venv)
    log = logs / "pip.log"
    begin = time.monotonic()
    run_logged([python, "-m", "venv", str(venv)], log, timeout=300, what="venv", env=env)
    print(f"   {python} -m venv: {time.monotonic() - begin:.1f} s")
    # Only homeassistant: everything else is HA's to install at run time. pip's cache is reused.
    run_logged(
        [str(venv / "bin/python"), "-m", "pip", "install", f"homeassistant=={version}"],
        log,
        timeout=1200,
        what=f"pip install homeassistant=={version}",
        env=env,
    )


def prepare_config(config: Path, archive: Path, port: int) -> None:
    """A configuration directory as a new user has it, with BALANCE unpacked as HACS does."""
    shutil.rmtree(config, ignore_errors=True)
    target = config / "custom_components" / DOMAIN
    target.mkdir(parents=True)
    # HACS extracts the release's zip into custom_components/<domain>/ (hacs.json zip_release).
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(target)
    (config / "configuration.yaml").write_text(CONFIGURATION_YAML)
    # HA 2026.10 keeps its HTTP settings in storage; a YAML http: block would be migrated into
    # a "pending" trial that reverts (and restarts HA) after five minutes. Stored as "stable":
    # loopback, a port of our own.
    storage = config / ".storage"
    storage.mkdir()
    (storage / "http").write_text(
        json.dumps(
            {"version": 2, "minor_version": 2, "key": "http", "data": http_config(port)},
            indent=2,
        )
    )


def tail(path: Path, lines: int) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "".join(path.read_text(errors="replace").splitlines(True)[-lines:])


_PROBLEM = re.compile(
    r"RequirementsNotFound|No module named|Unable to install|ImportError|ModuleNotFoundError|"
    r"custom_components\.balance|\bbalance\b"
)
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (\w+) ", re.MULTILINE)


def _shorten(record: str, keep: int = 14) -> str:
    """A traceback's first line and its end, where the exception is."""
    lines = record.splitlines()
    if len(lines) <= keep + 2:
        return record
    return "\n".join([lines[0], "    ...", *lines[-keep:]])


def log_report(log: Path, records: int = 6, lines: int = 20) -> str:
    """What HA's log says went wrong: its last ERROR records (tracebacks included) that name
    BALANCE, a requirement or a missing module, then the log's last lines."""
    if not log.exists():
        return f"({log} does not exist)"
    text = log.read_text(errors="replace")
    starts = [m.start() for m in _RECORD.finditer(text)] + [len(text)]
    found = [
        text[a:b].rstrip()
        for a, b in itertools.pairwise(starts)
        if text[a:b].split(" ", 3)[2] in ("ERROR", "CRITICAL") and _PROBLEM.search(text[a:b])
    ][-records:]
    shown = "\n".join(_shorten(r) for r in found)
    head = f"errors in {log} about BALANCE and its requirements:\n{shown}\n" if found else ""
    tail_lines = "\n".join(text.splitlines()[-lines:])
    return f"{head}--- last {lines} lines of {log}:\n{tail_lines}"


def installs(log: Path) -> list[str]:
    """Packages HA installed itself (``homeassistant.util.package`` logs each attempt)."""
    if not log.exists():
        return []
    found = re.findall(r"Attempting install of (\S+)", log.read_text(errors="replace"))
    return list(dict.fromkeys(found))


# -- the checks


@dataclass(slots=True)
class Run:
    root: Path
    work: Path
    reuse_venv: bool
    timings: Timings = field(default_factory=Timings)
    group: ProcessGroup | None = None
    hass_starts: int = 0
    entry_id: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def venv(self) -> Path:
        return self.work / "venv"

    @property
    def config(self) -> Path:
        return self.work / "config"

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    @property
    def ha_log(self) -> Path:
        return self.config / "home-assistant.log"

    def alive(self) -> None:
        assert self.group is not None
        try:
            self.group.check()
        except ChildExited as err:
            raise InstallTestError(str(err)) from err

    def start_hass(self, api: InstallApi, timeout: float, *, onboarded: bool) -> None:
        assert self.group is not None
        self.hass_starts += 1
        self.group.start(
            f"hass-{self.hass_starts}",
            [str(self.venv / "bin/hass"), "-c", str(self.config)],
            env=clean_env(self.venv),
            stop_timeout=90,
        )
        api.wait_for_http(
            "/auth/providers" if onboarded else "/api/onboarding", timeout, self.alive
        )

    def stop_hass(self) -> None:
        assert self.group is not None
        name = f"hass-{self.hass_starts}"
        child = next(c for c in self.group.children if c.name == name)
        self.group.stop(name)  # SIGTERM to the group, a bounded wait, then SIGKILL
        # HA rotates its log on the next start: keep each start's log beside the others
        if self.ha_log.exists():
            shutil.copyfile(self.ha_log, self.logs / f"home-assistant-{self.hass_starts}.log")
        code = child.process.returncode
        if code == -9:
            raise InstallTestError(f"{name} did not stop within 90 s of SIGTERM and was killed")
        if code != 0:
            self.notes.append(f"{name} exited with {code} on SIGTERM")
        if self.entry_id:
            stored = json.loads((self.config / ".storage" / "core.config_entries").read_text())
            if self.entry_id not in {e["entry_id"] for e in stored["data"]["entries"]}:
                raise InstallTestError(f"{name} stopped without saving BALANCE's config entry")

    def add_balance(self, api: InstallApi, url: str) -> str:
        """The config flow as the UI walks it: menu → concentrator → manual entry → URL."""
        base = "/api/config/config_entries/flow"
        step = api.flow_step(base)
        if step.get("type") != "menu" or "concentrator" not in step.get("menu_options", []):
            raise InstallTestError(f"balance's first step is not the kind menu: {step}")
        step = api.flow_step(f"{base}/{step['flow_id']}", {"next_step_id": "concentrator"})
        if step.get("type") != "form" or step.get("step_id") != "user":
            raise InstallTestError(f"choosing 'concentrator' gave {step}")
        step = api.flow_step(f"{base}/{step['flow_id']}", {"device": "manual"})
        if step.get("step_id") != "manual":
            raise InstallTestError(f"choosing manual entry gave {step}")
        step = api.flow_step(f"{base}/{step['flow_id']}", {"url": url})
        if step.get("type") != "create_entry":
            raise InstallTestError(f"the concentrator at {url} was not added: {step}")
        return cast(str, step["result"]["entry_id"])

    def check_entities(self, api: InstallApi, timeout: float) -> tuple[int, list[str]]:
        """BALANCE's entities exist; its meter totals have values. Returns (count, meters)."""
        registry = [
            e
            for e in api.entity_registry()
            if e.get("platform") == DOMAIN and e.get("config_entry_id") == self.entry_id
        ]
        if not registry:
            raise InstallTestError("the entry has no entities in the entity registry")
        ids = {e["entity_id"] for e in registry if not e.get("disabled_by")}
        deadline = time.monotonic() + timeout
        while True:
            states = {s["entity_id"]: s for s in api.states() if s["entity_id"] in ids}
            meters = sorted(
                eid
                for eid, s in states.items()
                if eid.startswith("sensor.")
                and s["attributes"].get("state_class") == "total_increasing"
            )
            waiting = sorted(eid for eid in meters if states[eid]["state"] in UNAVAILABLE) + sorted(
                ids - set(states)
            )
            if meters and not waiting:
                return len(ids), meters
            if time.monotonic() > deadline:
                raise InstallTestError(
                    f"after {timeout:.0f} s: {len(states)}/{len(ids)} entities have a state, "
                    f"{len(meters)} meter totals; not ready: {waiting[:10]}"
                )
            time.sleep(1.0)

    def execute(self) -> list[str]:
        self.work.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir()
        version = pinned_homeassistant()
        report: list[str] = []

        with self.timings.phase("build dist/balance.zip (scripts/release.py)"):
            built = release.build(self.root, self.root / "dist")
            assert built.archive is not None
            report.append(f"artefact: {built.archive} (bundled {', '.join(built.bundled)})")

        with self.timings.phase(f"fresh venv + pip install homeassistant=={version}"):
            make_venv(self.venv, base_python(), version, self.logs, reuse=self.reuse_venv)

        ha_port, sim_port = free_port(), free_port()
        prepare_config(self.config, built.archive, ha_port)
        self.group = ProcessGroup(self.logs, clean_env(self.venv), self.root)
        api = InstallApi(f"http://127.0.0.1:{ha_port}")
        try:
            with self.timings.phase("DMesh simulator"):
                # From the dev venv: the simulator needs demandlib and pandas, HA's venv has not.
                self.group.start(
                    "simulator",
                    [
                        sys.executable,
                        "-m",
                        "dmesh_lib.simulator",
                        "--listen",
                        f"127.0.0.1:{sim_port}",
                        "--modules",
                        "6",  # the demo home kit (5 modules) and one D100FC with three meters
                        "--report-interval",
                        "5",
                        "--seed",
                        "1",
                    ],
                    env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                )
                deadline = time.monotonic() + 60
                while not port_open("127.0.0.1", sim_port):
                    self.alive()
                    if time.monotonic() > deadline:
                        raise InstallTestError("the simulator did not listen within 60 s")
                    time.sleep(0.3)

            with self.timings.phase("first start of hass (HA installs its requirements)"):
                self.start_hass(api, timeout=1200, onboarded=False)

            with self.timings.phase("onboarding"):
                api.onboard(USERNAME, PASSWORD)

            with self.timings.phase("until HA runs (its default integrations set up)"):
                api.wait_running(900, self.alive)

            with self.timings.phase("add BALANCE (pip installs the manifest's requirements)"):
                self.entry_id = self.add_balance(api, f"socket://127.0.0.1:{sim_port}")
                api.wait_loaded(self.entry_id, timeout=120)

            with self.timings.phase("entities and meter values"):
                count, meters = self.check_entities(api, timeout=120)
                report.append(f"first start: entry loaded, {count} entities, meters {meters}")

            with self.timings.phase("stop hass (SIGTERM)"):
                self.stop_hass()

            with self.timings.phase("second start of hass"):
                self.start_hass(api, timeout=300, onboarded=True)
                api.login(USERNAME, PASSWORD)
                api.wait_running(300, self.alive)
                api.wait_loaded(self.entry_id, timeout=120)
                count, meters = self.check_entities(api, timeout=120)
                report.append(f"after restart: entry loaded, {count} entities with states")
            self.stop_hass()
        finally:
            self.group.stop_all()
        found = list(
            dict.fromkeys(
                r for log in sorted(self.logs.glob("home-assistant-*.log")) for r in installs(log)
            )
        )
        ours = [r for r in found if _requirement_name(r) in _manifest_names(self.config)]
        report.append(
            f"HA installed {len(found)} requirements itself; BALANCE's: {', '.join(ours) or '-'}"
        )
        return report + self.notes


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _manifest_names(config: Path) -> set[str]:
    manifest = json.loads((config / "custom_components" / DOMAIN / "manifest.json").read_text())
    return {_requirement_name(r) for r in manifest["requirements"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--work", type=Path, default=ROOT / ".install-test", help="scratch dir")
    parser.add_argument(
        "--reuse-venv",
        action="store_true",
        help="keep the venv of an earlier run (faster while developing; not a fresh install)",
    )
    args = parser.parse_args(argv)
    # A SIGTERM (a CI time-out) unwinds like Ctrl-C, so the finally clause stops the children:
    # they run in sessions of their own and would otherwise outlive this process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Run(ROOT, args.work.resolve(), args.reuse_venv)
    try:
        report = run.execute()
    except (InstallTestError, HomeAssistantError, release.ReleaseError, OSError) as err:
        print(f"\ntest-install FAILED: {err}\n", file=sys.stderr)
        if run.hass_starts:
            print(log_report(run.ha_log), file=sys.stderr)
        print(f"\ntimings:\n{run.timings.summary()}", file=sys.stderr)
        return 1
    print("\ntest-install passed:")
    for line in report:
        print(f"  {line}")
    print(f"timings:\n{run.timings.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
