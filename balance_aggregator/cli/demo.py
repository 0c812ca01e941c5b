"""``seed-demo``: a feeder of houses, some stealing, with hourly readings, a DR group and a login.

The numbers come from balance_grid.make_feeder, the same synthetic feeders the loss benchmark
uses, so what the demo page ranks as suspects is what the benchmark measures.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from balance_aggregator.grid.model import OperatorUser
from balance_aggregator.storage import ReadingRow, Storage, StoredObject
from balance_grid.hierarchy import GridMeter, GridNode
from balance_openadr.models import ProgramRequest

DEMO_VEN = "demo-feeder-ven"
DEMO_TARGET = "demo-feeder"
DEMO_PROGRAM = "balance-operator-dr"
STREET = "demo-street"


@dataclass(frozen=True, slots=True)
class DemoResult:
    username: str
    password: str
    role: str
    houses: int
    readings: int
    thieves: list[str]
    target: str
    street: str


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _ensure_program(storage: Storage) -> None:
    from balance_aggregator.storage import ObjectQuery

    if await storage.list_objects(ObjectQuery(kind="PROGRAM", unique_name=DEMO_PROGRAM, limit=1)):
        return
    now = time.time()
    pid = secrets.token_hex(8)
    data = ProgramRequest.model_validate({"programName": DEMO_PROGRAM}).to_json()
    body = {
        "id": pid,
        "createdDateTime": _iso(now),
        "modificationDateTime": _iso(now),
        "objectType": "PROGRAM",
        **data,
    }
    await storage.insert_object(
        StoredObject("PROGRAM", pid, now, now, body, unique_name=DEMO_PROGRAM, program_id=pid)
    )


async def seed_demo(
    storage: Storage,
    *,
    houses: int = 100,
    thieves: int = 2,
    days: int = 30,
    username: str = "operator",
    password: str | None = None,
    seed: int = 7,
) -> DemoResult:
    from balance_aggregator.operator.auth import hash_password
    from balance_grid.synthetic import make_feeder

    if houses < 1 or days < 1 or not 0 <= thieves <= houses:
        raise ValueError("houses and days must be positive, thieves between 0 and houses")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    feeder = make_feeder(houses, days, thieves=thieves, seed=seed, start=now - timedelta(days=days))
    nodes = [
        GridNode("demo-region", None, "region", "Demo region"),
        GridNode("demo-city", "demo-region", "city", "Demo city"),
        GridNode("demo-district", "demo-city", "district", "Demo district"),
        GridNode(STREET, "demo-district", "street", "Demo street (feeder)", DEMO_TARGET),
    ]
    meters = [GridMeter("demo-feeder-input", STREET, "feeder", None, DEMO_VEN, "feeder-input")]
    for i, (meter_id, phase) in enumerate(zip(feeder.meter_ids, feeder.phases, strict=True)):
        house = f"demo-house-{i + 1:03d}"
        nodes.append(GridNode(house, STREET, "house", f"House {i + 1:03d}"))
        meters.append(GridMeter(meter_id, house, "subscriber", phase, DEMO_VEN, meter_id))
    grid = storage.grid()
    await grid.import_hierarchy(nodes, meters)
    rows: list[ReadingRow] = []
    report = "seed-demo"
    for t, hour in enumerate(feeder.hours):
        epoch = int(hour.timestamp())
        rows.append(
            ReadingRow(
                DEMO_VEN,
                "feeder-input",
                "electricity",
                "KWH",
                epoch,
                float(feeder.input_kwh[t]),
                report,
            )
        )
        for i, meter_id in enumerate(feeder.meter_ids):
            value = float(feeder.reported_kwh[i, t])
            if not math.isnan(value):  # NaN: the meter missed that hour
                rows.append(
                    ReadingRow(DEMO_VEN, meter_id, "electricity", "KWH", epoch, value, report)
                )
    for i in range(0, len(rows), 20_000):
        await storage.ingest_readings(rows[i : i + 20_000])
    await _ensure_program(storage)
    password = password or secrets.token_urlsafe(12)
    await grid.put_user(
        OperatorUser(username, hash_password(password), "operator", "demo-region", time.time())
    )
    start = int(feeder.hours[0].timestamp())
    await grid.rollup(start, int(feeder.hours[-1].timestamp()) + 3600)
    return DemoResult(
        username,
        password,
        "operator",
        houses,
        len(rows),
        list(feeder.dishonest),
        DEMO_TARGET,
        STREET,
    )
