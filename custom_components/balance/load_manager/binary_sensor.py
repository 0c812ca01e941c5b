"""Shedding now, and the fail-safe: the power reading is stale."""

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

from .entity import LoadManagerEntity
from .manager import LoadManager, LoadManagerConfigEntry


@dataclass(frozen=True, kw_only=True)
class LoadManagerBinarySensorDescription(BinarySensorEntityDescription):
    is_on_fn: Callable[[LoadManager], bool]
    attrs_fn: Callable[[LoadManager], Mapping[str, Any]] = lambda _: {}


def _shedding_attrs(manager: LoadManager) -> Mapping[str, Any]:
    status = manager.engine.status
    decision = manager.last_decision
    return {
        "held": [manager.socket_name(socket_id) for socket_id in status.held],
        "unmet": status.unmet,
        # The reason travels with the state change, so an automation triggered by it reads
        # the decision that caused it, whatever order the entities are written in.
        "reason": None if decision is None else decision.reason,
    }


BINARY_SENSORS: tuple[LoadManagerBinarySensorDescription, ...] = (
    LoadManagerBinarySensorDescription(
        key="shedding",
        translation_key="shedding",
        is_on_fn=lambda m: m.engine.status.shedding,
        attrs_fn=_shedding_attrs,
    ),
    LoadManagerBinarySensorDescription(
        key="reading_stale",
        translation_key="reading_stale",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda m: m.engine.status.reading_stale,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LoadManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    manager = entry.runtime_data
    async_add_entities(
        LoadManagerBinarySensor(manager, description) for description in BINARY_SENSORS
    )


class LoadManagerBinarySensor(LoadManagerEntity, BinarySensorEntity):
    entity_description: LoadManagerBinarySensorDescription

    @property
    def is_on(self) -> bool:
        return self.entity_description.is_on_fn(self.manager)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        return self.entity_description.attrs_fn(self.manager)
