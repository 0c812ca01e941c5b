"""Base entity of the household analytics: one per meter (on the meter's device) or per home."""

from __future__ import annotations

from homeassistant.helpers.entity import Entity, EntityDescription

from .manager import AnalyticsManager
from .meter import MeterAnalytics


class AnalyticsEntity(Entity):
    """Pushed by the manager after every reading; never polled.

    Unique ids are ``<meter key>-<description key>`` (DMesh meter key ``0000ABCD-1``; for meters
    already in Home Assistant the carrier, prefixed by the entry id) or ``<home key>-<key>``.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        manager: AnalyticsManager,
        description: EntityDescription,
        meter: MeterAnalytics | None = None,
    ) -> None:
        self.manager = manager
        self.meter = meter
        self.entity_description = description
        if meter is None:
            self._attr_unique_id = f"{manager.home_key}-{description.key}"
            self._attr_device_info = manager.home
        else:
            prefix = (
                meter.key if meter.source.entity_id is None else f"{manager.entry_id}-{meter.key}"
            )
            self._attr_unique_id = f"{prefix}-{description.key}"
            self._attr_device_info = meter.source.device

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self.manager.async_add_listener(self.async_write_ha_state))
