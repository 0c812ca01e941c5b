"""DLM active: off gives every held socket back; on resumes the last mode (active or advise)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from dlm import EngineMode

from .entity import LoadManagerEntity
from .manager import LoadManagerConfigEntry

ACTIVE = SwitchEntityDescription(key="active", translation_key="active")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LoadManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([DlmActiveSwitch(entry.runtime_data, ACTIVE)])


class DlmActiveSwitch(LoadManagerEntity, SwitchEntity):
    @property
    def is_on(self) -> bool:
        return self.manager.mode is not EngineMode.OFF

    async def async_turn_on(self, **kwargs: Any) -> None:
        self.manager.async_set_mode(self.manager.resume_mode)

    async def async_turn_off(self, **kwargs: Any) -> None:
        self.manager.async_set_mode(EngineMode.OFF)
