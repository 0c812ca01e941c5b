"""Follow utility events: off opts the house out of the utility's DR events (OPT_OUT reports)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import UtilityEntity
from .ven import UtilityConfigEntry

FOLLOW = SwitchEntityDescription(key="follow_events", translation_key="follow_events")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: UtilityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([FollowEventsSwitch(entry.runtime_data, FOLLOW)])


class FollowEventsSwitch(UtilityEntity, SwitchEntity):
    @property
    def is_on(self) -> bool:
        return not self.ven.reporter.opted_out

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self.ven.async_set_opt_out(False)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self.ven.async_set_opt_out(True)
