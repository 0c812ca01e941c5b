"""Config flow steps of the "Utility (OpenADR 3)" entry: VTN URL and client credentials.

The credentials are tested before anything is saved: a token from the VTN's token endpoint and a
read of /programs (the first thing a VEN needs, so a client without the read scope fails here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import probatio as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from balance_openadr.client import VenClient, VtnError

from ..const import CONF_ENTRY_TYPE, CONF_URL, ENTRY_TYPE_UTILITY
from .const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_METER_ENTITIES
from .meters import default_meter_entities


class CredentialsError(Exception):
    """Why a VTN did not accept the entry: the flow's error key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


def utility_unique_id(url: str, client_id: str) -> str:
    return f"{ENTRY_TYPE_UTILITY}-{normalise_url(url)}-{client_id.strip()}"


async def async_check_credentials(
    session: aiohttp.ClientSession, url: str, client_id: str, client_secret: str
) -> list[dict[str, Any]]:
    """The VTN's programs as this client sees them, or CredentialsError."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise CredentialsError("invalid_vtn_url")
    client = VenClient(url, client_id, client_secret, session=session)
    try:
        async with asyncio.timeout(15):
            return await client.programs()
    except VtnError as err:
        # 400 invalid_client / 401 from the token endpoint, 401/403 from /programs
        raise CredentialsError(
            "invalid_auth" if err.status in (400, 401, 403) else "vtn_unreachable"
        ) from err
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as err:
        # unreachable, not HTTP, or an answer that is not an OpenADR VTN's
        raise CredentialsError("vtn_unreachable") from err


def _credentials_schema(*, with_url: bool, with_id: bool) -> vol.Schema:
    fields: dict[Any, Any] = {}
    if with_url:
        fields[vol.Required(CONF_URL)] = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
    if with_id:
        fields[vol.Required(CONF_CLIENT_ID)] = TextSelector()
    fields[vol.Required(CONF_CLIENT_SECRET)] = TextSelector(
        TextSelectorConfig(type=TextSelectorType.PASSWORD)
    )
    return vol.Schema(fields)


class UtilityFlowSteps(ConfigFlow):
    """The utility steps, mixed into the integration's one config flow."""

    async def _check(self, data: Mapping[str, Any], errors: dict[str, str]) -> bool:
        try:
            await async_check_credentials(
                async_get_clientsession(self.hass),
                normalise_url(data[CONF_URL]),
                data[CONF_CLIENT_ID].strip(),
                data[CONF_CLIENT_SECRET],
            )
        except CredentialsError as err:
            errors["base"] = err.key
            return False
        return True

    async def async_step_utility(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A VTN (the BALANCE aggregator or any OpenADR 3 VTN) and this house's client."""
        errors: dict[str, str] = {}
        reconfiguring = self.source == SOURCE_RECONFIGURE
        if user_input is not None and await self._check(user_input, errors):
            url = normalise_url(user_input[CONF_URL])
            data = {
                CONF_ENTRY_TYPE: ENTRY_TYPE_UTILITY,
                CONF_URL: url,
                CONF_CLIENT_ID: user_input[CONF_CLIENT_ID].strip(),
                CONF_CLIENT_SECRET: user_input[CONF_CLIENT_SECRET],
            }
            await self.async_set_unique_id(utility_unique_id(url, data[CONF_CLIENT_ID]))
            if reconfiguring:
                return self.async_update_reload_and_abort(
                    self._get_reconfigure_entry(),
                    unique_id=self.unique_id,
                    data=data,
                    reason="utility_reconfigured",
                )
            self._abort_if_unique_id_configured(error="utility_already_configured")
            host = urlsplit(url).hostname or url
            return self.async_create_entry(title=f"Utility {host}", data=data)
        suggested: Mapping[str, Any] = user_input or {}
        if user_input is None and reconfiguring:
            entry = self._get_reconfigure_entry()
            suggested = {k: entry.data[k] for k in (CONF_URL, CONF_CLIENT_ID)}
        return self.async_show_form(
            step_id=ENTRY_TYPE_UTILITY,
            data_schema=self.add_suggested_values_to_schema(
                _credentials_schema(with_url=True, with_id=True), suggested
            ),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The VTN refused the stored secret (revoked or rotated): ask for the new one."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_CLIENT_SECRET: user_input[CONF_CLIENT_SECRET]}
            if await self._check(data, errors):
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=_credentials_schema(with_url=False, with_id=False),
            description_placeholders={
                CONF_URL: entry.data[CONF_URL],
                CONF_CLIENT_ID: entry.data[CONF_CLIENT_ID],
            },
            errors=errors,
        )


class UtilityOptionsFlow(OptionsFlow):
    """Which meter sensors are reported to the utility; all BALANCE meters unless narrowed."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        # its own step id: "init" is the concentrator's options step in the translations
        return await self.async_step_utility_meters()

    async def async_step_utility_meters(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if user_input is not None:
            return self.async_create_entry(
                data={CONF_METER_ENTITIES: list(user_input.get(CONF_METER_ENTITIES, []))}
            )
        entry: ConfigEntry[Any] = self.config_entry
        current = entry.options.get(CONF_METER_ENTITIES)
        if current is None:
            current = default_meter_entities(self.hass)
        schema = vol.Schema(
            {
                vol.Optional(CONF_METER_ENTITIES): EntitySelector(
                    EntitySelectorConfig(domain="sensor", multiple=True)
                )
            }
        )
        return self.async_show_form(
            step_id="utility_meters",
            data_schema=self.add_suggested_values_to_schema(schema, {CONF_METER_ENTITIES: current}),
        )
