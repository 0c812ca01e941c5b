"""The load manager: a thin adapter that runs `dlm.DlmEngine` on Home Assistant states.

It steps the engine on every state change of the power sensor and of the sockets, carries the
decisions out by calling the sockets' own turn_off/turn_on actions, and keeps the engine's state
in a Store so that a restart in the middle of a shed forgets no socket. A timer runs only for
what time alone changes: a yellow socket's comfort bound, the settle time, green deadlines,
tariff windows, expiries and a power reading going stale.
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    UnitOfPower,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import PowerConverter

from dlm import (
    DR_SOURCE_HOUSEHOLD,
    DR_SOURCE_UTILITY,
    DemandResponse,
    DlmEngine,
    DlmSettings,
    EngineMode,
    GreenRun,
    LimitStack,
    PowerReading,
    ShedCause,
    ShedDecision,
    SocketAction,
    SocketColour,
    SocketConfig,
    SocketObservation,
    TariffWindow,
)

from ..common.listeners import Listeners
from ..const import (
    CONF_COLOUR,
    CONF_CONTRACT_W,
    CONF_DEADLINE,
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
    DOMAIN,
    SUBENTRY_SOCKET,
)

_LOGGER = logging.getLogger(__name__)

type LoadManagerConfigEntry = ConfigEntry[LoadManager]

STORAGE_VERSION = 1
STEP_AT_LEAST_EVERY = timedelta(seconds=60)
"""The engine keeps comfort bounds and deadlines on steps; while it holds a socket, a run waits
or a request is in force it is stepped at least this often even if nothing is reported."""


def storage_key(entry_id: str) -> str:
    return f"{DOMAIN}.load_manager.{entry_id}"


@dataclass(frozen=True, slots=True)
class ManagedSocket:
    """A socket subentry: the engine's view of it and the entity that switches it."""

    config: SocketConfig
    entity_id: str
    run_s: float | None
    deadline: dtime | None

    @property
    def socket_id(self) -> str:
        return self.config.socket_id


@dataclass(frozen=True, slots=True)
class Reaction:
    """How fast a state change became a switch command: the measured DLM latency."""

    trigger: str
    socket_id: str
    cause: ShedCause
    call_ms: float
    """From the state change event reaching the manager to the switch action being called."""
    done_ms: float | None
    """... to the switch action returning (for DMesh relays: the module confirmed)."""
    at: datetime


def _parse_time(value: object) -> dtime | None:
    if not value:
        return None
    return dtime.fromisoformat(str(value))


def sockets_from_entry(entry: ConfigEntry[Any]) -> list[ManagedSocket]:
    sockets: list[ManagedSocket] = []
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_SOCKET:
            continue
        data = subentry.data
        colour = SocketColour[str(data[CONF_COLOUR]).upper()]
        max_off_min = data.get(CONF_MAX_OFF_MIN)
        run_min = data.get(CONF_RUN_MIN)
        power = data.get(CONF_POWER_W)
        sockets.append(
            ManagedSocket(
                config=SocketConfig(
                    socket_id=subentry.subentry_id,
                    name=subentry.title,
                    colour=colour,
                    power_w=None if power is None else float(power),
                    max_off_s=(
                        float(max_off_min) * 60
                        if colour is SocketColour.YELLOW and max_off_min
                        else None
                    ),
                    priority=int(data.get(CONF_PRIORITY, 0)),
                    night_start_delay_s=float(data.get(CONF_NIGHT_DELAY_MIN, 0)) * 60,
                ),
                entity_id=str(data[CONF_SWITCH_ENTITY]),
                run_s=None if not run_min else float(run_min) * 60,
                deadline=_parse_time(data.get(CONF_DEADLINE)),
            )
        )
    return sockets


def night_window(options: Mapping[str, Any]) -> TariffWindow | None:
    start = _parse_time(options.get(CONF_NIGHT_START))
    end = _parse_time(options.get(CONF_NIGHT_END))
    if start is None or end is None or start == end:
        return None
    limit = options.get(CONF_NIGHT_LIMIT_W)
    return TariffWindow("night", start, end, limit_w=float(limit) if limit else None, cheap=True)


def limits_from_options(options: Mapping[str, Any], temporary_w: float | None = None) -> LimitStack:
    household = options.get(CONF_LIMIT_W)
    household_w = float(household) if household else None
    if temporary_w is not None:
        household_w = temporary_w if household_w is None else min(household_w, temporary_w)
    contract = options.get(CONF_CONTRACT_W)
    window = night_window(options)
    return LimitStack(
        household_limit_w=household_w,
        contract_power_w=float(contract) if contract else None,
        tariff_windows=() if window is None else (window,),
    )


def _iso_time(value: object) -> datetime | None:
    return None if not isinstance(value, str) else datetime.fromisoformat(value)


class LoadManager:
    """One household's DLM: the engine, its inputs from HA, its outputs to HA, its memory."""

    def __init__(self, hass: HomeAssistant, entry: LoadManagerConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.power_entity: str = entry.data[CONF_POWER_ENTITY]
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, storage_key(entry.entry_id)
        )
        self.sockets: dict[str, ManagedSocket] = {}
        self._by_entity: dict[str, ManagedSocket] = {}
        self.settings = DlmSettings()
        self.engine = DlmEngine([], LimitStack())
        self.resume_mode = EngineMode.ACTIVE
        self.temporary_limit: tuple[float, datetime] | None = None
        self.decisions: deque[ShedDecision] = deque(maxlen=20)
        self.reactions: deque[Reaction] = deque(maxlen=100)
        self.command_errors = 0
        self.restored_from_storage = False
        self._entities: dict[str, str] = {}
        """socket id -> entity id, including sockets no longer configured but still held."""
        self._pending_on: set[str] = set()
        """Entities to switch back on as soon as they are there again."""
        self._expected: dict[str, str] = {}
        self._listeners = Listeners[()]()
        self._unsub_state: CALLBACK_TYPE | None = None
        self._unsub_timer: CALLBACK_TYPE | None = None
        self._wake_at: datetime | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._saved: dict[str, Any] | None = None
        self._stopped = False
        self.started = False
        """True once async_start has restored the engine; until then a change means a reload."""
        self._load_config()

    # -- configuration -----------------------------------------------------------------------

    def _load_config(self) -> None:
        self.sockets = {s.socket_id: s for s in sockets_from_entry(self.entry)}
        self._by_entity = {s.entity_id: s for s in self.sockets.values()}
        for socket in self.sockets.values():
            self._entities[socket.socket_id] = socket.entity_id
        self.settings = DlmSettings(
            stale_after_s=float(self.entry.options.get(CONF_STALE_AFTER_S, DEFAULT_STALE_AFTER_S))
        )

    def _limits(self, now: datetime) -> LimitStack:
        temporary = self.temporary_limit
        if temporary is not None and now >= temporary[1]:
            self.temporary_limit = temporary = None
        return limits_from_options(self.entry.options, None if temporary is None else temporary[0])

    def _apply_limits(self, now: datetime) -> None:
        dr = self.engine.limits.demand_response
        self.engine.set_limits(replace(self._limits(now), demand_response=dr))

    @property
    def socket_ids(self) -> set[str]:
        return set(self.sockets)

    @callback
    def async_reconfigure(self) -> None:
        """Options or a socket's settings changed: rebuild the engine, keeping its state."""
        self._load_config()
        now = dt_util.now()
        self.engine = DlmEngine.from_dict(
            self.engine.to_dict(),
            [s.config for s in self.sockets.values()],
            self._limits(now),
            self.settings,
        )
        self._subscribe()
        self._step()

    # -- start and stop ----------------------------------------------------------------------

    async def async_start(self) -> None:
        try:
            data = await self._store.async_load()
        except (HomeAssistantError, NotImplementedError) as err:  # damaged, another version
            _LOGGER.warning("Load manager state unreadable, not restored: %s", err or type(err))
            data = None
        now = dt_util.now()
        configs = [s.config for s in self.sockets.values()]
        engine: DlmEngine | None = None
        if data is not None:
            try:
                self._restore_extras(data)
                engine = DlmEngine.from_dict(
                    data["engine"], configs, self._limits(now), self.settings
                )
                self.restored_from_storage = True
            except (AttributeError, KeyError, TypeError, ValueError) as err:
                # A state that cannot be read must not stop load management; what it held is
                # given back by the pending list, which is read first.
                _LOGGER.warning("Load manager state not restored: %s", err)
        self.engine = engine or DlmEngine(configs, self._limits(now), self.settings)
        self._subscribe()
        self._step()
        self.started = True

    def _restore_extras(self, data: Mapping[str, Any]) -> None:
        self._pending_on = set(data.get("pending_on", []))
        self._entities.update(
            {k: v for k, v in data.get("entities", {}).items() if k not in self._entities}
        )
        self.resume_mode = EngineMode(data.get("resume_mode", EngineMode.ACTIVE.value))
        temporary = data.get("temporary_limit")
        if temporary is not None:
            until = _iso_time(temporary["until"])
            if until is not None:
                self.temporary_limit = (float(temporary["watts"]), until)

    def _subscribe(self) -> None:
        if self._unsub_state is not None:
            self._unsub_state()
        watched = {self.power_entity, *self._by_entity, *self._pending_on}
        self._unsub_state = async_track_state_change_event(
            self.hass, sorted(watched), self._on_state_change
        )

    async def async_stop(self) -> None:
        self._stopped = True
        if self._unsub_state is not None:
            self._unsub_state()
            self._unsub_state = None
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.async_save(self._snapshot())

    # -- listeners for entities --------------------------------------------------------------

    @callback
    def async_add_listener(self, update: Callable[[], None]) -> CALLBACK_TYPE:
        return self._listeners.add(update)

    def _notify(self) -> None:
        self._listeners.notify()

    # -- inputs ------------------------------------------------------------------------------

    def reading(self) -> PowerReading | None:
        """The total power in W, stamped with when the sensor last reported it."""
        state = self.hass.states.get(self.power_entity)
        if state is None:
            return None
        try:
            value = float(state.state)
        except ValueError:
            return None  # unknown, unavailable
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) or UnitOfPower.WATT
        if unit != UnitOfPower.WATT:
            try:
                value = PowerConverter.convert(value, unit, UnitOfPower.WATT)
            except HomeAssistantError:
                return None
        if not math.isfinite(value):
            return None
        return PowerReading(value, state.last_reported)

    def _observations(self) -> dict[str, SocketObservation]:
        """Each socket as its switch reports it; an unknown or unavailable one is left out.

        The switches usually report before the meter does: the engine corrects the reading for
        what it switched after the reading was measured."""
        observed: dict[str, SocketObservation] = {}
        for socket in self.sockets.values():
            state = self.hass.states.get(socket.entity_id)
            if state is None or state.state not in (STATE_ON, STATE_OFF):
                continue
            observed[socket.socket_id] = SocketObservation(state.state == STATE_ON)
        return observed

    @callback
    def _on_state_change(self, event: Event[EventStateChangedData]) -> None:
        received = time.perf_counter()
        entity_id = event.data["entity_id"]
        new = event.data["new_state"]
        old = event.data["old_state"]
        new_state = None if new is None else new.state
        ours = self._expected.get(entity_id) == new_state
        if ours:
            self._expected.pop(entity_id, None)
        if entity_id in self._pending_on and new_state in (STATE_ON, STATE_OFF):
            self._pending_on.discard(entity_id)
            if new_state == STATE_OFF:
                self._spawn(self._switch_entity(entity_id, True))
        socket = self._by_entity.get(entity_id)
        if (
            socket is not None
            and not ours
            and new_state == STATE_ON
            and old is not None
            and old.state == STATE_OFF
        ):
            self._maybe_request_run(socket)
        self._step(trigger=entity_id, received=received)

    def _maybe_request_run(self, socket: ManagedSocket) -> None:
        """Switched on by someone else: a green socket with a run configured is ready to run."""
        if (
            socket.config.colour is not SocketColour.GREEN
            or socket.run_s is None
            or socket.deadline is None
            or self.run_of(socket.socket_id) is not None
        ):
            return
        now = dt_util.now()
        deadline = datetime.combine(now.date(), socket.deadline, tzinfo=now.tzinfo)
        if deadline <= now:
            deadline += timedelta(days=1)
        self.engine.request_run(socket.socket_id, GreenRun(deadline=deadline, run_s=socket.run_s))

    def run_of(self, socket_id: str) -> dict[str, Any] | None:
        run: dict[str, Any] | None = self.engine.to_dict()["sockets"][socket_id]["run"]
        return run

    @callback
    def _on_timer(self, _now: datetime) -> None:
        self._unsub_timer = None
        self._wake_at = None
        self._step()

    # -- the step ----------------------------------------------------------------------------

    @callback
    def _step(self, trigger: str | None = None, received: float | None = None) -> None:
        if self._stopped:
            return
        now = dt_util.now()
        if self.temporary_limit is not None and now >= self.temporary_limit[1]:
            self._apply_limits(now)
        decisions = self.engine.step(now, self.reading(), self._observations())
        self.decisions.extend(decisions)
        to_switch = [d for d in decisions if not d.advisory]
        snapshot = self._snapshot()
        changed = self._saved is None or _comparable(snapshot) != _comparable(self._saved)
        if changed or to_switch:
            self._saved = snapshot
            self._spawn(self._persist_then_switch(to_switch, trigger, received))
        self._schedule(now)
        self._notify()

    def _spawn(self, job: Any) -> None:
        task: asyncio.Task[None] = self.hass.async_create_task(job, eager_start=False)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _persist_then_switch(
        self, decisions: list[ShedDecision], trigger: str | None, received: float | None
    ) -> None:
        # A socket is switched off only once the engine's memory of it is on disk: a restart
        # right after the command must find it held. Switching on needs no such care.
        if any(d.action is SocketAction.SWITCH_OFF for d in decisions) or not decisions:
            await self._store.async_save(self._snapshot())
        else:
            self._spawn(self._store.async_save(self._snapshot()))
        await asyncio.gather(*(self._execute(d, trigger, received) for d in decisions))

    async def _execute(
        self, decision: ShedDecision, trigger: str | None, received: float | None
    ) -> None:
        entity_id = self._entities.get(decision.socket_id)
        if entity_id is None:  # pragma: no cover - every socket id the engine knows is mapped
            return
        on = decision.action is SocketAction.SWITCH_ON
        started, done = await self._switch_entity(entity_id, on)
        if received is not None and started is not None:
            self.reactions.append(
                Reaction(
                    trigger=trigger or "",
                    socket_id=decision.socket_id,
                    cause=decision.cause,
                    call_ms=(started - received) * 1000,
                    done_ms=None if done is None else (done - received) * 1000,
                    at=decision.at,
                )
            )
            self._notify()

    async def _switch_entity(self, entity_id: str, on: bool) -> tuple[float | None, float | None]:
        state = self.hass.states.get(entity_id)
        if state is None or state.state == STATE_UNAVAILABLE:
            if on:
                self._remember_pending(entity_id)
            return None, None
        self._expected[entity_id] = STATE_ON if on else STATE_OFF
        domain = entity_id.partition(".")[0]
        started = time.perf_counter()
        try:
            await self.hass.services.async_call(
                domain,
                "turn_on" if on else "turn_off",
                {ATTR_ENTITY_ID: entity_id},
                blocking=True,
                context=Context(),
            )
        except HomeAssistantError as err:
            self.command_errors += 1
            self._expected.pop(entity_id, None)
            _LOGGER.warning("Load manager could not switch %s: %s", entity_id, err)
            if on:
                self._remember_pending(entity_id)
            return started, None
        return started, time.perf_counter()

    def _remember_pending(self, entity_id: str) -> None:
        self._pending_on.add(entity_id)
        if not self._stopped:
            self._subscribe()
        self._spawn(self._store.async_save(self._snapshot()))

    # -- the timer ---------------------------------------------------------------------------

    def _schedule(self, now: datetime) -> None:
        wake = self.next_wake(now)
        if wake == self._wake_at:
            return
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        self._wake_at = wake
        if wake is not None:
            self._unsub_timer = async_track_point_in_utc_time(
                self.hass, self._on_timer, dt_util.as_utc(wake)
            )

    def next_wake(self, now: datetime) -> datetime | None:
        """When time alone may change a decision; None while nothing waits for time."""
        state = self.engine.to_dict()
        status = self.engine.status
        candidates: list[datetime] = []
        reading = self.reading()
        if reading is not None and not status.reading_stale:
            candidates.append(
                reading.measured_at + timedelta(seconds=self.settings.stale_after_s + 0.001)
            )
        busy = bool(status.held)
        for socket_id, entry in state["sockets"].items():
            socket = self.sockets.get(socket_id)
            run = entry.get("run")
            if run is not None:
                busy = True
                deadline = _iso_time(run.get("deadline"))
                remaining = run.get("remaining_s")
                if deadline is not None and remaining is not None:
                    candidates.append(
                        deadline - timedelta(seconds=remaining + self.settings.must_run_slack_s)
                    )
            off_since = _iso_time(entry.get("off_since"))
            if entry.get("held") and socket is not None and off_since is not None:
                max_off = socket.config.effective_max_off_s
                if math.isfinite(max_off):
                    candidates.append(off_since + timedelta(seconds=max_off))
        last_action = _iso_time(state.get("last_action_at"))
        if busy and last_action is not None:
            candidates.append(last_action + timedelta(seconds=self.settings.settle_s))
        dr = self.engine.limits.demand_response
        if dr is not None and dr.active(now):
            busy = True
            candidates.append(dr.expires_at)
        if self.temporary_limit is not None:
            candidates.append(self.temporary_limit[1])
        for window in self.engine.limits.tariff_windows:
            candidates.append(window.next_start(now))
            end = datetime.combine(now.date(), window.end, tzinfo=now.tzinfo)
            candidates.append(end if end > now else end + timedelta(days=1))
        if busy:
            candidates.append(now + STEP_AT_LEAST_EVERY)
        future = [c for c in candidates if c > now]
        return min(future) if future else None

    # -- what the household and the utility can ask for ----------------------------------------

    @property
    def mode(self) -> EngineMode:
        return self.engine.mode

    @callback
    def async_set_mode(self, mode: EngineMode) -> None:
        if mode is not EngineMode.OFF:
            self.resume_mode = mode
        self.engine.set_mode(mode)
        self._step()

    @callback
    def async_set_temporary_limit(self, watts: float, duration: timedelta) -> None:
        now = dt_util.now()
        self.temporary_limit = (watts, now + duration)
        self._apply_limits(now)
        self._step()

    @callback
    def async_demand_response(
        self,
        *,
        expires_at: datetime,
        level: int = 0,
        limit_w: float | None = None,
        source: str = DR_SOURCE_UTILITY,
    ) -> None:
        """The DR hook: the OpenADR VEN (or the demand_response action) imposes a level, a
        limit or both until `expires_at`; level 0 without a limit ends any request."""
        if level == 0 and limit_w is None:
            self.engine.clear_dr()
        else:
            self.engine.impose_dr(
                DemandResponse(expires_at=expires_at, level=level, limit_w=limit_w, source=source)
            )
        self._step()

    @callback
    def async_shed_now(self, level: int, duration: timedelta) -> None:
        now = dt_util.now()
        dr = self.engine.limits.demand_response
        if dr is not None and dr.active(now) and dr.source != DR_SOURCE_HOUSEHOLD:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="utility_request_active",
                translation_placeholders={"until": dt_util.as_local(dr.expires_at).isoformat()},
            )
        self.async_demand_response(
            expires_at=now + duration, level=level, limit_w=None, source=DR_SOURCE_HOUSEHOLD
        )

    @callback
    def async_restore_all(self) -> None:
        """Every held socket back on now; requests and a temporary limit end. DLM keeps
        running: the engine sheds again only if a later reading is over the limit."""
        now = dt_util.now()
        self.engine.restore_all(now)
        self.temporary_limit = None
        self._apply_limits(now)
        self._step()

    # -- state ------------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        until = None if self.temporary_limit is None else self.temporary_limit[1]
        return {
            "engine": self.engine.to_dict(),
            "entities": dict(self._entities),
            "pending_on": sorted(self._pending_on),
            "resume_mode": self.resume_mode.value,
            "temporary_limit": None
            if self.temporary_limit is None or until is None
            else {"watts": self.temporary_limit[0], "until": until.isoformat()},
        }

    @property
    def last_decision(self) -> ShedDecision | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def last_shed_reaction(self) -> Reaction | None:
        for reaction in reversed(self.reactions):
            if reaction.cause.switches_off and reaction.trigger == self.power_entity:
                return reaction
        return None

    def reaction_stats(self) -> dict[str, Any]:
        sheds = [
            r.call_ms
            for r in self.reactions
            if r.cause.switches_off and r.trigger == self.power_entity
        ]
        done = [
            r.done_ms
            for r in self.reactions
            if r.cause.switches_off and r.trigger == self.power_entity and r.done_ms is not None
        ]
        return {
            "samples": len(sheds),
            "call_median_ms": round(statistics.median(sheds), 3) if sheds else None,
            "call_max_ms": round(max(sheds), 3) if sheds else None,
            "done_median_ms": round(statistics.median(done), 3) if done else None,
            "done_max_ms": round(max(done), 3) if done else None,
        }

    def socket_name(self, socket_id: str) -> str:
        socket = self.sockets.get(socket_id)
        return socket.config.name if socket is not None else socket_id


def _comparable(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """A snapshot without the step time, which changes on every step and alone is no news."""
    engine = {k: v for k, v in snapshot["engine"].items() if k != "last_step_at"}
    return {**snapshot, "engine": engine}


async def async_release_all(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is being deleted: switch back on whatever it still holds, then forget it."""
    store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry_id))
    data = await store.async_load()
    if data is not None:
        entities: dict[str, str] = data.get("entities", {})
        held = [
            entities[socket_id]
            for socket_id, entry in data.get("engine", {}).get("sockets", {}).items()
            if entry.get("held") and socket_id in entities
        ]
        await _turn_on(hass, [*held, *data.get("pending_on", [])])
    await store.async_remove()


async def _turn_on(hass: HomeAssistant, entity_ids: Iterable[str]) -> None:
    for entity_id in sorted(set(entity_ids)):
        state = hass.states.get(entity_id)
        if state is None or state.state != STATE_OFF:
            continue
        try:
            await hass.services.async_call(
                entity_id.partition(".")[0],
                "turn_on",
                {ATTR_ENTITY_ID: entity_id},
                blocking=True,
            )
        except HomeAssistantError as err:
            _LOGGER.warning("Could not switch %s back on: %s", entity_id, err)
