"""Leak, burst, gas leak, standby and heat-without-demand alarms, each saying why."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from balance_analytics import Carrier, DetectorKind, Finding

from .entity import AnalyticsEntity
from .manager import AnalyticsManager

Attributes = dict[str, str | float | bool | None]


@dataclass(frozen=True, kw_only=True)
class FindingSensorDescription(BinarySensorEntityDescription):
    carrier: Carrier
    kinds: tuple[DetectorKind, ...]
    """On when any of these detectors is; the attributes come from the first one that is."""


FINDING_SENSORS: tuple[FindingSensorDescription, ...] = (
    FindingSensorDescription(
        key="leak",
        translation_key="water_leak",
        device_class=BinarySensorDeviceClass.MOISTURE,
        carrier=Carrier.WATER,
        kinds=(DetectorKind.WATER_CONTINUOUS_FLOW, DetectorKind.WATER_NO_ZERO_HOUR),
    ),
    FindingSensorDescription(
        key="burst",
        translation_key="water_burst",
        device_class=BinarySensorDeviceClass.MOISTURE,
        carrier=Carrier.WATER,
        kinds=(DetectorKind.WATER_BURST,),
    ),
    FindingSensorDescription(
        key="gas_leak",
        translation_key="gas_leak",
        device_class=BinarySensorDeviceClass.GAS,
        carrier=Carrier.GAS,
        kinds=(DetectorKind.GAS_NIGHT_FLOW,),
    ),
    FindingSensorDescription(
        key="standby",
        translation_key="standby",
        device_class=BinarySensorDeviceClass.PROBLEM,
        carrier=Carrier.ELECTRICITY,
        kinds=(DetectorKind.STANDBY,),
    ),
    FindingSensorDescription(
        key="heat_without_demand",
        translation_key="heat_without_demand",
        device_class=BinarySensorDeviceClass.PROBLEM,
        carrier=Carrier.HEAT,
        kinds=(DetectorKind.HEAT_WITHOUT_DEMAND,),
    ),
)


def entities(manager: AnalyticsManager) -> list[BinarySensorEntity]:
    return [
        FindingBinarySensor(manager, description, meter)
        for meter in manager.meters.values()
        for description in FINDING_SENSORS
        if description.carrier is meter.carrier
    ]


async def async_setup_entry(
    hass: HomeAssistant,
    manager: AnalyticsManager,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities(entities(manager))


class FindingBinarySensor(AnalyticsEntity, BinarySensorEntity):
    entity_description: FindingSensorDescription

    def _finding(self) -> Finding | None:
        assert self.meter is not None
        findings = self.meter.findings
        candidates = [findings[k] for k in self.entity_description.kinds if k in findings]
        return next((f for f in candidates if f.active), candidates[0] if candidates else None)

    @property
    def is_on(self) -> bool | None:
        finding = self._finding()
        return None if finding is None else finding.active

    @property
    def extra_state_attributes(self) -> Attributes:
        finding = self._finding()
        if finding is None:
            return {}
        return {**finding.as_attributes(), "currency": self.manager.currency}
