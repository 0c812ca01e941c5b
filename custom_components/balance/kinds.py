"""The one registry of entry kinds: which kind an entry is, and handing over to it.

Adding a kind of entry means a subpackage with a ``kind.py`` and one line here; the top-level
modules that Home Assistant's loader calls (``__init__``, the platforms, ``config_flow``,
``diagnostics``) only ask :func:`kind_of`.
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .analytics.kind import EXISTING_METERS
from .common.entry_kind import EntryKind, PlatformSetup
from .const import CONF_ENTRY_TYPE, DOMAIN
from .dmesh.kind import CONCENTRATOR
from .load_manager.kind import LOAD_MANAGER
from .utility.kind import UTILITY

KINDS: Final[tuple[EntryKind[Any], ...]] = (CONCENTRATOR, LOAD_MANAGER, EXISTING_METERS, UTILITY)
"""In the order the "add integration" menu offers them."""


def known_kind(entry: ConfigEntry[Any]) -> EntryKind[Any] | None:
    return next((kind for kind in KINDS if kind.matches(entry)), None)


def kind_of(entry: ConfigEntry[Any]) -> EntryKind[Any]:
    if (kind := known_kind(entry)) is not None:
        return kind
    # an entry written by a newer version of the integration, then downgraded
    raise ConfigEntryError(
        translation_domain=DOMAIN,
        translation_key="unknown_entry_kind",
        translation_placeholders={"kind": str(entry.data.get(CONF_ENTRY_TYPE))},
    )


def platform_setup(platform: Platform) -> PlatformSetup[ConfigEntry[Any]]:
    """A top-level platform module's ``async_setup_entry``: the entry's kind adds the entities."""

    async def async_setup_entry(
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        await kind_of(entry).async_setup_platform(platform, hass, entry, async_add_entities)

    return async_setup_entry
