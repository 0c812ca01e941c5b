"""Which meter sensors the VEN reports, and their hourly usage from the recorder's statistics.

The recorder's hourly statistics are the one place where an hour's consumption is settled: a
DMesh meter's late hours are imported there by the concentrator entry, and any other meter in
Home Assistant gets its rows from the recorder itself. Reporting from them means the utility
sees what the Energy dashboard shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import ATTR_DEVICE_CLASS, UnitOfEnergy, UnitOfVolume
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from balance_openadr.usage import MeterHour

from ..const import DOMAIN

_KINDS = {
    SensorDeviceClass.ENERGY: "electricity",
    SensorDeviceClass.GAS: "gas",
    SensorDeviceClass.WATER: "water",
}
_TOTALS = (SensorStateClass.TOTAL_INCREASING, SensorStateClass.TOTAL)
# the units the reports are in (docs/aggregator-api.md): kWh and m³
_UNITS = {"energy": UnitOfEnergy.KILO_WATT_HOUR, "volume": UnitOfVolume.CUBIC_METERS}


def default_meter_entities(hass: HomeAssistant) -> list[str]:
    """Every meter total of this integration: DMesh meters and "meters already in HA" alike."""
    registry = er.async_get(hass)
    return sorted(
        entry.entity_id
        for entry in registry.entities.values()
        if entry.platform == DOMAIN
        and entry.domain == "sensor"
        and entry.disabled_by is None
        and (entry.capabilities or {}).get("state_class") in _TOTALS
        and (entry.device_class or entry.original_device_class) in _KINDS
    )


def meter_kind(hass: HomeAssistant, entity_id: str) -> str | None:
    """electricity, gas, water or heat; None for a sensor that is no meter total."""
    registry_entry = er.async_get(hass).async_get(entity_id)
    device_class: Any = None
    if registry_entry is not None:
        device_class = registry_entry.device_class or registry_entry.original_device_class
        # DMesh heat meters count kWh like electricity; their translation key tells them apart
        if registry_entry.translation_key == "heat_total":
            return "heat"
    if device_class is None and (state := hass.states.get(entity_id)) is not None:
        device_class = state.attributes.get(ATTR_DEVICE_CLASS)
    return _KINDS.get(device_class)


async def async_hourly_usage(
    hass: HomeAssistant, meters: dict[str, str], start: datetime, end: datetime
) -> list[MeterHour]:
    """Each meter's consumption in every whole hour in [start, end) that has a statistics row."""
    if not meters or end <= start:
        return []
    rows: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        end - timedelta(seconds=1),
        set(meters),
        "hour",
        _UNITS,
        {"change"},
    )
    found: list[MeterHour] = []
    for entity_id, statistics in rows.items():
        for row in statistics:
            change = row.get("change")
            if change is None:
                continue
            hour_start = row["start"]
            epoch = int(
                hour_start if isinstance(hour_start, int | float) else hour_start.timestamp()
            )
            if epoch >= int(end.timestamp()):
                continue
            found.append(MeterHour(entity_id, meters[entity_id], epoch, float(change)))
    return found


def hour_floor(moment: datetime) -> datetime:
    return dt_util.as_utc(moment).replace(minute=0, second=0, microsecond=0)
