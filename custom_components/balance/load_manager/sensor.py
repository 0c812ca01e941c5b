"""Headroom, the limit in force, the last decision and its reason, and the measured reaction."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfPower, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from dlm import ShedCause

from .entity import LoadManagerEntity
from .manager import LoadManager, LoadManagerConfigEntry

CAUSES = [cause.name.lower() for cause in ShedCause if cause is not ShedCause.NONE]


@dataclass(frozen=True, kw_only=True)
class LoadManagerSensorDescription(SensorEntityDescription):
    value_fn: Callable[[LoadManager], StateType]
    attrs_fn: Callable[[LoadManager], Mapping[str, Any]] = lambda _: {}


def _limit(manager: LoadManager) -> float | None:
    watts = manager.engine.status.limit.watts
    return watts if math.isfinite(watts) else None


def _limit_attrs(manager: LoadManager) -> Mapping[str, Any]:
    status = manager.engine.status
    temporary = manager.temporary_limit
    return {
        "source": status.limit.source.value,
        "until": None if status.limit.until is None else status.limit.until.isoformat(),
        "dr_level": status.dr_level,
        "temporary_limit_until": None if temporary is None else temporary[1].isoformat(),
    }


def _decision(manager: LoadManager) -> str | None:
    decision = manager.last_decision
    return None if decision is None else decision.cause.name.lower()


def _decision_attrs(manager: LoadManager) -> Mapping[str, Any]:
    decision = manager.last_decision
    if decision is None:
        return {}
    return {
        "reason": decision.reason,
        "socket": decision.name,
        "action": decision.action.value,
        "advisory": decision.advisory,
        "at": decision.at.isoformat(),
        "total_w": decision.total_w,
        "limit_w": decision.limit_w,
    }


def _reaction(manager: LoadManager) -> float | None:
    reaction = manager.last_shed_reaction
    return None if reaction is None else round(reaction.call_ms, 3)


def _reaction_attrs(manager: LoadManager) -> Mapping[str, Any]:
    reaction = manager.last_shed_reaction
    return {
        **manager.reaction_stats(),
        "last_done_ms": None
        if reaction is None or reaction.done_ms is None
        else round(reaction.done_ms, 3),
    }


SENSORS: tuple[LoadManagerSensorDescription, ...] = (
    LoadManagerSensorDescription(
        key="headroom",
        translation_key="headroom",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda m: m.engine.status.headroom_w,
    ),
    LoadManagerSensorDescription(
        key="limit_in_force",
        translation_key="limit_in_force",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=_limit,
        attrs_fn=_limit_attrs,
    ),
    LoadManagerSensorDescription(
        key="last_decision",
        translation_key="last_decision",
        device_class=SensorDeviceClass.ENUM,
        options=CAUSES,
        value_fn=_decision,
        attrs_fn=_decision_attrs,
    ),
    LoadManagerSensorDescription(
        key="reaction_time",
        translation_key="reaction_time",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_reaction,
        attrs_fn=_reaction_attrs,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LoadManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    manager = entry.runtime_data
    async_add_entities(LoadManagerSensor(manager, description) for description in SENSORS)


class LoadManagerSensor(LoadManagerEntity, SensorEntity):
    entity_description: LoadManagerSensorDescription

    @property
    def native_value(self) -> StateType:
        return self.entity_description.value_fn(self.manager)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        return self.entity_description.attrs_fn(self.manager)
