"""The household's own power limit."""

from __future__ import annotations

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import EntityCategory, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..const import CONF_LIMIT_W
from .entity import LoadManagerEntity
from .manager import LoadManagerConfigEntry

LIMIT = NumberEntityDescription(
    key="limit",
    translation_key="limit",
    device_class=NumberDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.WATT,
    native_min_value=100,
    native_max_value=100_000,
    native_step=100,
    mode=NumberMode.BOX,
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LoadManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([LimitNumber(entry.runtime_data, LIMIT)])


class LimitNumber(LoadManagerEntity, NumberEntity):
    @property
    def native_value(self) -> float | None:
        value = self.manager.entry.options.get(CONF_LIMIT_W)
        return None if value is None else float(value)

    async def async_set_native_value(self, value: float) -> None:
        # Stored as an option, so the options flow and this entity show the same limit; the
        # entry's update listener rebuilds the limits in place.
        entry = self.manager.entry
        self.hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_LIMIT_W: value}
        )
