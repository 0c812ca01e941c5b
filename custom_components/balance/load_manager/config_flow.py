"""Load manager flows: the entry, its options (limits, night tariff), socket subentries."""

from __future__ import annotations

import random
from typing import Any

import probatio as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, CONF_NAME, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TimeSelector,
)
from homeassistant.util.unit_conversion import PowerConverter

from ..const import (
    COLOURS,
    CONF_COLOUR,
    CONF_CONTRACT_W,
    CONF_DEADLINE,
    CONF_ENTRY_TYPE,
    CONF_LIMIT_W,
    CONF_MAX_OFF_MIN,
    CONF_NIGHT_DELAY_MIN,
    CONF_NIGHT_END,
    CONF_NIGHT_LIMIT_W,
    CONF_NIGHT_START,
    CONF_POWER_ENTITY,
    CONF_POWER_W,
    CONF_PRIORITY,
    CONF_RUN_MIN,
    CONF_STALE_AFTER_S,
    CONF_SWITCH_ENTITY,
    DEFAULT_STALE_AFTER_S,
    ENTRY_TYPE_LOAD_MANAGER,
)

SOCKET_DOMAINS = ["switch", "input_boolean"]
NIGHT_DELAY_MAX_MIN = 90
"""Green runs of a street should not all start the minute the night tariff opens."""


def _watts(maximum: float = 100_000) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=100,
            max=maximum,
            step=100,
            unit_of_measurement=UnitOfPower.WATT,
            mode=NumberSelectorMode.BOX,
        )
    )


LIMITS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_LIMIT_W): _watts(),
        vol.Optional(CONF_CONTRACT_W): _watts(),
    }
)


def power_source_error(hass: HomeAssistant, entity_id: str) -> str | None:
    """A power sensor must be in a unit of power; W and kW are both fine."""
    state = hass.states.get(entity_id)
    if state is None:
        return "entity_not_found"
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit not in PowerConverter.VALID_UNITS:
        return "not_power"
    return None


def user_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_NAME, default="Load manager"): TextSelector(),
            vol.Required(CONF_POWER_ENTITY): EntitySelector(
                EntitySelectorConfig(domain="sensor", device_class="power")
            ),
            **LIMITS_SCHEMA.schema,
        }
    )


class LoadManagerOptionsFlow(OptionsFlow):
    """The limits: household, contract, and the night tariff window with its own limit."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self.async_step_limits()

    async def async_step_limits(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            start, end = user_input.get(CONF_NIGHT_START), user_input.get(CONF_NIGHT_END)
            if (start is None) != (end is None) or (start is not None and start == end):
                errors["base"] = "night_window"
            else:
                return self.async_create_entry(data=user_input)
        schema = vol.Schema(
            {
                **LIMITS_SCHEMA.schema,
                vol.Optional(CONF_NIGHT_START): TimeSelector(),
                vol.Optional(CONF_NIGHT_END): TimeSelector(),
                vol.Optional(CONF_NIGHT_LIMIT_W): _watts(),
                vol.Required(CONF_STALE_AFTER_S, default=DEFAULT_STALE_AFTER_S): NumberSelector(
                    NumberSelectorConfig(
                        min=30,
                        max=3600,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="limits",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or dict(self.config_entry.options)
            ),
            errors=errors,
        )


def _socket_schema(hass: HomeAssistant, reconfigure: bool) -> vol.Schema:
    fields: dict[Any, Any] = {}
    if not reconfigure:
        fields[vol.Required(CONF_SWITCH_ENTITY)] = EntitySelector(
            EntitySelectorConfig(domain=SOCKET_DOMAINS)
        )
    fields.update(
        {
            vol.Optional(CONF_NAME): TextSelector(),
            vol.Required(CONF_COLOUR, default="green"): SelectSelector(
                SelectSelectorConfig(options=COLOURS, translation_key="colour")
            ),
            vol.Optional(CONF_POWER_W): NumberSelector(
                NumberSelectorConfig(
                    min=0, max=50_000, step=10, unit_of_measurement="W", mode=NumberSelectorMode.BOX
                )
            ),
            vol.Required(CONF_MAX_OFF_MIN, default=15): NumberSelector(
                NumberSelectorConfig(min=7, max=15, step=1, unit_of_measurement="min")
            ),
            vol.Optional(CONF_RUN_MIN): NumberSelector(
                NumberSelectorConfig(
                    min=1,
                    max=24 * 60,
                    step=1,
                    unit_of_measurement="min",
                    mode=NumberSelectorMode.BOX,
                )
            ),
            vol.Optional(CONF_DEADLINE): TimeSelector(),
            vol.Required(CONF_PRIORITY, default=0): NumberSelector(
                NumberSelectorConfig(min=0, max=100, step=1, mode=NumberSelectorMode.BOX)
            ),
        }
    )
    return vol.Schema(fields)


class SocketSubentryFlow(ConfigSubentryFlow):
    """One socket: the switch that powers it, its colour and what it may bear."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        return await self._async_step_socket(user_input, reconfigure=False)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        return await self._async_step_socket(user_input, reconfigure=True)

    async def _async_step_socket(
        self, user_input: dict[str, Any] | None, *, reconfigure: bool
    ) -> SubentryFlowResult:
        entry: ConfigEntry[Any] = self._get_entry()
        errors: dict[str, str] = {}
        step_id = "reconfigure" if reconfigure else "user"
        if user_input is not None:
            data = dict(user_input)
            if data.get(CONF_RUN_MIN) and not data.get(CONF_DEADLINE):
                errors[CONF_DEADLINE] = "deadline_needed"
            if reconfigure:
                subentry = self._get_reconfigure_subentry()
                data[CONF_SWITCH_ENTITY] = subentry.data[CONF_SWITCH_ENTITY]
                data[CONF_NIGHT_DELAY_MIN] = subentry.data.get(CONF_NIGHT_DELAY_MIN, 0)
            elif any(
                s.data.get(CONF_SWITCH_ENTITY) == data[CONF_SWITCH_ENTITY]
                for s in entry.subentries.values()
            ):
                return self.async_abort(reason="already_configured")
            else:
                data[CONF_NIGHT_DELAY_MIN] = random.randint(0, NIGHT_DELAY_MAX_MIN)
            if not errors:
                state = self.hass.states.get(data[CONF_SWITCH_ENTITY])
                title = (
                    data.pop(CONF_NAME, None)
                    or (state.name if state is not None else None)
                    or data[CONF_SWITCH_ENTITY]
                )
                if reconfigure:
                    return self.async_update_and_abort(
                        entry, self._get_reconfigure_subentry(), data=data, title=title
                    )
                return self.async_create_entry(
                    title=title, data=data, unique_id=data[CONF_SWITCH_ENTITY]
                )
        suggested: dict[str, Any] = dict(user_input or {})
        if reconfigure and user_input is None:
            subentry = self._get_reconfigure_subentry()
            suggested = {**subentry.data, CONF_NAME: subentry.title}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                _socket_schema(self.hass, reconfigure), suggested
            ),
            errors=errors,
        )


class LoadManagerFlowSteps(ConfigFlow):
    """The config flow's step that creates a load manager."""

    async def async_step_load_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """DLM over a power sensor and switches; sockets are added as subentries."""
        errors: dict[str, str] = {}
        if user_input is not None:
            source = user_input[CONF_POWER_ENTITY]
            if (error := power_source_error(self.hass, source)) is not None:
                errors[CONF_POWER_ENTITY] = error
            else:
                await self.async_set_unique_id(f"{ENTRY_TYPE_LOAD_MANAGER}-{source}")
                self._abort_if_unique_id_configured()
                options = {
                    k: v for k, v in user_input.items() if k not in (CONF_NAME, CONF_POWER_ENTITY)
                }
                return self.async_create_entry(
                    title=user_input[CONF_NAME],
                    data={CONF_ENTRY_TYPE: ENTRY_TYPE_LOAD_MANAGER, CONF_POWER_ENTITY: source},
                    options=options,
                )
        return self.async_show_form(
            step_id=ENTRY_TYPE_LOAD_MANAGER,
            data_schema=self.add_suggested_values_to_schema(user_schema(), user_input or {}),
            errors=errors,
        )
