"""What the utility asks now: DR level, capacity limit, price; when the next event starts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .entity import UtilityEntity
from .ven import UtilityConfigEntry, UtilityVen


@dataclass(frozen=True, kw_only=True)
class UtilitySensorDescription(SensorEntityDescription):
    value_fn: Callable[[UtilityVen], Any]
    attrs_fn: Callable[[UtilityVen], Mapping[str, Any]] = lambda _: {}
    unit_fn: Callable[[UtilityVen], str | None] | None = None


def _price_unit(ven: UtilityVen) -> str | None:
    signal = ven.signal
    if signal.currency is None:
        return None
    # OpenADR units are upper-case (KWH); a price per kWh reads better as HA spells it
    units = {"KWH": "kWh", "MWH": "MWh", "WH": "Wh"}.get(
        signal.price_units or "", signal.price_units
    )
    return signal.currency if units is None else f"{signal.currency}/{units}"


def _queue_attrs(ven: UtilityVen) -> Mapping[str, Any]:
    reporter = ven.reporter
    return {
        "sent": reporter.sent,
        "rejected": len(reporter.rejected),
        "waiting_for_usage_event": reporter.waiting_for_event,
        "last_error": reporter.last_error,
    }


SENSORS: tuple[UtilitySensorDescription, ...] = (
    UtilitySensorDescription(
        key="dr_level",
        translation_key="dr_level",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda ven: ven.signal.level,
        attrs_fn=lambda ven: {
            "until": None if ven.signal.dr_until is None else ven.signal.dr_until.isoformat()
        },
    ),
    UtilitySensorDescription(
        key="capacity_limit",
        translation_key="capacity_limit",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda ven: ven.signal.limit_w,
    ),
    UtilitySensorDescription(
        key="price",
        translation_key="price",
        value_fn=lambda ven: ven.signal.price,
        unit_fn=_price_unit,
    ),
    UtilitySensorDescription(
        key="next_event",
        translation_key="next_event",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda ven: ven.next_event_start,
    ),
    UtilitySensorDescription(
        key="queued_reports",
        translation_key="queued_reports",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda ven: ven.reporter.queued,
        attrs_fn=_queue_attrs,
    ),
)


class UtilitySensor(UtilityEntity, SensorEntity):
    entity_description: UtilitySensorDescription

    @property
    def native_value(self) -> StateType | datetime:
        value: StateType | datetime = self.entity_description.value_fn(self.ven)
        return value

    @property
    def native_unit_of_measurement(self) -> str | None:
        if self.entity_description.unit_fn is not None:
            return self.entity_description.unit_fn(self.ven)
        return super().native_unit_of_measurement

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        return self.entity_description.attrs_fn(self.ven)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: UtilityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    ven = entry.runtime_data
    async_add_entities(UtilitySensor(ven, description) for description in SENSORS)
