"""The household analytics of one config entry: readings in, findings and figures out.

Every source meter is read on each state change and every five minutes (a pulse counter whose
total does not move reports nothing, and a quiet hour is exactly what the leak rules look for).
State lives in a Store (the journal of hours, tariff totals, away mode), so a restart continues;
a meter with no saved state starts from the recorder's hourly statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.components.climate.const import HVACAction
from homeassistant.const import UnitOfTemperature
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.event import (
    async_track_state_change_event,
    async_track_time_interval,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import TemperatureConverter

from balance_analytics import Allowance, Carrier, DetectorKind, Finding, ZeroControl

from ..const import DOMAIN
from .meter import MeterAnalytics, MeterSource
from .recorder import async_hourly_history
from .settings import AnalyticsSettings

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION: Final = 1
SAVE_DELAY_S: Final = 300
"""The journal is a few hundred kB per meter: written every five minutes at most, and at stop."""
READ_INTERVAL: Final = timedelta(minutes=5)
HISTORY_DAYS: Final = 400
EVENT_AWAY_ALARM: Final = "balance_away_alarm"
EVENT_ANALYTICS_ALARM: Final = "balance_analytics_alarm"


def storage_key(entry_id: str) -> str:
    return f"{DOMAIN}.analytics.{entry_id}"


class AnalyticsManager:
    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        sources: Iterable[MeterSource],
        settings: AnalyticsSettings,
        *,
        home: DeviceInfo,
        home_key: str,
    ) -> None:
        self.hass = hass
        self.entry_id = entry_id
        self.settings = settings
        self.home = home
        self.home_key = home_key
        self.tz = dt_util.get_default_time_zone()
        self.currency = hass.config.currency
        self.meters: dict[str, MeterAnalytics] = {
            s.key: MeterAnalytics(s, settings, self.tz) for s in sources
        }
        self.away = ZeroControl(
            {k: (m.context(0), Allowance.default_for(m.carrier)) for k, m in self.meters.items()}
        )
        self.away_since: float | None = None
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry_id))
        self._listeners: list[CALLBACK_TYPE] = []
        self._away_listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._unsubs: list[CALLBACK_TYPE] = []
        self._hour: int | None = None
        self._active: set[tuple[str, DetectorKind]] = set()

    # -- life cycle

    async def async_start(self) -> None:
        saved = await self._async_load()
        now = dt_util.utcnow().timestamp()
        registry = er.async_get(self.hass)
        for key, meter in self.meters.items():
            if meter.entity_id is None and meter.source.total_unique_id is not None:
                meter.entity_id = registry.async_get_entity_id(
                    "sensor", DOMAIN, meter.source.total_unique_id
                )
            if (state := saved["meters"].get(key)) is not None:
                try:
                    meter.restore(state)
                except (AttributeError, KeyError, TypeError, ValueError) as err:
                    _LOGGER.warning("%s: saved state unusable (%s); starting afresh", key, err)
            if not meter.journal.has_hours and meter.entity_id and not meter.source.power:
                await self._async_seed(meter, now)
            meter.rebuild_monitor(now)
            self._active.update((key, k) for k, f in meter.findings.items() if f.active)
        if isinstance(armed_at := saved.get("away_since"), int | float):
            self.async_set_away(True, float(armed_at))
        entity_ids = [m.entity_id for m in self.meters.values() if m.entity_id]
        self._unsubs.append(
            async_track_state_change_event(self.hass, entity_ids, self._on_state_change)
        )
        self._unsubs.append(async_track_time_interval(self.hass, self._on_tick, READ_INTERVAL))
        self._read_all(now)
        self._refresh(now)
        self._notify()  # the entities were added before the history was in

    async def _async_load(self) -> dict[str, Any]:
        """The saved state; one that cannot be read (damaged, from another version) is a fresh
        start: the recorder gives the hours back, and nothing a user set is kept here."""
        try:
            saved = await self._store.async_load()
        except (HomeAssistantError, NotImplementedError) as err:
            _LOGGER.warning("Saved analytics unreadable (%s); starting afresh", err or type(err))
            saved = None
        if saved is not None and not (
            isinstance(saved, dict) and isinstance(saved.get("meters", {}), dict)
        ):
            _LOGGER.warning("Saved analytics unusable; starting afresh")
            saved = None
        return {"meters": {}} | (saved or {})

    async def _async_seed(self, meter: MeterAnalytics, now: float) -> None:
        assert meter.entity_id is not None
        start = dt_util.utc_from_timestamp(now) - timedelta(days=HISTORY_DAYS)
        history = await async_hourly_history(self.hass, meter.entity_id, start)
        if history is None:
            return
        series, end_total = history
        try:
            meter.journal.seed(series.start, series.values, end_total)
        except ValueError as err:  # history refused loses the history, never the entry
            _LOGGER.warning("%s: recorder history not used: %s", meter.key, err)
            return
        _LOGGER.debug("%s: %d hours from the recorder", meter.key, len(series))

    async def async_stop(self) -> None:
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        await self._store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        return {
            "meters": {k: m.to_dict() for k, m in self.meters.items()},
            "away_since": self.away_since,
        }

    # -- listeners

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    @callback
    def async_add_away_listener(self, fire: Callable[[str, dict[str, Any]], None]) -> CALLBACK_TYPE:
        self._away_listeners.append(fire)
        return lambda: self._away_listeners.remove(fire)

    def _notify(self) -> None:
        for update in list(self._listeners):
            update()

    # -- readings

    @callback
    def _on_state_change(self, event: Event[EventStateChangedData]) -> None:
        entity_id = event.data["entity_id"]
        now = dt_util.utcnow().timestamp()
        for meter in self.meters.values():
            if meter.entity_id == entity_id:
                self._read(meter, now, event.data["new_state"])
        # A power sensor may change every second: its integral needs every value, but the
        # entities only need news, or the five-minute tick.
        if self._announce_new_findings():
            self._notify()

    @callback
    def _on_tick(self, moment: datetime) -> None:
        now = moment.timestamp()
        self._read_all(now)
        self._after_readings(now)

    def _read_all(self, now: float) -> None:
        for meter in self.meters.values():
            if meter.entity_id is not None:
                self._read(meter, now, self.hass.states.get(meter.entity_id))

    def _read(self, meter: MeterAnalytics, now: float, state: Any) -> None:
        value = meter.source.value_of(state)
        if value is None:
            return
        try:
            interval = meter.read(
                now, value, outdoor_temp_c=self._outdoor_c(), demand=self._demand()
            )
        except ValueError as err:  # a reading the library refuses loses nothing else
            _LOGGER.warning("%s: reading %s refused: %s", meter.key, value, err)
            return
        if interval is not None:
            self._guard(meter, *interval)

    def _outdoor_c(self) -> float | None:
        """The outdoor temperature in °C from a sensor or a weather entity, if one is set."""
        entity_id = self.settings.outdoor_entity
        if entity_id is None or (state := self.hass.states.get(entity_id)) is None:
            return None
        raw: Any = state.state
        unit = state.attributes.get("unit_of_measurement")
        if state.domain == "weather":
            raw = state.attributes.get("temperature")
            unit = state.attributes.get("temperature_unit")
        try:
            value = float(raw)
            return TemperatureConverter.convert(value, unit, UnitOfTemperature.CELSIUS)
        except TypeError, ValueError, HomeAssistantError:
            return None

    def _demand(self) -> bool | None:
        """Whether the heating asks for heat now: a climate entity heating, a binary sensor on."""
        entity_id = self.settings.demand_entity
        if entity_id is None or (state := self.hass.states.get(entity_id)) is None:
            return None
        if state.domain == "climate":
            action = state.attributes.get("hvac_action")
            return None if action is None else action == HVACAction.HEATING
        if state.state in ("on", "off"):
            return state.state == "on"
        return None

    def _after_readings(self, now: float) -> None:
        hour = int(now // 3600)
        if hour != self._hour:
            self._refresh(now)
        self._announce_new_findings()
        self._store.async_delay_save(self._data, SAVE_DELAY_S)
        self._notify()

    def _refresh(self, now: float) -> None:
        self._hour = int(now // 3600)
        for meter in self.meters.values():
            meter.refresh(now)

    def _announce_new_findings(self) -> bool:
        """A bus event when a detector turns on, for automations that do not watch entities.

        Returns whether any alarm turned on or off."""
        active: set[tuple[str, DetectorKind]] = set()
        for key, meter in self.meters.items():
            for kind, finding in meter.findings.items():
                if finding.active:
                    active.add((key, kind))
                    if (key, kind) not in self._active:
                        self.hass.bus.async_fire(
                            EVENT_ANALYTICS_ALARM, self._event_data(meter, finding)
                        )
        changed = active != self._active
        self._active = active
        return changed

    def _event_data(self, meter: MeterAnalytics, finding: Finding) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "meter": meter.key,
            "entity_id": meter.entity_id,
            "carrier": meter.carrier.value,
            "currency": self.currency,
            **finding.as_attributes(),
        }

    # -- away mode

    @callback
    def async_set_away(self, on: bool, since: float | None = None) -> None:
        now = dt_util.utcnow().timestamp() if since is None else since
        if on:
            for key, meter in self.meters.items():
                self.away.set_allowance(key, self._allowance(meter))
            self.away.arm(now)
            self.away_since = now
        else:
            self.away.disarm()
            self.away_since = None
        self._store.async_delay_save(self._data, SAVE_DELAY_S)
        self._notify()

    @staticmethod
    def _allowance(meter: MeterAnalytics) -> Allowance:
        baseline: float | None = None
        if meter.carrier is Carrier.ELECTRICITY:
            standby = meter.findings.get(DetectorKind.STANDBY)
            if standby is not None and standby.rate_per_hour > 0:
                baseline = standby.rate_per_hour
        return Allowance.default_for(meter.carrier, baseline)

    def _guard(self, meter: MeterAnalytics, t0: float, t1: float, amount: float) -> None:
        before = self.away.finding(meter.key).active
        finding = self.away.update(meter.key, t0, t1, amount)
        if finding.active and not before:
            data = self._event_data(meter, finding)
            self.hass.bus.async_fire(EVENT_AWAY_ALARM, data)
            for fire in list(self._away_listeners):
                fire("consumption_while_away", data)
            self._notify()
