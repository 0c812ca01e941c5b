"""House data: hourly usage reports into the readings store, idempotent and crash-safe."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta

import pytest

from balance_aggregator.storage import ReadingRow, Storage, StoredObject
from balance_openadr.client import VenClient

from .conftest import RunningVtn
from .helpers import DAY, iso, simple_event, usage_report


async def _setup(vtn: RunningVtn) -> tuple[VenClient, VenClient, str, str]:
    bl = await vtn.bl()
    pid = (await bl.request("POST", "/programs", json_body={"programName": "metering"}))["id"]
    event = await bl.request("POST", "/events", json_body=simple_event(pid, 0, ["street-1"]))
    ven, ven_obj = await vtn.ven(bl, "house-1", ["street-1"])
    return bl, ven, event["id"], ven_obj["id"]


async def test_usage_report_fills_readings_once(vtn: RunningVtn) -> None:
    _, ven, event_id, _ = await _setup(vtn)
    body = usage_report(event_id, {"elec-1": [0.5] * 24, "elec-2": [1.0] * 24})
    first = await ven.send_report(body)
    assert await vtn.storage.count_readings() == 48
    again = await ven.send_report(body)
    assert again["id"] == first["id"]  # the re-sent report is the stored one
    assert await vtn.storage.count_readings() == 48
    assert len(await ven.request("GET", "/reports")) == 1
    # a correction of one hour replaces that hour, adds none
    corrected = usage_report(event_id, {"elec-1": [0.5] * 23 + [0.7]})
    await ven.send_report(corrected)
    assert await vtn.storage.count_readings() == 48
    rows = await vtn.storage.group_consumption(
        "street-1", int(DAY.timestamp()), int((DAY + timedelta(days=1)).timestamp())
    )
    assert len(rows) == 24
    assert rows[0].kind == "electricity" and rows[0].unit == "KWH" and rows[0].meters == 2
    assert rows[-1].total == pytest.approx(1.7)
    assert sum(r.total for r in rows) == pytest.approx(0.5 * 23 + 0.7 + 24.0)


async def test_gas_and_water_kinds_and_csv_export(vtn: RunningVtn) -> None:
    bl, ven, event_id, _ = await _setup(vtn)
    await ven.send_report(
        usage_report(event_id, {"gas-1": [0.2] * 3}, payload_type="USAGE_GAS", units="M3")
    )
    await ven.send_report(
        usage_report(event_id, {"water-1": [0.015] * 3}, payload_type="USAGE_WATER", units="M3")
    )
    headers = {"Authorization": f"Bearer {await bl.token()}"}
    params = {
        "target": "street-1",
        "start": iso(DAY),
        "end": iso(DAY + timedelta(hours=3)),
        "format": "csv",
    }
    async with vtn.session.get(
        vtn.base_url + "/balance/consumption", params=params, headers=headers
    ) as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        lines = (await response.text()).strip().splitlines()
    assert lines[0] == "target,kind,unit,hour,meters,total,estimated"
    assert len(lines) == 1 + 6
    assert any(line.startswith("street-1,gas,M3,2026-01-15T00:00:00.000Z,1,0.2") for line in lines)


async def test_report_and_readings_commit_together(vtn: RunningVtn) -> None:
    """A failure in the middle of a batch leaves neither the report nor any of its readings."""
    _, _, event_id, ven_id = await _setup(vtn)
    good = [
        ReadingRow(
            ven_id, "elec-1", "electricity", "KWH", int(DAY.timestamp()) + h * 3600, 1.0, "r"
        )
        for h in range(10)
    ]
    broken = [*good[:5], ReadingRow(ven_id, "elec-1", "electricity", "KWH", 0, None, "r")]  # type: ignore[arg-type]
    report = StoredObject(
        kind="REPORT",
        id="r-broken",
        created_at=time.time(),
        modified_at=time.time(),
        body={"id": "r-broken"},
        client_id="x",
        event_id=event_id,
        content_hash="h",
    )
    with pytest.raises(Exception):  # noqa: B017,PT011 - the driver's own NOT NULL error
        await vtn.storage.insert_object(report, readings=broken)
    assert await vtn.storage.count_readings() == 0
    assert await vtn.storage.get_object("REPORT", "r-broken") is None
    await vtn.storage.insert_object(report, readings=good)
    assert await vtn.storage.count_readings() == 10


_KILLED_WRITER = """
import asyncio, sys
from balance_aggregator.storage import ReadingRow, open_storage

async def main() -> None:
    store = open_storage(sys.argv[1])
    await store.open()
    batch = 2000
    for n in range(10_000):
        rows = [ReadingRow("v", f"m{i}", "electricity", "KWH", 1_768_435_200 + n * 3600, 1.0, "r")
                for i in range(batch)]
        await store.ingest_readings(rows)
        print(n + 1, flush=True)

asyncio.run(main())
"""


async def test_killed_writer_loses_no_committed_batch(storage_url: str, storage: Storage) -> None:
    """SIGKILL a process in the middle of bulk ingest: every batch is all there or not at all."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _KILLED_WRITER, storage_url, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    committed = 0
    while committed < 3:
        line = await proc.stdout.readline()
        assert line, "the writer died before committing three batches"
        committed = int(line)
    proc.kill()
    await proc.wait()
    count = await storage.count_readings()
    assert count >= committed * 2000
    assert count % 2000 == 0
