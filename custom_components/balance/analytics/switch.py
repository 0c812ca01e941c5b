"""Away mode ("zero control"): while on, any consumption above the meters' noise is an alarm."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .entity import AnalyticsEntity
from .manager import AnalyticsManager

AWAY = SwitchEntityDescription(key="away_mode", translation_key="away_mode")


async def async_setup_entry(
    hass: HomeAssistant,
    manager: AnalyticsManager,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if manager.meters:
        async_add_entities([AwaySwitch(manager, AWAY)])


class AwaySwitch(AnalyticsEntity, SwitchEntity):
    @property
    def is_on(self) -> bool:
        return self.manager.away.armed

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        since = self.manager.away_since
        findings = self.manager.away.findings
        return {
            "since": None if since is None else dt_util.utc_from_timestamp(since).isoformat(),
            "alarm": self.manager.away.alarm,
            "meters_over_allowance": sorted(k for k, f in findings.items() if f.active),
        }

    async def async_turn_on(self, **kwargs: Any) -> None:
        self.manager.async_set_away(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        self.manager.async_set_away(False)
