"""The config flow: a menu of the kinds of entry, each kind's steps from its own package."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntry,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import callback

from .analytics.config_flow import ExistingMetersFlowSteps
from .const import DOMAIN
from .dmesh.config_flow import ConcentratorFlowSteps
from .kinds import KINDS, kind_of
from .load_manager.config_flow import LoadManagerFlowSteps
from .utility.config_flow import UtilityFlowSteps
from .utility.setup import is_utility


class BalanceConfigFlow(
    ConcentratorFlowSteps,
    LoadManagerFlowSteps,
    ExistingMetersFlowSteps,
    UtilityFlowSteps,
    domain=DOMAIN,
):
    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry[Any]) -> OptionsFlow:
        return kind_of(config_entry).options_flow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry[Any]
    ) -> dict[str, type[ConfigSubentryFlow]]:
        return dict(kind_of(config_entry).subentry_flows)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A user picks the kind of entry; the concentrator's form keeps the step id "user" it
        had before there were other kinds (reconfiguring one lands here too)."""
        if self.source == SOURCE_USER and not self._kind_chosen:
            return self.async_show_menu(step_id="user", menu_options=[k.key for k in KINDS])
        return await self._async_step_concentrator(user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if is_utility(self._get_reconfigure_entry()):
            return await self.async_step_utility(user_input)
        return await self.async_step_user(user_input)
