"""Whether a utility event is in force now, and whether the VTN is reachable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import UtilityEntity
from .ven import UtilityConfigEntry, UtilityVen


@dataclass(frozen=True, kw_only=True)
class UtilityBinarySensorDescription(BinarySensorEntityDescription):
    is_on_fn: Callable[[UtilityVen], bool]
    attrs_fn: Callable[[UtilityVen], Mapping[str, Any]] = lambda _: {}


def _event_attrs(ven: UtilityVen) -> Mapping[str, Any]:
    signal = ven.signal
    return {
        "events": list(signal.active_events),
        "names": [signal.event_names.get(e) for e in signal.active_events],
    }


BINARY_SENSORS: tuple[UtilityBinarySensorDescription, ...] = (
    UtilityBinarySensorDescription(
        key="active_event",
        translation_key="active_event",
        is_on_fn=lambda ven: bool(ven.signal.active_events),
        attrs_fn=_event_attrs,
    ),
    UtilityBinarySensorDescription(
        key="vtn_connected",
        translation_key="vtn_connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda ven: ven.connected,
        attrs_fn=lambda ven: {
            "push": ven.push is not None,
            "push_connected": ven.push_connected,
            "last_poll": None if ven.last_poll is None else ven.last_poll.isoformat(),
        },
    ),
)


class UtilityBinarySensor(UtilityEntity, BinarySensorEntity):
    entity_description: UtilityBinarySensorDescription

    @property
    def is_on(self) -> bool:
        return self.entity_description.is_on_fn(self.ven)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        return self.entity_description.attrs_fn(self.ven)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: UtilityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    ven = entry.runtime_data
    async_add_entities(UtilityBinarySensor(ven, d) for d in BINARY_SENSORS)
