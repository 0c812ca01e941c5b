"""The away-mode alarm as an event entity (also fired on the bus as ``balance_away_alarm``)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import AnalyticsEntity
from .manager import AnalyticsManager

AWAY_ALARM = EventEntityDescription(
    key="away_alarm", translation_key="away_alarm", event_types=["consumption_while_away"]
)


async def async_setup_entry(
    hass: HomeAssistant,
    manager: AnalyticsManager,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if manager.meters:
        async_add_entities([AwayAlarmEvent(manager, AWAY_ALARM)])


class AwayAlarmEvent(AnalyticsEntity, EventEntity):
    async def async_added_to_hass(self) -> None:
        # events are not state: no need to follow every reading
        self.async_on_remove(self.manager.async_add_away_listener(self._fire))

    @callback
    def _fire(self, event_type: str, attributes: dict[str, Any]) -> None:
        self._trigger_event(event_type, attributes)
        self.async_write_ha_state()
