"""Config, reconfigure, USB discovery and per-meter options flows."""

from __future__ import annotations

from typing import Any

import probatio as vol
from homeassistant.components import usb
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from dmesh_lib import (
    ConcentratorClient,
    ConcentratorNotResponding,
    ConnectError,
    InvalidAddress,
    MeterKind,
    PortBusy,
    PortNotFound,
    PortPermissionDenied,
)
from dmesh_lib.messages import Identity

from ..analytics.config_flow import ANALYTICS_CHOICE, AnalyticsOptionsSteps
from ..const import (
    CONF_CONSTANT,
    CONF_DEVICE,
    CONF_INITIAL_READING,
    CONF_KIND,
    CONF_METER,
    CONF_METERS,
    CONF_NAME,
    CONF_URL,
    MANUAL_ENTRY,
    meter_key,
    module_key,
)
from .coordinator import BalanceConfigEntry

METER_KINDS = ["electricity", "water", "gas", "heat"]


async def _probe(url: str) -> Identity:
    """Connect once, read the identity, hang up: proves a concentrator answers on ``url``."""
    client = ConcentratorClient(url, auto_reconnect=False, sync_time=False)
    try:
        return await client.connect()
    finally:
        await client.close()


def _error_key(err: Exception) -> str:
    match err:
        case PortNotFound():
            return "port_not_found"
        case PortPermissionDenied():
            return "permission_denied"
        case PortBusy():
            return "port_busy"
        case ConcentratorNotResponding():
            return "not_a_concentrator"
        case InvalidAddress():
            return "invalid_url"
    return "cannot_connect"  # refused, unreachable, or a port that is not a serial line


class ConcentratorFlowSteps(ConfigFlow):
    """The config flow's steps for a DMesh concentrator: a serial port (listed, or discovered on
    USB) or a URL, proven by reading the concentrator's identity."""

    def __init__(self) -> None:
        self._ports: dict[str, str] = {}
        self._discovered: str | None = None
        self._identity: Identity | None = None
        self._kind_chosen = False

    async def _scan_ports(self) -> dict[str, str]:
        ports: dict[str, str] = {}
        for port in await usb.async_scan_serial_ports(self.hass):
            # /dev/ttyUSB0 changes with the plugging order; the by-id path does not.
            path = await self.hass.async_add_executor_job(usb.get_serial_by_id, port.device)
            ports[path] = usb.human_readable_device_name(
                path,
                port.serial_number,
                port.manufacturer,
                port.description,
                getattr(port, "vid", None),
                getattr(port, "pid", None),
            )
        return ports

    async def _try(self, url: str, errors: dict[str, str]) -> Identity | None:
        try:
            return await _probe(url)
        except ConnectError as err:
            errors["base"] = _error_key(err)
        return None

    async def _finish(self, url: str, identity: Identity) -> ConfigFlowResult:
        await self.async_set_unique_id(module_key(identity.serial))
        if self.source == SOURCE_RECONFIGURE:
            self._abort_if_unique_id_mismatch(reason="wrong_concentrator")
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates={CONF_URL: url}
            )
        self._abort_if_unique_id_configured(updates={CONF_URL: url})
        return self.async_create_entry(
            title=f"J100UC {module_key(identity.serial)}", data={CONF_URL: url}
        )

    async def async_step_concentrator(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The DMesh concentrator: its form keeps the step id "user" it always had."""
        self._kind_chosen = True
        return await self._async_step_concentrator(None)

    async def _async_step_concentrator(self, user_input: dict[str, Any] | None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is None:
            self._ports = await self._scan_ports()
        if user_input is not None:
            device = user_input[CONF_DEVICE]
            if device == MANUAL_ENTRY:
                return await self.async_step_manual()
            if (identity := await self._try(device, errors)) is not None:
                return await self._finish(device, identity)
        options = [SelectOptionDict(value=path, label=label) for path, label in self._ports.items()]
        options.append(SelectOptionDict(value=MANUAL_ENTRY, label=MANUAL_ENTRY))
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_DEVICE): SelectSelector(
                        SelectSelectorConfig(
                            options=options,
                            mode=SelectSelectorMode.LIST,
                            translation_key="device",
                        )
                    )
                }
            ),
            errors=errors,
        )

    async def async_step_manual(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            url = user_input[CONF_URL].strip()
            if (identity := await self._try(url, errors)) is not None:
                return await self._finish(url, identity)
        default = (
            self._get_reconfigure_entry().data[CONF_URL]
            if self.source == SOURCE_RECONFIGURE
            else ""
        )
        return self.async_show_form(
            step_id="manual",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema({vol.Required(CONF_URL): TextSelector()}),
                user_input or {CONF_URL: default},
            ),
            errors=errors,
        )

    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        path = await self.hass.async_add_executor_job(usb.get_serial_by_id, discovery_info.device)
        try:
            identity = await _probe(path)
        except ConnectError, OSError, ValueError:
            return self.async_abort(reason="not_a_concentrator")
        await self.async_set_unique_id(module_key(identity.serial))
        # A known concentrator re-plugged into another port: follow it.
        self._abort_if_unique_id_configured(updates={CONF_URL: path})
        self._discovered = path
        self._identity = identity
        self.context["title_placeholders"] = {"serial": module_key(identity.serial)}
        return await self.async_step_usb_confirm()

    async def async_step_usb_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        assert self._discovered is not None
        assert self._identity is not None
        if user_input is not None:
            return await self._finish(self._discovered, self._identity)
        self._set_confirm_only()
        return self.async_show_form(
            step_id="usb_confirm",
            description_placeholders={
                "serial": module_key(self._identity.serial),
                "device": self._discovered,
            },
        )


class ConcentratorOptionsFlow(AnalyticsOptionsSteps):
    """Per meter channel: what kind of meter, its constant, its reading and its name; or the
    household analytics' settings (the last choice of the list)."""

    def __init__(self) -> None:
        self._meter: str | None = None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        entry: BalanceConfigEntry = self.config_entry
        # While the entry is (re)loading or retrying there is no coordinator to list meters from.
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        coordinator = entry.runtime_data.coordinator
        channels = sorted(
            meter_key(serial, channel)
            for serial, module in coordinator.modules.items()
            for channel in module.meters
        )
        if not channels:
            return self.async_abort(reason="no_meters")
        if user_input is not None:
            if user_input[CONF_METER] == ANALYTICS_CHOICE:
                return await self.async_step_analytics_menu()
            self._meter = user_input[CONF_METER]
            return await self.async_step_meter()
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_METER): SelectSelector(
                        SelectSelectorConfig(
                            options=[*channels, ANALYTICS_CHOICE],
                            mode=SelectSelectorMode.DROPDOWN,
                            translation_key="options_target",
                        )
                    )
                }
            ),
        )

    async def async_step_meter(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        assert self._meter is not None
        entry: BalanceConfigEntry = self.config_entry
        meters: dict[str, Any] = dict(entry.options.get(CONF_METERS, {}))
        if user_input is not None:
            meters[self._meter] = {
                CONF_KIND: user_input[CONF_KIND],
                CONF_CONSTANT: float(user_input[CONF_CONSTANT]),
                CONF_INITIAL_READING: float(user_input.get(CONF_INITIAL_READING) or 0.0),
                CONF_NAME: user_input.get(CONF_NAME, ""),
            }
            return self.async_create_entry(data={**entry.options, CONF_METERS: meters})
        serial, _, channel = self._meter.partition("-")
        current = meters.get(self._meter)
        if current is None:
            coordinator = entry.runtime_data.coordinator
            meter = coordinator.modules[int(serial, 16)].meters[int(channel)]
            kind = meter.kind if meter.kind is not MeterKind.UNKNOWN else MeterKind.ELECTRICITY
            current = {
                CONF_KIND: kind.name.lower(),
                CONF_CONSTANT: meter.config.pulses_per_unit if meter.config else 1000,
                CONF_INITIAL_READING: meter.total or 0.0,
                CONF_NAME: meter.name or "",
            }
        schema = vol.Schema(
            {
                vol.Required(CONF_KIND): SelectSelector(
                    SelectSelectorConfig(options=METER_KINDS, translation_key="kind")
                ),
                vol.Required(CONF_CONSTANT): NumberSelector(
                    NumberSelectorConfig(min=0.001, step="any", mode=NumberSelectorMode.BOX)
                ),
                vol.Optional(CONF_INITIAL_READING): NumberSelector(
                    NumberSelectorConfig(min=0, step="any", mode=NumberSelectorMode.BOX)
                ),
                vol.Optional(CONF_NAME): TextSelector(),
            }
        )
        return self.async_show_form(
            step_id="meter",
            data_schema=self.add_suggested_values_to_schema(schema, current),
            description_placeholders={"meter": self._meter},
        )
