"""Each socket's colour, and the load manager's mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from dlm import EngineMode

from ..const import COLOURS, CONF_COLOUR, MODES
from .entity import LoadManagerEntity
from .manager import LoadManager, LoadManagerConfigEntry


@dataclass(frozen=True, kw_only=True)
class LoadManagerSelectDescription(SelectEntityDescription):
    current_fn: Callable[[LoadManager, str | None], str | None]
    select_fn: Callable[[LoadManager, str | None, str], None]


def _colour(manager: LoadManager, socket_id: str | None) -> str | None:
    assert socket_id is not None
    return manager.sockets[socket_id].config.colour.name.lower()


def _set_colour(manager: LoadManager, socket_id: str | None, option: str) -> None:
    assert socket_id is not None
    entry = manager.entry
    subentry = entry.subentries[socket_id]
    # The subentry is the one place a socket is configured; the update listener rebuilds the
    # engine in place, and a socket that turns red is given back at once (NOW_RED).
    manager.hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_COLOUR: option}
    )


COLOUR = LoadManagerSelectDescription(
    key="colour",
    translation_key="colour",
    options=COLOURS,
    entity_category=EntityCategory.CONFIG,
    current_fn=_colour,
    select_fn=_set_colour,
)
MODE = LoadManagerSelectDescription(
    key="mode",
    translation_key="mode",
    options=MODES,
    entity_category=EntityCategory.CONFIG,
    current_fn=lambda m, _: m.mode.value,
    select_fn=lambda m, _, option: m.async_set_mode(EngineMode(option)),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LoadManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    manager = entry.runtime_data
    async_add_entities([LoadManagerSelect(manager, MODE)])
    for socket_id in manager.sockets:
        async_add_entities(
            [LoadManagerSelect(manager, COLOUR, socket_id)], config_subentry_id=socket_id
        )


class LoadManagerSelect(LoadManagerEntity, SelectEntity):
    entity_description: LoadManagerSelectDescription

    @property
    def current_option(self) -> str | None:
        return self.entity_description.current_fn(self.manager, self.socket_id)

    async def async_select_option(self, option: str) -> None:
        self.entity_description.select_fn(self.manager, self.socket_id, option)
