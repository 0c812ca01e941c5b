"""What every action that names a config entry checks first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeGuard

import probatio as vol
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import ServiceCall
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from ..const import DOMAIN

ATTR_CONFIG_ENTRY: Final = "config_entry_id"
ENTRY: Final = {vol.Required(ATTR_CONFIG_ENTRY): cv.string}
"""The schema part of an action that acts on one entry."""


def loaded_entry[E: ConfigEntry[Any]](
    call: ServiceCall, is_kind: Callable[[ConfigEntry[Any]], TypeGuard[E]], wrong_kind: str
) -> E:
    """The call's entry, loaded and of the kind the action is for; a translated error if not
    (``wrong_kind`` is the translation key that names the kind)."""
    entry_id = call.data[ATTR_CONFIG_ENTRY]
    entry = call.hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry": entry.title},
        )
    if not is_kind(entry):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=wrong_kind,
            translation_placeholders={"entry": entry.title},
        )
    return entry
