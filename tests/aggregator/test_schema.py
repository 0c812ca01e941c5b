"""schemathesis against the OpenADR 3.1.0 OpenAPI document: no 5xx, no off-schema response.

The VTN runs as its own process (the CLI's ``serve``): schemathesis makes blocking requests, which
must not share an event loop with the server they test. Both storages and both roles (BL and VEN
tokens) are exercised; status codes, content types and response bodies are checked against the
document.

One check is narrowed where the 3.1.0 document contradicts itself, not the server: ``ven`` and
``resource`` responses are ``allOf: [objectMetadata, Bl...Request]``, whose ``objectType`` enums
([PROGRAM, ..., VEN, RESOURCE] vs [BL_VEN_REQUEST] / [BL_RESOURCE_REQUEST]) no value satisfies at
once; the VTN sends objectMetadata's value, so body conformance is not checked for those paths.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

# the specification lives in shared/, beside the repository (as in CI's fresh clone)
SPEC = Path(__file__).resolve().parents[3] / "shared" / "openadr3" / "openadr3-3.1.0.yaml"

schema = schemathesis.openapi.from_path(SPEC)
CONTRADICTORY = {"/vens", "/vens/{venID}", "/resources", "/resources/{resourceID}"}


def _wait_listening(log: Path, proc: subprocess.Popen[bytes]) -> int:
    """The port the server bound (it is started on port 0), from its JSON log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("msg") == "vtn listening":
                return int(entry["bound_port"])
        assert proc.poll() is None, f"the VTN exited during start-up: {log.read_text()}"
        time.sleep(0.1)
    raise AssertionError("the VTN did not start listening")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, services: None
) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path_factory.mktemp('schema')}/vtn.db"
    else:
        db = f"postgresql://postgres@127.0.0.1:5432/test?schema=vtn_st_{secrets.token_hex(5)}"
    workdir = tmp_path_factory.mktemp("served")
    env = dict(
        os.environ,
        BALANCE_VTN_DB=db,
        BALANCE_VTN_PORT="0",
        BALANCE_VTN_MQTT_TOPIC_PREFIX=f"schema-{secrets.token_hex(4)}",
        BALANCE_VTN_RATE_LIMIT_BURST="1000000",
        BALANCE_VTN_WEBHOOK_ALLOW_HTTP="true",
        BALANCE_VTN_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        BALANCE_VTN_WEBHOOK_TIMEOUT_S="2",
        BALANCE_VTN_LOG_LEVEL="INFO",
    )
    secret_bl, secret_ven = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    for client, role, secret in (("st-bl", "bl", secret_bl), ("st-ven", "ven", secret_ven)):
        command = ["client-add", client, "--role", role, f"--secret={secret}"]
        subprocess.run(
            [sys.executable, "-m", "balance_aggregator", *command],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    log = workdir / "vtn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "balance_aggregator", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    port = _wait_listening(log, proc)
    yield {
        "proc": proc,
        "base": f"http://127.0.0.1:{port}",
        "secrets": {"st-bl": secret_bl, "st-ven": secret_ven},
    }
    proc.terminate()
    proc.wait(timeout=30)
    if db.startswith("postgresql"):
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-c",
                f"DROP SCHEMA IF EXISTS {db.rsplit('=', 1)[1]} CASCADE",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
def tokens(served: dict[str, Any]) -> dict[str, str]:
    out = {}
    for client, secret in served["secrets"].items():
        response = requests.post(
            served["base"] + "/auth/token",
            data={"grant_type": "client_credentials", "client_id": client, "client_secret": secret},
            timeout=10,
        )
        out[client] = response.json()["access_token"]
    return out


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
)
@pytest.mark.parametrize("role", ["st-bl", "st-ven"])
def test_openadr_3_1_0_conformance(
    case: schemathesis.Case, served: dict[str, Any], tokens: dict[str, str], role: str
) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {tokens[role]}"}
    excluded = []
    if case.operation.path in CONTRADICTORY:
        excluded.append(checks.response_schema_conformance)
    case.call_and_validate(
        base_url=served["base"],
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
        excluded_checks=excluded,
        timeout=30,
    )
