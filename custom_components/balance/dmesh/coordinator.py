"""Push coordinator: turns the concentrator's events into per-module state for the entities.

Not a ``DataUpdateCoordinator``: a concentrator of 720 meters pushes readings continuously, and
waking every entity for every reading would cost O(entities) per frame. Listeners are keyed by
module (and meter channel), so a reading wakes only the entities it concerns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from dmesh_lib import (
    CommandError,
    ConcentratorClient,
    ConnectionState,
    HourlyCounter,
    MeterConfig,
    MeterKind,
    MeterTotalizer,
    MeterValue,
    meter_config_hint,
)
from dmesh_lib.client import Event
from dmesh_lib.messages import (
    ChannelFault,
    ChannelKind,
    ChannelStatus,
    LeaveReason,
    MeterReading,
    ModuleAnnounce,
    ModuleHealth,
    ModuleInfo,
    ModuleLeave,
    RelayFault,
    RelayState,
    SensorKind,
    SensorReport,
    ValveFault,
    ValveState,
)

from ..common.listeners import KeyedListeners, Listeners
from ..const import (
    CONF_CONSTANT,
    CONF_INITIAL_READING,
    CONF_KIND,
    CONF_METERS,
    DOMAIN,
    LOW_BATTERY_PCT,
    MANUFACTURER,
    MAX_BACKFILL_HOURS,
    TAMPER_REPAIR_DELAY,
    UNREACHABLE_REPAIR_DELAY,
    meter_key,
    module_key,
)
from .statistics import ImportResult, async_import_meter_history

_LOGGER = logging.getLogger(__name__)

type BalanceConfigEntry = ConfigEntry[BalanceRuntimeData]

METER_MODEL: dict[MeterKind, str] = {
    MeterKind.ELECTRICITY: "Electricity meter",
    MeterKind.WATER: "Water meter",
    MeterKind.GAS: "Gas meter",
    MeterKind.HEAT: "Heat meter",
    MeterKind.UNKNOWN: "Pulse meter",
}
ALARM_SENSORS: dict[SensorKind, str] = {
    SensorKind.FLOOD: "flood",
    SensorKind.GAS: "gas",
    SensorKind.ARCING: "arcing",
    SensorKind.NEUTRAL_FAULT: "neutral_fault",
}
PHASES = (SensorKind.PHASE_L1, SensorKind.PHASE_L2, SensorKind.PHASE_L3)
FAULT_EVENTS: dict[ChannelFault, str] = {
    ChannelFault.MAGNET: "magnet",
    ChannelFault.WIRE_BREAK: "wire_break",
    ChannelFault.SHORT_CIRCUIT: "short_circuit",
}


@dataclass(slots=True)
class MeterData:
    """One pulse channel with a meter behind it."""

    serial: int
    channel: int
    config: MeterConfig | None
    """None when neither the options nor the module know the meter constant."""
    name: str | None = None
    totalizer: MeterTotalizer | None = None
    total: float | None = None
    rate: float | None = None
    """kW for electricity and heat, m³/h for water and gas."""
    last_ts: int | None = None
    pending_counter: tuple[int, int] | None = None
    """(timestamp, counter) seen before the entity restored its totalizer."""
    faults: ChannelFault = ChannelFault.NONE
    entity_id: str | None = None

    @property
    def kind(self) -> MeterKind:
        return self.config.kind if self.config is not None else MeterKind.UNKNOWN

    def apply(self, timestamp: int, total: float) -> None:
        if self.total is not None and self.last_ts is not None and timestamp > self.last_ts:
            hours = (timestamp - self.last_ts) / 3600
            self.rate = max(0.0, total - self.total) / hours
        self.total = total
        self.last_ts = timestamp


@dataclass(slots=True)
class ModuleData:
    info: ModuleInfo
    health: ModuleHealth | None = None
    sensors: dict[SensorKind, float | bool] = field(default_factory=dict)
    relay: RelayState | None = None
    valve: ValveState | None = None
    last_seen: datetime | None = None
    meters: dict[int, MeterData] = field(default_factory=dict)

    @property
    def serial(self) -> int:
        return self.info.serial


@dataclass(slots=True)
class BalanceRuntimeData:
    client: ConcentratorClient
    coordinator: BalanceCoordinator


class BalanceCoordinator:
    """Owns the client's event stream for one config entry."""

    def __init__(self, hass: HomeAssistant, entry: BalanceConfigEntry, client: ConcentratorClient):
        self.hass = hass
        self.entry = entry
        self.client = client
        self.modules: dict[int, ModuleData] = {}
        self.connected = False
        self._listeners = KeyedListeners[tuple[int, int | None]]()
        self._all_listeners = Listeners[()]()
        self._new_module_listeners = Listeners[ModuleData]()
        self._alarm_listeners = KeyedListeners[int, str, dict[str, Any]]()
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._unreachable_timer: CALLBACK_TYPE | None = None
        self._tamper_timers: dict[tuple[int, int], CALLBACK_TYPE] = {}
        self._backfill_requests: dict[tuple[int, int], int] = {}
        """(module, channel) → first hour to fetch."""
        self._deferred: dict[tuple[int, int], int] = {}
        """(module, channel) → first hour the recorder may still be compiling."""
        self._outage_hours: dict[tuple[int, int], int] = {}
        """(module, channel) → last hour heard before the concentrator went away."""
        self._backfill_task: asyncio.Task[None] | None = None
        self._settle_timer: CALLBACK_TYPE | None = None
        self.started = False
        self._hub_device_id: str | None = None
        self.last_backfill: dict[str, ImportResult] = {}

    # ------------------------------------------------------------------ lifecycle

    async def async_start(self) -> None:
        """Connect and build the module table; raises the client's ConnectError."""
        self._unsubscribe.append(self.client.subscribe(self._on_event))
        self._unsubscribe.append(self.client.on_connection_state(self._on_state))
        await self.client.connect()
        self.connected = True
        self._hub_device()
        self._sync_inventory()
        self.started = True

    async def async_stop(self) -> None:
        for remove in self._unsubscribe:
            remove()
        self._unsubscribe.clear()
        for timer in (self._unreachable_timer, self._settle_timer, *self._tamper_timers.values()):
            if timer is not None:
                timer()
        self._tamper_timers.clear()
        if self._backfill_task is not None:
            self._backfill_task.cancel()
        await self.client.close()

    @property
    def identity_key(self) -> str:
        assert self.client.identity is not None
        return module_key(self.client.identity.serial)

    # ------------------------------------------------------------------ listeners

    @callback
    def async_add_listener(
        self, serial: int, channel: int | None, update: CALLBACK_TYPE
    ) -> CALLBACK_TYPE:
        return self._listeners.add((serial, channel), update)

    @callback
    def async_add_global_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Called on connection changes: every entity's availability depends on them."""
        return self._all_listeners.add(update)

    @callback
    def async_add_module_listener(self, added: Callable[[ModuleData], None]) -> CALLBACK_TYPE:
        """Platforms add entities for modules that join after set-up."""
        return self._new_module_listeners.add(added)

    @callback
    def async_add_alarm_listener(
        self, serial: int, fire: Callable[[str, dict[str, Any]], None]
    ) -> CALLBACK_TYPE:
        return self._alarm_listeners.add(serial, fire)

    def _notify(self, serial: int, channel: int | None = None) -> None:
        self._listeners.notify((serial, channel))

    def _notify_module(self, module: ModuleData) -> None:
        """The module's availability changed: its meters' entities depend on it too."""
        self._notify(module.serial)
        for channel in module.meters:
            self._notify(module.serial, channel)

    def _notify_all(self) -> None:
        self._all_listeners.notify()

    def _alarm(self, serial: int, event_type: str, **attrs: Any) -> None:
        self._alarm_listeners.notify(serial, event_type, attrs)

    # ------------------------------------------------------------------ inventory

    def meter_config(self, info: ModuleInfo, channel: int) -> tuple[MeterConfig | None, str | None]:
        options = self.entry.options.get(CONF_METERS, {}).get(meter_key(info.serial, channel))
        if options:
            config = MeterConfig(
                kind=MeterKind[options[CONF_KIND].upper()],
                pulses_per_unit=float(options[CONF_CONSTANT]),
                initial_reading=float(options.get(CONF_INITIAL_READING) or 0.0),
            )
            return config, options.get("name") or None
        return meter_config_hint(info, channel), None

    def _module_data(self, info: ModuleInfo) -> ModuleData:
        data = ModuleData(info)
        for channel, ch in enumerate(info.channels):
            if ch.kind is not ChannelKind.PULSE:
                continue
            config, name = self.meter_config(info, channel)
            data.meters[channel] = MeterData(info.serial, channel, config, name)
            issue = f"missing_constant_{meter_key(info.serial, channel)}"
            if config is None:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    issue,
                    is_fixable=False,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key="missing_constant",
                    translation_placeholders={
                        "module": module_key(info.serial),
                        "channel": str(channel + 1),
                    },
                )
            else:
                ir.async_delete_issue(self.hass, DOMAIN, issue)
        return data

    def _sync_inventory(self) -> None:
        for serial, info in self.client.modules.items():
            existing = self.modules.get(serial)
            if existing is None:
                self._add_module(info)
            else:
                existing.info = info

    def _hub_device(self) -> str:
        """The concentrator's device; modules point at it, so it exists before the first one."""
        if self._hub_device_id is None:
            identity = self.client.identity
            assert identity is not None
            key = module_key(identity.serial)
            self._hub_device_id = (
                dr.async_get(self.hass)
                .async_get_or_create(
                    config_entry_id=self.entry.entry_id,
                    identifiers={(DOMAIN, key)},
                    manufacturer=MANUFACTURER,
                    model="J100UC",
                    name=f"J100UC {key}",
                    serial_number=key,
                    sw_version=identity.firmware,
                )
                .id
            )
        return self._hub_device_id

    def _register_devices(self, module: ModuleData) -> None:
        """Concentrator → module → meter, as the hardware is wired."""
        registry = dr.async_get(self.hass)
        info = module.info
        key = module_key(info.serial)
        model = info.module_type.name.replace("_", "-")
        device = registry.async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, key)},
            manufacturer=MANUFACTURER,
            model=model,
            name=f"{model} {key}",
            serial_number=key,
            sw_version=str(info.firmware),
            via_device_id=self._hub_device(),
        )
        for channel, meter in module.meters.items():
            model = METER_MODEL[meter.kind]
            registry.async_get_or_create(
                config_entry_id=self.entry.entry_id,
                identifiers={(DOMAIN, meter_key(info.serial, channel))},
                manufacturer=MANUFACTURER,
                model=model,
                name=meter.name or f"{model} {key}-{channel + 1}",
                via_device_id=device.id,
            )

    def _add_module(self, info: ModuleInfo) -> ModuleData:
        data = self._module_data(info)
        self.modules[info.serial] = data
        self._register_devices(data)
        # Modules met while connecting are the initial inventory: the platforms add them.
        if self.started:
            _LOGGER.info("New DMesh module %s joined", module_key(info.serial))
            self._new_module_listeners.notify(data)
        return data

    def remove_stale_devices(self) -> None:
        """Devices of modules the concentrator no longer knows go away with their entities."""
        registry = dr.async_get(self.hass)
        known = {self.identity_key} | {module_key(s) for s in self.modules}
        known |= {meter_key(s, ch) for s, m in self.modules.items() for ch in m.meters}
        for device in dr.async_entries_for_config_entry(registry, self.entry.entry_id):
            ids = {i for d, i in device.identifiers if d == DOMAIN}
            if ids and not ids & known:
                registry.async_update_device(device.id, remove_config_entry_id=self.entry.entry_id)

    # ------------------------------------------------------------------ connection

    @callback
    def _on_state(self, state: ConnectionState) -> None:
        if state is ConnectionState.DISCONNECTED and self.connected:
            self.connected = False
            # On reconnect the concentrator sends every module's current reading before the
            # client reports the link up: the hours to fetch must be remembered now.
            self._outage_hours = self._last_hours_heard()
            _LOGGER.warning("Concentrator at %s is unavailable", self.client.url)
            self._unreachable_timer = async_call_later(
                self.hass, UNREACHABLE_REPAIR_DELAY, self._unreachable_too_long
            )
            self._notify_all()
        elif state is ConnectionState.CONNECTED and not self.connected and self.started:
            self.connected = True
            _LOGGER.info("Concentrator at %s is back", self.client.url)
            if self._unreachable_timer is not None:
                self._unreachable_timer()
                self._unreachable_timer = None
            ir.async_delete_issue(self.hass, DOMAIN, f"unreachable_{self.entry.entry_id}")
            self._sync_inventory()
            self._notify_all()
            self._request_backfill_after_outage()

    @callback
    def _unreachable_too_long(self, _now: datetime) -> None:
        self._unreachable_timer = None
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"unreachable_{self.entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="unreachable",
            translation_placeholders={"url": self.client.url},
        )

    # ------------------------------------------------------------------ events

    @callback
    def _on_event(self, event: Event) -> None:
        if isinstance(event, MeterValue):
            self._on_meter_value(event)
            return
        serial = getattr(event, "module", None)
        if isinstance(event, ModuleAnnounce):
            self._on_announce(event)
            return
        if not isinstance(serial, int):
            return  # UnknownFrame: the client already logged it
        module = self.modules.get(serial)
        if module is None:
            info = self.client.modules.get(serial)
            if info is None:
                return
            module = self._add_module(info)
        module.last_seen = dt_util.utcnow()
        match event:
            case MeterReading():
                for channel, counter in event.counters:
                    meter = module.meters.get(channel)
                    if meter is not None and meter.totalizer is None:
                        meter.pending_counter = (event.timestamp, counter)
            case ChannelStatus():
                self._on_channel_status(module, event)
            case SensorReport():
                self._on_sensor_report(module, event)
            case ModuleHealth():
                self._on_health(module, event)
            case RelayState():
                if event.fault is not RelayFault.NONE and (
                    module.relay is None or module.relay.fault is not event.fault
                ):
                    self._alarm(serial, "relay_fault", fault=event.fault.name.lower())
                module.relay = event
            case ValveState():
                if event.fault is not ValveFault.NONE and (
                    module.valve is None or module.valve.fault is not event.fault
                ):
                    self._alarm(serial, "valve_fault", fault=event.fault.name.lower())
                module.valve = event
            case ModuleLeave():
                module.info = replace(module.info, online=False)
                if event.reason is LeaveReason.REMOVED:
                    self._remove_module(serial)
                else:
                    self._notify_module(module)
                return
        self._notify(serial)

    def _on_announce(self, event: ModuleAnnounce) -> None:
        info = event.module
        module = self.modules.get(info.serial)
        if module is None:
            self._add_module(info)
            return
        module.info = info
        module.last_seen = dt_util.utcnow()
        self._notify_module(module)
        # A module back from out of reach has hours the radio missed.
        for channel, meter in module.meters.items():
            if meter.last_ts is not None and meter.totalizer is not None:
                self.request_backfill(info.serial, channel, meter.last_ts // 3600)

    def _remove_module(self, serial: int) -> None:
        self.modules.pop(serial, None)
        registry = dr.async_get(self.hass)
        for key in (module_key(serial), *(meter_key(serial, ch) for ch in range(3))):
            device = registry.async_get_device_by_identifier((DOMAIN, key), self.entry.entry_id)
            if device is not None:
                registry.async_update_device(device.id, remove_config_entry_id=self.entry.entry_id)

    def _on_meter_value(self, value: MeterValue) -> None:
        module = self.modules.get(value.module)
        if module is None:
            return
        meter = module.meters.get(value.channel)
        if meter is None:
            return
        meter.apply(value.timestamp, value.total)
        self._notify(value.module, value.channel)

    def _on_channel_status(self, module: ModuleData, event: ChannelStatus) -> None:
        meter = module.meters.get(event.channel)
        if meter is None:
            return
        raised = event.faults & ~meter.faults
        for fault, name in FAULT_EVENTS.items():
            if raised & fault:
                self._alarm(module.serial, name, channel=event.channel + 1)
        meter.faults = event.faults
        key = (module.serial, event.channel)
        issue = f"tamper_{meter_key(*key)}"
        if event.faults:
            if key not in self._tamper_timers:

                @callback
                def persists(_now: datetime) -> None:
                    self._tamper_persists(module.serial, event.channel)

                self._tamper_timers[key] = async_call_later(
                    self.hass, TAMPER_REPAIR_DELAY, persists
                )
        else:
            if (timer := self._tamper_timers.pop(key, None)) is not None:
                timer()
            ir.async_delete_issue(self.hass, DOMAIN, issue)
        self._notify(module.serial, event.channel)

    @callback
    def _tamper_persists(self, serial: int, channel: int) -> None:
        self._tamper_timers.pop((serial, channel), None)
        module = self.modules.get(serial)
        if module is None or channel not in module.meters:
            return
        faults = module.meters[channel].faults
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"tamper_{meter_key(serial, channel)}",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="tamper",
            translation_placeholders={
                "module": module_key(serial),
                "channel": str(channel + 1),
                "faults": ", ".join(name for fault, name in FAULT_EVENTS.items() if faults & fault),
            },
        )

    def _on_sensor_report(self, module: ModuleData, event: SensorReport) -> None:
        values = event.scaled()
        for kind, name in ALARM_SENSORS.items():
            if values.get(kind) is True and module.sensors.get(kind) is not True:
                self._alarm(module.serial, name)
        for phase in PHASES:
            if values.get(phase) is False and module.sensors.get(phase) is not False:
                self._alarm(module.serial, "phase_lost", phase=phase.name[-2:])
        module.sensors.update(values)

    def _on_health(self, module: ModuleData, event: ModuleHealth) -> None:
        module.health = event
        if event.hop != module.info.hop or event.parent != module.info.parent:
            module.info = replace(module.info, hop=event.hop, parent=event.parent)
        issue = f"low_battery_{module_key(module.serial)}"
        # Mains-powered modules report 0 mV: no battery to warn about.
        if event.battery_mv and event.battery_pct < LOW_BATTERY_PCT:
            if ir.async_get(self.hass).async_get_issue(DOMAIN, issue) is None:
                self._alarm(module.serial, "low_battery", battery=event.battery_pct)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="low_battery",
                translation_placeholders={
                    "module": module_key(module.serial),
                    "battery": str(event.battery_pct),
                },
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, issue)

    # ------------------------------------------------------------------ meters

    def configure_meter(
        self, meter: MeterData, restored: dict[str, Any] | None
    ) -> MeterTotalizer | None:
        """Attach a totalizer to a channel, continuing from the restored state if it fits."""
        config = meter.config
        if config is None:
            return None
        last_counter: int | None = None
        pulses = 0
        if restored is not None and restored.get("last_counter") is not None:
            last_counter = int(restored["last_counter"])
            previous = MeterConfig(
                kind=MeterKind(restored["kind"]),
                pulses_per_unit=float(restored["pulses_per_unit"]),
                initial_reading=float(restored["initial_reading"]),
                initial_counter=restored.get("initial_counter"),
            )
            restored_total = previous.initial_reading + int(restored["pulses"]) / (
                previous.pulses_per_unit
            )
            configured = restored.get("configured_reading")
            if configured is not None and configured != config.initial_reading:
                # The user typed a new reading in the options: it applies from now on.
                config = replace(config, initial_counter=last_counter)
            elif previous.kind == config.kind and previous.pulses_per_unit == (
                config.pulses_per_unit
            ):
                config = previous
                pulses = int(restored["pulses"])
            else:
                # A corrected meter constant applies to pulses from now on; the total so far
                # stays what it was, so history neither jumps nor falls.
                config = replace(
                    config, initial_reading=restored_total, initial_counter=last_counter
                )
            meter.last_ts = restored.get("last_ts")
        totalizer = self.client.configure_meter(
            meter.serial, meter.channel, config, last_counter=last_counter, pulses=pulses
        )
        meter.totalizer = totalizer
        if last_counter is not None:
            meter.total = totalizer.total
        if meter.pending_counter is not None:
            timestamp, counter = meter.pending_counter
            meter.pending_counter = None
            meter.total = totalizer.update(counter)
            meter.last_ts = timestamp
        return totalizer

    def set_meter_reading(self, meter: MeterData, reading: float) -> None:
        """A replaced meter or a corrected reading: the total continues from ``reading``.

        Hours already in the statistics keep their sums: the recorder sees a lower value as a
        new cycle, never as negative consumption.
        """
        if meter.totalizer is None:
            raise ValueError("meter not configured")
        meter.totalizer.set_reading(reading)
        meter.total = meter.totalizer.total
        meter.rate = None
        self._notify(meter.serial, meter.channel)

    # ------------------------------------------------------------------ backlog

    def _last_hours_heard(self) -> dict[tuple[int, int], int]:
        return {
            (serial, channel): meter.last_ts // 3600
            for serial, module in self.modules.items()
            for channel, meter in module.meters.items()
            if meter.last_ts is not None and meter.totalizer is not None
        }

    def _request_backfill_after_outage(self) -> None:
        outage, self._outage_hours = self._outage_hours, {}
        for (serial, channel), first in outage.items():
            self.request_backfill(serial, channel, first)

    @callback
    def request_backfill(self, serial: int, channel: int, first_hour: int) -> None:
        key = (serial, channel)
        now_hour = int(dt_util.utcnow().timestamp()) // 3600
        first_hour = max(first_hour, now_hour - MAX_BACKFILL_HOURS)
        self._backfill_requests[key] = min(first_hour, self._backfill_requests.get(key, first_hour))
        if self._backfill_task is None or self._backfill_task.done():
            self._backfill_task = self.entry.async_create_background_task(
                self.hass, self._run_backfill(), f"{DOMAIN} backfill"
            )

    async def _run_backfill(self) -> None:
        # Let every entity restore first, so that one request per module covers all its channels.
        await asyncio.sleep(0)
        while self._backfill_requests and self.connected:
            requests, self._backfill_requests = self._backfill_requests, {}
            by_module: dict[int, dict[int, int]] = {}
            for (serial, channel), first in requests.items():
                by_module.setdefault(serial, {})[channel] = first
            for serial, channels in by_module.items():
                await self.async_backfill_module(serial, min(channels.values()), None, channels)

    async def async_backfill_module(
        self,
        serial: int,
        first_hour: int,
        last_hour: int | None,
        channels: dict[int, int] | None = None,
    ) -> dict[int, int]:
        """Fetch a module's hourly counters and upsert them into its meters' statistics.

        Returns the hours imported per channel; hours too recent to import are retried later.
        """
        module = self.modules.get(serial)
        if module is None:
            return {}
        wanted = [
            ch
            for ch, meter in module.meters.items()
            if meter.totalizer is not None and (channels is None or ch in channels)
        ]
        if not wanted:
            return {}
        now = dt_util.utcnow()
        last = int(now.timestamp()) // 3600 if last_hour is None else last_hour
        try:
            backlog = await self.client.fetch_backlog(serial, first_hour, last, wanted)
        except CommandError as err:
            _LOGGER.debug("Backlog of %s not fetched: %s", module_key(serial), err)
            return {}
        imported: dict[int, int] = {}
        for channel in wanted:
            meter = module.meters[channel]
            records: list[HourlyCounter] = backlog.get(channel, [])
            if meter.entity_id is None or meter.totalizer is None or not records:
                continue
            result = await async_import_meter_history(
                self.hass,
                entity_id=meter.entity_id,
                kind=meter.kind,
                totalizer=meter.totalizer,
                records=records,
                now=now,
            )
            self.last_backfill[meter_key(serial, channel)] = result
            imported[channel] = result.hours
            if result.deferred_from is not None:
                self._schedule_settle(serial, channel, result.deferred_from, result.retry_at)
        return imported

    def _schedule_settle(self, serial: int, channel: int, hour: int, when: datetime) -> None:
        # Kept apart from the pending requests: the running backfill would otherwise fetch the
        # same unsettled hours again at once, over and over, until the recorder is done.
        key = (serial, channel)
        self._deferred[key] = min(hour, self._deferred.get(key, hour))
        if self._settle_timer is not None:
            return

        @callback
        def settle(_now: datetime) -> None:
            self._settle_timer = None
            deferred, self._deferred = self._deferred, {}
            for (module, meter), first in deferred.items():
                self.request_backfill(module, meter, first)

        self._settle_timer = async_call_later(self.hass, when - dt_util.utcnow(), settle)
