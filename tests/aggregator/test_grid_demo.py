"""The demo seed, the grid CLI and the loss analytics behind the operator API, on both databases."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from balance_aggregator.cli.demo import DEMO_TARGET, seed_demo
from balance_aggregator.storage import Storage

from .conftest import RunningVtn
from .operator_helpers import browser

ROOT = Path(__file__).resolve().parents[2]


async def test_seed_demo_builds_a_feeder(storage: Storage) -> None:
    result = await seed_demo(storage, houses=12, thieves=2, days=3, password="demo-pass-123")
    grid = storage.grid()
    street = await grid.get_node(result.street)
    assert street is not None and street.target == DEMO_TARGET
    houses = [n for n in await grid.list_nodes("") if n.level == "house"]
    assert len(houses) == 12 and len(result.thieves) == 2
    meters = await grid.list_meters("")
    assert {m.role for m in meters} == {"feeder", "subscriber"} and len(meters) == 13
    assert all(m.phase in ("A", "B", "C") for m in meters if m.role == "subscriber")
    assert result.readings == await storage.count_readings()
    user = await grid.get_user("operator")
    assert user is not None and (user.role, user.scope_node_id) == ("operator", "demo-region")
    end = int(time.time()) // 3600 * 3600 + 3600
    stored = await grid.stored_balance(result.street, end - 4 * 86400, end)
    assert len(stored) == 72 and all(r.input_kwh and r.subscribers_kwh for r in stored)
    # seeding again refreshes the login and the numbers, it does not duplicate anything
    again = await seed_demo(storage, houses=12, thieves=2, days=3)
    assert again.password != "demo-pass-123" and len(await grid.list_meters("")) == 13
    with pytest.raises(ValueError, match="houses"):
        await seed_demo(storage, houses=0)


async def test_suspects_and_phases_over_the_api(vtn: RunningVtn) -> None:
    result = await seed_demo(vtn.storage, houses=30, thieves=2, days=14, password="demo-pass-123")
    b = browser(vtn.base_url)
    try:
        assert await b.login("operator", "demo-pass-123") == 200
        status, body = await b.call("GET", f"/operator/api/nodes/{result.street}/suspects")
        assert status == 200 and body["suspects"]
        top = body["suspects"][0]
        assert set(top) == {
            "meter_id",
            "score",
            "coefficient",
            "correlation",
            "since",
            "kwh_lost",
            "evidence",
        }
        assert 0.0 <= top["score"] <= 1.0 and top["evidence"]
        scores = [s["score"] for s in body["suspects"]]
        assert scores == sorted(scores, reverse=True)
        status, plan = await b.call(
            "GET", f"/operator/api/nodes/{result.street}/phases", params={"max_moves": "3"}
        )
        assert status == 200 and len(plan["moves"]) <= 3
        assert plan["loss_after_kwh"] <= plan["loss_before_kwh"]
        assert set(plan["phase_kwh_before"]) == {"A", "B", "C"}
        assert (
            await b.call(
                "GET", f"/operator/api/nodes/{result.street}/phases", params={"max_moves": "x"}
            )
        )[0] == 400
        status, prof = await b.call(
            "GET",
            f"/operator/api/nodes/{result.street}/profiles",
            params={"meters": f"{top['meter_id']},nope"},
        )
        assert status == 200 and list(prof["profiles"]) == [top["meter_id"]]
        assert len(prof["profiles"][top["meter_id"]]) == len(prof["t"])
    finally:
        await b.close()


async def _cli(*args: str, check: bool = True) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "balance_aggregator",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if check:
        assert proc.returncode == 0, err.decode()
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
async def test_grid_cli(storage_url: str, tmp_path: Path) -> None:
    _, out, _ = await _cli(
        "seed-demo", "--db", storage_url, "--houses", "5", "--days", "2", "--thieves", "1"
    )
    login = json.loads(out.strip().splitlines()[-1])
    assert login["username"] == "operator" and len(login["password"]) >= 12
    # a real VEN's meter joins house 1, then the hierarchy round-trips through a file
    _, out, _ = await _cli(
        "grid-attach",
        "--db",
        storage_url,
        "--node",
        "demo-house-001",
        "--ven",
        "ha-home",
        "--resource",
        "mains",
        "--phase",
        "B",
    )
    assert json.loads(out) == {
        "meter": "demo-house-001-mains",
        "node": "demo-house-001",
        "ven_id": "ha-home",
        "resource": "mains",
    }
    _, exported, _ = await _cli("grid-export", "--db", storage_url)
    assert "meter,demo-house-001-mains,demo-house-001,,,,subscriber,B,ha-home,mains" in exported
    copy = tmp_path / "grid.csv"
    copy.write_text(exported)
    _, out, _ = await _cli("grid-import", "--db", storage_url, str(copy))
    assert json.loads(out) == {"nodes": 9, "meters": 7}
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [{"id": "x", "parent": "nowhere", "level": "flat"}]}')
    code, _, err = await _cli("grid-import", "--db", storage_url, str(bad), check=False)
    assert code == 2 and "parent nowhere does not exist" in err
    code, _, err = await _cli(
        "grid-attach",
        "--db",
        storage_url,
        "--node",
        "flat-x",
        "--ven",
        "v",
        "--resource",
        "r",
        check=False,
    )
    assert code == 2 and "does not exist" in err
    _, out, _ = await _cli(
        "user-add",
        "--db",
        storage_url,
        "ann",
        "--role",
        "viewer",
        "--scope",
        "demo-district",
        "--password",
        "a-long-password",
    )
    assert json.loads(out)["scope"] == "demo-district"
    code, _, err = await _cli(
        "user-add",
        "--db",
        storage_url,
        "bob",
        "--role",
        "viewer",
        "--scope",
        "nowhere",
        check=False,
    )
    assert code == 2 and "nowhere" in err
    _, out, _ = await _cli("grid-rollup", "--db", storage_url)
    rolled = json.loads(out)["rows"]
    assert rolled > 0 and "leaf_rows_rebuilt" not in json.loads(out)
    # the repair recomputes the window's per-house sums from the readings, then rolls up the same
    _, out, _ = await _cli("grid-rollup", "--db", storage_url, "--rebuild")
    repaired = json.loads(out)
    assert repaired["leaf_rows_rebuilt"] > 0 and repaired["rows"] == rolled
