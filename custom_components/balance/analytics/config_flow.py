"""Config and options flow of the household analytics.

"Meters already in Home Assistant": pick existing energy, gas, water (and heat) meters and an
optional power sensor; the entry gets the same analytics entities a DMesh meter gets. The options
(for this entry type) hold tariffs, budgets, the building average, the calorific value, emission
factors and each meter's sensitivity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import probatio as vol
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    BooleanSelector,
    DateSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
from homeassistant.util import dt as dt_util

from balance_analytics import Carrier, Sensitivity

from ..const import CONF_ENTRY_TYPE, CONF_METER, CONF_POWER_ENTITY, ENTRY_TYPE_EXISTING_METERS
from .meter import MeterSource
from .settings import (
    AVERAGE_KEYS,
    BUDGET_KEYS,
    CO2_KEYS,
    CONF_ANALYTICS,
    CONF_CALORIFIC,
    CONF_CONTRACT_KW,
    CONF_DEMAND_ENTITY,
    CONF_GAS_HEATS_HOME,
    CONF_METER_SETTINGS,
    CONF_NIGHT_PRICE,
    CONF_NIGHT_WINDOW,
    CONF_OUTDOOR_ENTITY,
    CONF_PEAK_PRICE,
    CONF_PEAK_WINDOW,
    CONF_PENALTY_PRICE,
    CONF_SAVINGS_SINCE,
    CONF_SENSITIVITY,
    CONF_STANDBY_LIMIT_W,
    PRICE_KEYS,
    settings_error,
)
from .setup import SOURCE_KEYS, analytics_manager

DEVICE_CLASSES: dict[Carrier, list[str]] = {
    Carrier.ELECTRICITY: [SensorDeviceClass.ENERGY],
    Carrier.HEAT: [SensorDeviceClass.ENERGY],
    Carrier.GAS: [SensorDeviceClass.GAS],
    Carrier.WATER: [SensorDeviceClass.WATER],
}
ANALYTICS_CHOICE = "analytics"
"""The concentrator options' extra choice next to its pulse inputs."""
METER_STATE_CLASSES = (SensorStateClass.TOTAL, SensorStateClass.TOTAL_INCREASING)


def existing_meters_schema() -> vol.Schema:
    fields: dict[Any, Any] = {vol.Required(CONF_NAME): TextSelector()}
    for carrier, key in SOURCE_KEYS.items():
        fields[vol.Optional(key)] = EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class=DEVICE_CLASSES[carrier])
        )
    fields[vol.Optional(CONF_POWER_ENTITY)] = EntitySelector(
        EntitySelectorConfig(domain="sensor", device_class=SensorDeviceClass.POWER)
    )
    return vol.Schema(fields)


def existing_meters_errors(hass: HomeAssistant, user_input: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with the chosen sensors, per field; empty when all is well."""
    errors: dict[str, str] = {}
    chosen = [k for k in (*SOURCE_KEYS.values(), CONF_POWER_ENTITY) if user_input.get(k)]
    if not chosen:
        return {"base": "no_meters"}
    for carrier, key in SOURCE_KEYS.items():
        if not (entity_id := user_input.get(key)):
            continue
        state = hass.states.get(entity_id)
        source = MeterSource(key, carrier, key, {}, entity_id)
        if state is None:
            errors[key] = "entity_not_found"
        elif state.attributes.get("state_class") not in METER_STATE_CLASSES:
            # a meter must count up: a measurement (a power, a flow) is not a total
            errors[key] = "not_a_total"
        elif source.value_of(state) is None and state.state not in ("unknown", "unavailable"):
            errors[key] = "wrong_unit"
    if power := user_input.get(CONF_POWER_ENTITY):
        state = hass.states.get(power)
        source = MeterSource("power", Carrier.ELECTRICITY, "power", {}, power, power=True)
        if state is None:
            errors[CONF_POWER_ENTITY] = "entity_not_found"
        elif source.value_of(state) is None and state.state not in ("unknown", "unavailable"):
            errors[CONF_POWER_ENTITY] = "wrong_unit"
    return errors


def existing_meters_entry(user_input: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {CONF_ENTRY_TYPE: ENTRY_TYPE_EXISTING_METERS}
    for key in (*SOURCE_KEYS.values(), CONF_POWER_ENTITY):
        if user_input.get(key):
            data[key] = user_input[key]
    return user_input[CONF_NAME], data


def existing_meters_unique_id(data: Mapping[str, Any]) -> str:
    sources = sorted(str(v) for k, v in data.items() if k != CONF_ENTRY_TYPE)
    return f"{ENTRY_TYPE_EXISTING_METERS}-{','.join(sources)}"


def _number(unit: str | None = None) -> NumberSelector:
    config = NumberSelectorConfig(min=0, step="any", mode=NumberSelectorMode.BOX)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def settings_schema() -> vol.Schema:
    fields: dict[Any, Any] = {}
    for key in PRICE_KEYS.values():
        fields[vol.Optional(key)] = TextSelector()
    fields |= {
        vol.Optional(CONF_NIGHT_PRICE): TextSelector(),
        vol.Optional(CONF_NIGHT_WINDOW): TextSelector(),
        vol.Optional(CONF_PEAK_PRICE): TextSelector(),
        vol.Optional(CONF_PEAK_WINDOW): TextSelector(),
        vol.Optional(CONF_CONTRACT_KW): _number(unit="kW"),
        vol.Optional(CONF_PENALTY_PRICE): _number(),
    }
    for key in (*BUDGET_KEYS.values(), *AVERAGE_KEYS.values()):
        fields[vol.Optional(key)] = _number()
    fields[vol.Optional(CONF_CALORIFIC)] = _number(unit="kWh/m³")
    for key in CO2_KEYS.values():
        fields[vol.Optional(key)] = _number()
    fields[vol.Optional(CONF_SAVINGS_SINCE)] = DateSelector()
    fields[vol.Optional(CONF_GAS_HEATS_HOME)] = BooleanSelector()
    fields[vol.Optional(CONF_OUTDOOR_ENTITY)] = EntitySelector(
        EntitySelectorConfig(
            filter=[{"domain": "sensor", "device_class": "temperature"}, {"domain": "weather"}]
        )
    )
    fields[vol.Optional(CONF_DEMAND_ENTITY)] = EntitySelector(
        EntitySelectorConfig(domain=["climate", "binary_sensor"])
    )
    return vol.Schema(fields)


def meter_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_SENSITIVITY): SelectSelector(
                SelectSelectorConfig(
                    options=[s.value for s in Sensitivity], translation_key="sensitivity"
                )
            ),
            vol.Optional(CONF_STANDBY_LIMIT_W): _number(unit="W"),
        }
    )


class AnalyticsOptionsSteps(OptionsFlow):
    """Tariffs and household figures, or one meter's sensitivity: the steps any entry with
    analytics shares (the concentrator's options reach them from their own first step)."""

    _analytics_meter: str | None = None

    def _current(self) -> dict[str, Any]:
        return dict(self.config_entry.options.get(CONF_ANALYTICS, {}))

    def _save(self, analytics: dict[str, Any]) -> ConfigFlowResult:
        return self.async_create_entry(
            data={**self.config_entry.options, CONF_ANALYTICS: analytics}
        )

    async def async_step_analytics_menu(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        # its own step id: "init" carries the concentrator options' strings
        return self.async_show_menu(
            step_id="analytics_menu",
            menu_options=["analytics_settings", "analytics_meter_select"],
        )

    async def async_step_analytics_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        current = self._current()
        if user_input is not None:
            meters = current.get(CONF_METER_SETTINGS, {})
            analytics = {**user_input, CONF_METER_SETTINGS: meters}
            tz = dt_util.get_default_time_zone()
            if (error := settings_error({CONF_ANALYTICS: analytics}, tz)) is None:
                return self._save(analytics)
            errors["base"] = error
        return self.async_show_form(
            step_id="analytics_settings",
            data_schema=self.add_suggested_values_to_schema(
                settings_schema(), user_input if user_input is not None else current
            ),
            errors=errors,
        )

    async def async_step_analytics_meter_select(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        manager = analytics_manager(self.hass, self.config_entry)
        meters = sorted(manager.meters) if manager is not None else []
        if not meters:
            return self.async_abort(reason="no_analytics_meters")
        if user_input is not None:
            self._analytics_meter = user_input[CONF_METER]
            return await self.async_step_analytics_meter()
        return self.async_show_form(
            step_id="analytics_meter_select",
            data_schema=vol.Schema(
                {vol.Required(CONF_METER): SelectSelector(SelectSelectorConfig(options=meters))}
            ),
        )

    async def async_step_analytics_meter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        meter = self._analytics_meter
        assert meter is not None
        current = self._current()
        meters: dict[str, Any] = dict(current.get(CONF_METER_SETTINGS, {}))
        if user_input is not None:
            meters[meter] = dict(user_input)
            return self._save({**current, CONF_METER_SETTINGS: meters})
        return self.async_show_form(
            step_id="analytics_meter",
            data_schema=self.add_suggested_values_to_schema(
                meter_schema(),
                meters.get(meter, {CONF_SENSITIVITY: Sensitivity.NORMAL.value}),
            ),
            description_placeholders={"meter": meter},
        )


class AnalyticsOptionsFlow(AnalyticsOptionsSteps):
    """The options of an "existing meters" entry: the analytics are all it has."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self.async_step_analytics_menu()


class ExistingMetersFlowSteps(ConfigFlow):
    """The config flow's step that creates an "existing meters" entry."""

    async def async_step_existing_meters(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Household analytics over meters already in Home Assistant, no DMesh hardware."""
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := existing_meters_errors(self.hass, user_input)):
            title, data = existing_meters_entry(user_input)
            # the same sensors twice would count the same household twice
            await self.async_set_unique_id(existing_meters_unique_id(data))
            self._abort_if_unique_id_configured()
            return self.async_create_entry(title=title, data=data)
        return self.async_show_form(
            step_id=ENTRY_TYPE_EXISTING_METERS,
            data_schema=self.add_suggested_values_to_schema(
                existing_meters_schema(), user_input or {}
            ),
            errors=errors,
        )
