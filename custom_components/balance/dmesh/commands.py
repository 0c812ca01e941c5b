"""Turning the library's command errors into translated Home Assistant errors."""

from __future__ import annotations

from collections.abc import Awaitable

from homeassistant.exceptions import HomeAssistantError

from dmesh_lib import CommandFailed, CommandRejected, CommandTimeout, NotConnected

from ..const import DOMAIN, module_key


async def command[T](serial: int, call: Awaitable[T]) -> T:
    placeholders = {"module": module_key(serial)}
    try:
        return await call
    except NotConnected as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="not_connected"
        ) from err
    except CommandTimeout as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_timeout",
            translation_placeholders=placeholders,
        ) from err
    except CommandRejected as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_rejected",
            translation_placeholders={**placeholders, "reason": err.reason.name.lower()},
        ) from err
    except CommandFailed as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_failed",
            translation_placeholders={**placeholders, "status": err.status.name.lower()},
        ) from err
