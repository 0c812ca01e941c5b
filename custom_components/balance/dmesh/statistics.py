"""Hourly backlog → the meter entity's long-term statistics.

The recorder keeps, for a ``total_increasing`` sensor, a running ``sum`` that moves with the
state: as long as the meter does not reset, ``sum - state`` is the same in every row it
compiles. Rows imported here use that same offset (taken from the recorder's latest row), so a
backfilled hour lines up with the rows before and after it: no gap, nothing counted twice, and
the first live state after an outage adds only what was used since the last imported hour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_short_term_statistics,
    get_last_statistics,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy, UnitOfVolume
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter, VolumeConverter

from dmesh_lib import HourlyCounter, MeterKind, MeterTotalizer

from ..const import STATISTICS_SETTLE

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportResult:
    hours: int
    """Whole hours upserted."""
    deferred_from: int | None = None
    """First backlog hour index left for later because the recorder may still compile it."""
    retry_at: datetime = datetime.min
    skipped_reason: str | None = None


def statistic_metadata(entity_id: str, kind: MeterKind) -> StatisticMetaData:
    """The metadata the recorder itself gives a meter entity, with mean_type and unit_class."""
    energy = kind in (MeterKind.ELECTRICITY, MeterKind.HEAT)
    return StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name=None,
        source="recorder",
        statistic_id=entity_id,
        unit_class=EnergyConverter.UNIT_CLASS if energy else VolumeConverter.UNIT_CLASS,
        unit_of_measurement=(UnitOfEnergy.KILO_WATT_HOUR if energy else UnitOfVolume.CUBIC_METERS),
    )


def hourly_rows(totalizer: MeterTotalizer, records: list[HourlyCounter]) -> list[tuple[int, float]]:
    """(row start hour, meter total at the end of that hour), never decreasing.

    A backlog counter taken at the top of hour ``h`` closes the row that starts at ``h - 1``.
    A counter that would lower the total (a module swapped for one with a fresh counter) holds
    the previous total instead of producing negative consumption. Hours whose total would be
    negative lie before the reading the meter was given in Home Assistant: they are left out.
    """
    rows: list[tuple[int, float]] = []
    previous: float | None = None
    for record in sorted(records, key=lambda r: r.hour):
        total = totalizer.value_at(record.counter)
        if total < 0:
            continue
        if previous is not None and total < previous:
            total = previous
        if rows and rows[-1][0] == record.hour - 1:
            continue
        rows.append((record.hour - 1, total))
        previous = total
    return rows


async def async_import_meter_history(
    hass: HomeAssistant,
    *,
    entity_id: str,
    kind: MeterKind,
    totalizer: MeterTotalizer,
    records: list[HourlyCounter],
    now: datetime,
) -> ImportResult:
    if "recorder" not in hass.config.components:
        return ImportResult(0, skipped_reason="no recorder")
    rows = hourly_rows(totalizer, records)
    settled_before = int((now - STATISTICS_SETTLE).timestamp()) // 3600
    ready = [(h, t) for h, t in rows if h + 1 <= settled_before]
    deferred = [h for h, _ in rows if h + 1 > settled_before and h + 1 <= now.timestamp() // 3600]
    retry_at = dt_util.utc_from_timestamp((settled_before + 1) * 3600) + STATISTICS_SETTLE
    deferred_from = deferred[0] + 1 if deferred else None
    if not ready:
        return ImportResult(0, deferred_from, retry_at, "nothing settled")
    recorder = get_instance(hass)
    types: set[Any] = {"state", "sum"}
    last: dict[str, list[Any]] = await recorder.async_add_executor_job(
        get_last_short_term_statistics, hass, 1, entity_id, True, types
    )
    if not last.get(entity_id):
        last = await recorder.async_add_executor_job(
            get_last_statistics, hass, 1, entity_id, True, types
        )
    if not last.get(entity_id) or last[entity_id][0].get("sum") is None:
        # Until the recorder has compiled one row of its own, its zero point is unknown and an
        # import could not line up with it; the next backfill tries again.
        return ImportResult(0, deferred_from, retry_at, "no statistics yet")
    base = last[entity_id][0]
    offset = float(base["sum"]) - float(base["state"])
    first_start = dt_util.utc_from_timestamp(ready[0][0] * 3600)
    existing: dict[str, list[Any]] = await recorder.async_add_executor_job(
        statistics_during_period,
        hass,
        first_start - timedelta(hours=1),
        first_start,
        {entity_id},
        "hour",
        None,
        types,
    )
    floor = -float("inf")
    if before := existing.get(entity_id):
        floor = float(before[-1]["sum"])
    statistics: list[StatisticData] = []
    for hour, total in ready:
        value = max(total + offset, floor)
        floor = value
        statistics.append(
            StatisticData(start=dt_util.utc_from_timestamp(hour * 3600), state=total, sum=value)
        )
    async_import_statistics(hass, statistic_metadata(entity_id, kind), statistics)
    _LOGGER.debug(
        "Imported %d hours into %s (%s .. %s)",
        len(statistics),
        entity_id,
        statistics[0]["start"],
        statistics[-1]["start"],
    )
    return ImportResult(len(statistics), deferred_from, retry_at)
