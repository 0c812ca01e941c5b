"""Hourly usage from the recorder's statistics to a real VTN: through a VTN outage and a Home
Assistant restart, every hour arrives once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from balance_openadr.client import VenClient
from custom_components.balance.const import STATISTICS_SETTLE
from custom_components.balance.dmesh.statistics import statistic_metadata
from custom_components.balance.utility.const import CONF_METER_ENTITIES
from custom_components.balance.utility.reports import storage_key
from custom_components.balance.utility.ven import UtilityVen
from dmesh_lib import MeterKind

from .helpers import (
    GROUP,
    RunningVtn,
    program,
    setup_utility,
    start_vtn,
    utility_entry,
    vtn_factory,
)

__all__ = ["vtn_factory"]  # the fixture, used by name

ENERGY = "sensor.house_energy"
WATER = "sensor.house_water"
HOURS = 6
READINGS = 2 * (HOURS + 1)
"""Each meter's HOURS, and the hour before them: its row exists, with no consumption."""


@pytest.fixture(autouse=True)
def _custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """As in conftest, but the recorder must start before hass does."""


async def _meters(hass: HomeAssistant) -> int:
    """Two meters with HOURS settled hours of statistics; returns the first hour (epoch)."""
    end = dt_util.utcnow() - STATISTICS_SETTLE
    last = int(end.timestamp()) // 3600 * 3600 - 3600
    first = last - (HOURS - 1) * 3600
    for entity_id, kind, unit, device_class, step in (
        (ENERGY, MeterKind.ELECTRICITY, "kWh", "energy", 0.5),
        (WATER, MeterKind.WATER, "m³", "water", 0.015),
    ):
        hass.states.async_set(
            entity_id,
            "100",
            {
                "device_class": device_class,
                "unit_of_measurement": unit,
                "state_class": "total_increasing",
            },
        )
        # a row before the window: the first hour's change is measured from it
        rows: list[Any] = [
            {"start": dt_util.utc_from_timestamp(first - 3600), "state": 10.0, "sum": 0.0}
        ]
        rows += [
            {
                "start": dt_util.utc_from_timestamp(first + i * 3600),
                "state": 10.0 + step * (i + 1),
                "sum": step * (i + 1),
            }
            for i in range(HOURS)
        ]
        async_import_statistics(hass, statistic_metadata(entity_id, kind), rows)
    await async_wait_recording_done(hass)
    return first


async def _usage_event(bl: VenClient, pid: str) -> str:
    """The utility asks for hourly usage: a long-running event with a report descriptor."""
    body = await bl.request(
        "POST",
        "/events",
        json_body={
            "programID": pid,
            "eventName": "metering",
            "intervalPeriod": {
                "start": (dt_util.utcnow() - timedelta(days=2)).isoformat(),
                "duration": "P9999Y",
            },
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [0]}]}],
            "reportDescriptors": [{"payloadType": "USAGE"}, {"payloadType": "USAGE_WATER"}],
            "targets": [GROUP],
        },
    )
    return str(body["id"])


async def _usage_reports(bl: VenClient) -> list[dict[str, Any]]:
    """Usage reports only (the VEN also acknowledges the metering event with a report)."""
    reports: list[dict[str, Any]] = await bl.request("GET", "/reports")
    return [r for r in reports if str(r.get("reportName", "")).startswith("usage ")]


async def test_outage_and_restart_lose_nothing_and_double_nothing(
    hass: HomeAssistant,
    recorder_mock: Recorder,
    vtn_factory: list[RunningVtn],
    tmp_path: Path,
    hass_storage: dict[str, Any],
) -> None:
    first = await _meters(hass)
    vtn = await start_vtn(vtn_factory, tmp_path, mqtt=False)
    bl = await vtn.client("operator", "bl")
    house = await vtn.house(bl)
    pid = await program(bl, "metering")
    entry = utility_entry(vtn.url, house, **{CONF_METER_ENTITIES: [ENERGY, WATER]})
    # the VTN is down before the first report: set up, queue, keep
    await setup_utility(hass, entry)
    ven = entry.runtime_data
    assert isinstance(ven, UtilityVen)
    await hass.async_block_till_done()
    assert ven.reporter.waiting_for_event  # no event asks for usage yet: hours wait
    assert ven.reporter.queued == 1
    await _usage_event(bl, pid)
    await ven.async_poll("POLL")  # the VEN learns of it, then the VTN goes down
    await vtn.stop()
    await ven.reporter.async_collect_and_flush(ven.events)
    assert not ven.reporter.waiting_for_event
    assert ven.reporter.queued == 1  # nothing new to queue, nothing sent, nothing lost
    assert ven.reporter.last_error is not None
    queued = hass_storage[storage_key(entry.entry_id)]["data"]["queue"]
    assert len(queued) == 1 and {r["resourceName"] for r in queued[0]["resources"]} == {
        ENERGY,
        WATER,
    }

    # Home Assistant restarts while the VTN is still away; the queue comes back from the Store
    assert await hass.config_entries.async_unload(entry.entry_id)
    await vtn.start()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    ven = entry.runtime_data
    await ven.reporter.async_collect_and_flush(ven.events)
    assert ven.reporter.queued == 0
    assert vtn.vtn is not None
    assert await vtn.vtn.storage.count_readings() == READINGS
    assert len(await _usage_reports(bl)) == 1

    # The 201 was lost in a crash before the queue was saved: the same body goes again.
    ven.reporter.queue.append(queued[0])
    await ven.reporter.async_flush(ven.events)
    assert ven.reporter.queued == 0
    assert await vtn.vtn.storage.count_readings() == READINGS
    assert len(await _usage_reports(bl)) == 1
    # and a later collection finds no new hour
    await ven.reporter.async_collect_and_flush(ven.events)
    assert len(await _usage_reports(bl)) == 1

    # what the utility sees per hour is what the recorder has
    headers = {"Authorization": f"Bearer {await bl.token()}"}
    assert vtn.session is not None
    async with vtn.session.get(
        vtn.url + "/balance/consumption",
        params={
            "target": GROUP,
            "start": dt_util.utc_from_timestamp(first).isoformat(),
            "end": dt_util.utc_from_timestamp(first + HOURS * 3600).isoformat(),
        },
        headers=headers,
    ) as response:
        assert response.status == 200
        body = await response.json()
    rows = body if isinstance(body, list) else body.get("rows", body)
    totals = {(r["kind"], r["hour"]): r["total"] for r in rows}
    assert len(totals) == 2 * HOURS
    assert all(v == pytest.approx(0.5) for (k, _), v in totals.items() if k == "electricity"), (
        totals
    )
    assert all(v == pytest.approx(0.015) for (k, _), v in totals.items() if k == "water")
