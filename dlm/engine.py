"""The household DLM engine: one house, its sockets, its limits; time is always passed in."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .limits import DR_SOURCE_UTILITY, DemandResponse, LimitInForce, LimitSource, LimitStack
from .model import (
    EngineMode,
    GreenRun,
    PowerReading,
    ShedCause,
    ShedDecision,
    SocketAction,
    SocketColour,
    SocketConfig,
    SocketObservation,
)
from .policy import (
    PolicyInputs,
    PolicySettings,
    PolicyState,
    cancel_runs,
    policy_step,
    request_runs,
)
from .reasons import ReasonContext, explain

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class DlmSettings:
    restore_fraction: float = 0.9
    """Hysteresis: a socket comes back only if the house stays below this share of the limit."""
    settle_s: float = 60.0
    stale_after_s: float = 120.0
    """A total-power reading older than this is stale and the fail-safe takes over."""
    must_run_slack_s: float = 600.0
    override_grace_s: float = 120.0
    idle_w: float = 5.0
    learn_rate: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.restore_fraction < 1.0:
            raise ValueError("restore_fraction must be between 0 and 1")
        for label, value in (
            ("settle_s", self.settle_s),
            ("stale_after_s", self.stale_after_s),
            ("must_run_slack_s", self.must_run_slack_s),
            ("override_grace_s", self.override_grace_s),
            ("idle_w", self.idle_w),
        ):
            if value < 0:
                raise ValueError(f"{label} must be >= 0")
        if not 0.0 < self.learn_rate <= 1.0:
            raise ValueError("learn_rate must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class DlmStatus:
    at: datetime | None
    mode: EngineMode
    limit: LimitInForce
    dr_level: int
    total_w: float | None
    """The last reading, None while it is stale."""
    effective_w: float | None
    """The reading corrected for switch commands not yet visible in it."""
    headroom_w: float | None
    reading_stale: bool
    shedding: bool
    held: tuple[str, ...]
    unmet: bool
    """Over the limit with nothing left that may be switched off."""


def _stamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("DLM times must be timezone-aware")
    return moment.timestamp()


def _iso(seconds: float) -> str | None:
    if not math.isfinite(seconds):
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def _from_iso(text: object, default: float) -> float:
    if text is None:
        return default
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO time, got {text!r}")
    return _stamp(datetime.fromisoformat(text))


def _opt_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class DlmEngine:
    """Keeps one household under the limit in force by switching green, then yellow sockets.

    Call `step` whenever the total power or a socket changes (and at least every minute or so:
    comfort bounds and deadlines are kept on steps). Decisions are returned for switches only;
    the caller carries them out in active mode and shows them in advise mode.
    """

    def __init__(
        self,
        sockets: Sequence[SocketConfig],
        limits: LimitStack,
        settings: DlmSettings | None = None,
        mode: EngineMode = EngineMode.ACTIVE,
    ) -> None:
        ids = [socket.socket_id for socket in sockets]
        if len(set(ids)) != len(ids):
            raise ValueError("socket ids must be unique")
        self._sockets = tuple(sockets)
        self._index = {socket_id: i for i, socket_id in enumerate(ids)}
        self._limits = limits
        self._settings = settings or DlmSettings()
        self._mode = mode
        count = len(self._sockets)
        s = self._settings
        self._policy = PolicySettings(
            colour=np.array([[int(c.colour) for c in self._sockets]], dtype=np.int8).reshape(
                1, count
            ),
            max_off_s=np.array([[c.effective_max_off_s for c in self._sockets]]).reshape(1, count),
            min_on_s=np.array([[c.effective_min_on_s for c in self._sockets]]).reshape(1, count),
            priority=np.array([[float(c.priority) for c in self._sockets]]).reshape(1, count),
            night_start_delay_s=np.array([[c.night_start_delay_s for c in self._sockets]]).reshape(
                1, count
            ),
            restore_fraction=s.restore_fraction,
            settle_s=s.settle_s,
            must_run_slack_s=s.must_run_slack_s,
            idle_w=s.idle_w,
            override_grace_s=s.override_grace_s,
        )
        self._configured_w = np.array(
            [math.nan if c.power_w is None else c.power_w for c in self._sockets]
        )
        self._learnt_w = np.full(count, math.nan)
        self._state = PolicyState.empty(1, count)
        self._orphans: dict[str, str] = {}
        self._stale_since: float | None = None
        self._last_reading_w: float | None = None
        self._restore_all_at: float | None = None
        """Set by `restore_all`: until a reading measured after it, nothing is held."""
        self._restore_all_done = False
        self._status = DlmStatus(
            at=None,
            mode=mode,
            limit=LimitInForce(math.inf, LimitSource.NONE),
            dr_level=0,
            total_w=None,
            effective_w=None,
            headroom_w=None,
            reading_stale=True,
            shedding=False,
            held=(),
            unmet=False,
        )

    # -- configuration that changes at run time ---------------------------------------------

    @property
    def sockets(self) -> tuple[SocketConfig, ...]:
        return self._sockets

    @property
    def mode(self) -> EngineMode:
        return self._mode

    def set_mode(self, mode: EngineMode) -> None:
        """Takes effect on the next step (switching off gives every held socket back there)."""
        self._mode = mode

    @property
    def limits(self) -> LimitStack:
        return self._limits

    def set_limits(self, limits: LimitStack) -> None:
        self._limits = limits

    def impose_dr(self, request: DemandResponse) -> None:
        self._limits = replace(self._limits, demand_response=request)

    def clear_dr(self) -> None:
        self._limits = replace(self._limits, demand_response=None)

    def restore_all(self, at: datetime) -> None:
        """The household asks for everything back now: any DR request ends, and the next step
        switches every held socket back on ("restore all was asked for").

        The mode stays as it is, but nothing is held again on a reading measured at or before
        `at`: that reading led to the sheds the household has just undone, so only a later one
        may shed again. A stale reading (or none) ends this at once: blind, the engine sheds
        nothing for the limit anyway, and DR levels and waiting runs need no reading.
        """
        self.clear_dr()
        self._restore_all_at = _stamp(at)
        self._restore_all_done = False

    def request_run(self, socket_id: str, run: GreenRun) -> None:
        """A green socket's appliance is ready: run it for so long or so much, by the deadline."""
        i = self._socket_index(socket_id)
        if self._sockets[i].colour is not SocketColour.GREEN:
            raise ValueError(f"{socket_id} is not a green socket")
        if run.energy_wh is not None and self._power_known(i) is None:
            raise ValueError(f"{socket_id}: an energy run needs the socket's power configured")
        request_runs(
            self._state,
            np.array([0]),
            np.array([i]),
            deadline=np.array([_stamp(run.deadline)]),
            run_s=np.array([math.nan if run.run_s is None else run.run_s]),
            energy_wh=np.array([math.nan if run.energy_wh is None else run.energy_wh]),
        )

    def cancel_run(self, socket_id: str) -> None:
        cancel_runs(self._state, np.array([0]), np.array([self._socket_index(socket_id)]))

    def _socket_index(self, socket_id: str) -> int:
        try:
            return self._index[socket_id]
        except KeyError:
            raise KeyError(f"unknown socket {socket_id!r}") from None

    def _power_known(self, i: int) -> float | None:
        for value in (self._learnt_w[i], self._configured_w[i]):
            if math.isfinite(value):
                return float(value)
        return None

    # -- the decision ------------------------------------------------------------------------

    @property
    def status(self) -> DlmStatus:
        return self._status

    def step(
        self,
        now: datetime,
        reading: PowerReading | None,
        sockets: Mapping[str, SocketObservation],
    ) -> list[ShedDecision]:
        """Decide which sockets to switch now. `sockets` may omit a socket whose state is
        unknown; it is then taken to be as the engine last left it."""
        t = _stamp(now)
        settings = self._settings
        st = self._state
        limit = self._limits.in_force(now)
        dr_level = self._limits.dr_level(now)
        dr = self._limits.demand_response
        dr_until = dr.expires_at if dr is not None and dr.active(now) else None

        fresh = reading is not None and t - _stamp(reading.measured_at) <= settings.stale_after_s
        measured_at = math.nan
        if fresh and reading is not None:
            power = float(reading.watts)
            measured_at = _stamp(reading.measured_at)
            self._stale_since = None
            self._last_reading_w = power
        else:
            power = math.nan
            if self._stale_since is None:
                self._stale_since = _stamp(reading.measured_at) if reading is not None else t

        restoring = False
        if self._restore_all_at is not None:
            restoring = not self._restore_all_done or (
                fresh and measured_at <= self._restore_all_at
            )
            self._restore_all_done = True
            if not restoring:
                self._restore_all_at = None

        count = len(self._sockets)
        observed_on = np.empty(count, dtype=np.bool_)
        measured = np.full(count, math.nan)
        for i, config in enumerate(self._sockets):
            obs = sockets.get(config.socket_id)
            if obs is None:
                observed_on[i] = not st.held[0, i]
            else:
                observed_on[i] = obs.is_on
                if obs.power_w is not None:
                    measured[i] = obs.power_w
        on_measured = observed_on & np.isfinite(measured)
        learn = on_measured & (measured > settings.idle_w)
        if learn.any():
            rate = settings.learn_rate
            old = self._learnt_w[learn]
            self._learnt_w[learn] = np.where(
                np.isnan(old), measured[learn], (1 - rate) * old + rate * measured[learn]
            )
        known = np.where(np.isfinite(self._learnt_w), self._learnt_w, self._configured_w)
        estimate = np.where(on_measured, measured, known)
        run_power = np.where(np.isnan(known) & learn, measured, known)
        running = observed_on & (np.isnan(measured) | (measured > settings.idle_w))

        current, upcoming = self._limits.cheap_window_state(now)
        night_elapsed = math.nan if current is None else t - _stamp(current)
        next_in = math.inf if upcoming is None else _stamp(upcoming) - t

        outcome = policy_step(
            self._policy,
            st,
            PolicyInputs(
                now=t,
                power_w=np.array([power]),
                limit_w=np.array([limit.watts]),
                dr_level=np.array([dr_level], dtype=np.int8),
                night_elapsed_s=np.array([night_elapsed]),
                next_night_in_s=np.array([next_in]),
                observed_on=observed_on.reshape(1, count),
                socket_power_w=estimate.reshape(1, count),
                run_power_w=run_power.reshape(1, count),
                running=running.reshape(1, count),
                enabled=self._mode is not EngineMode.OFF and not restoring,
                detect_overrides=self._mode is EngineMode.ACTIVE,
                measured_at=np.array([measured_at]),
            ),
        )

        effective = float(outcome.effective_w[0])
        advisory = self._mode is EngineMode.ADVISE
        decisions: list[ShedDecision] = []
        changed = np.nonzero(outcome.switch_off[0] | outcome.switch_on[0])[0]
        if changed.size:
            over_since = st.over_since[0]
            context_base = ReasonContext(
                now=now,
                name="",
                colour=SocketColour.RED,
                limit=limit,
                dr_level=dr_level,
                dr_until=dr_until,
                dr_source=dr.source if dr is not None else DR_SOURCE_UTILITY,
                effective_w=effective if fresh else 0.0,
                over_since=(
                    datetime.fromtimestamp(over_since, tz=now.tzinfo)
                    if math.isfinite(over_since)
                    else None
                ),
                socket_w=None,
                restore_fraction=settings.restore_fraction,
                max_off_s=math.inf,
                night_start=None,
                deadline=None,
                stale_since=(
                    datetime.fromtimestamp(self._stale_since, tz=now.tzinfo)
                    if self._stale_since is not None
                    else None
                ),
                restore_all=restoring,
            )
            delays = self._policy.night_start_delay_s[0]
            for i in changed.tolist():
                config = self._sockets[i]
                cause = ShedCause(int(outcome.cause[0, i]))
                action = (
                    SocketAction.SWITCH_OFF if outcome.switch_off[0, i] else SocketAction.SWITCH_ON
                )
                deadline = st.job_deadline[0, i]
                socket_w = float(known[i]) if math.isfinite(known[i]) else None
                night_start: datetime | None = None
                if cause is ShedCause.WAIT_FOR_NIGHT:
                    opens = current if current is not None else upcoming
                    if opens is not None:
                        night_start = datetime.fromtimestamp(
                            _stamp(opens) + float(delays[i]), tz=now.tzinfo
                        )
                ctx = replace(
                    context_base,
                    name=config.name,
                    colour=config.colour,
                    socket_w=socket_w,
                    max_off_s=config.effective_max_off_s,
                    night_start=night_start,
                    deadline=(
                        datetime.fromtimestamp(deadline, tz=now.tzinfo)
                        if math.isfinite(deadline)
                        else None
                    ),
                )
                decisions.append(
                    ShedDecision(
                        socket_id=config.socket_id,
                        name=config.name,
                        action=action,
                        cause=cause,
                        reason=explain(cause, ctx),
                        at=now,
                        advisory=advisory,
                        total_w=effective if fresh else None,
                        limit_w=limit.watts if math.isfinite(limit.watts) else None,
                    )
                )
        if self._orphans:
            decisions.extend(self._release_orphans(now, advisory))

        held_now = st.held[0]
        shedding_causes = (
            (st.held_cause[0] == ShedCause.OVER_LIMIT)
            | (st.held_cause[0] == ShedCause.DEMAND_RESPONSE)
            | (st.held_cause[0] == ShedCause.DR_EMERGENCY)
        )
        self._status = DlmStatus(
            at=now,
            mode=self._mode,
            limit=limit,
            dr_level=dr_level,
            total_w=power if fresh else None,
            effective_w=effective if fresh else None,
            headroom_w=(limit.watts - effective if fresh and math.isfinite(limit.watts) else None),
            reading_stale=not fresh,
            shedding=bool((held_now & shedding_causes).any()),
            held=tuple(self._sockets[i].socket_id for i in np.nonzero(held_now)[0].tolist()),
            unmet=bool(outcome.unmet[0]),
        )
        return decisions

    def _release_orphans(self, now: datetime, advisory: bool) -> list[ShedDecision]:
        decisions = [
            ShedDecision(
                socket_id=socket_id,
                name=name,
                action=SocketAction.SWITCH_ON,
                cause=ShedCause.NO_LONGER_MANAGED,
                reason=f"{name} back on: it is no longer managed by load management",
                at=now,
                advisory=advisory,
                total_w=None,
                limit_w=None,
            )
            for socket_id, name in self._orphans.items()
        ]
        self._orphans.clear()
        return decisions

    # -- surviving a restart -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to carry on after a restart, as JSON-able plain data."""
        st = self._state
        dr = self._limits.demand_response
        sockets: dict[str, Any] = {}
        for i, config in enumerate(self._sockets):
            run: dict[str, Any] | None = None
            if st.job_active[0, i]:
                run = {
                    "deadline": _iso(float(st.job_deadline[0, i])),
                    "remaining_s": _opt_float(float(st.job_remaining_s[0, i])),
                    "remaining_wh": _opt_float(float(st.job_remaining_wh[0, i])),
                    "started": bool(st.job_started[0, i]),
                }
            sockets[config.socket_id] = {
                "name": config.name,
                "held": bool(st.held[0, i]),
                "held_cause": ShedCause(int(st.held_cause[0, i])).name,
                "off_since": _iso(float(st.off_since[0, i])),
                "on_since": _iso(float(st.on_since[0, i])),
                "was_off_since": _iso(float(st.was_off_since[0, i])),
                "off_total_s": float(st.off_total_s[0, i]),
                "learnt_w": _opt_float(float(self._learnt_w[i])),
                "run": run,
            }
        for socket_id, name in self._orphans.items():
            sockets[socket_id] = {"name": name, "held": True, "held_cause": "OVER_LIMIT"}
        return {
            "version": STATE_VERSION,
            "mode": self._mode.value,
            "demand_response": None
            if dr is None
            else {
                "expires_at": dr.expires_at.isoformat(),
                "level": dr.level,
                "limit_w": dr.limit_w,
                "source": dr.source,
            },
            "last_step_at": _iso(float(st.last_step_at[0])),
            "last_action_at": _iso(float(st.last_action_at[0])),
            "over_since": _iso(float(st.over_since[0])),
            "restore_all_at": None if self._restore_all_at is None else _iso(self._restore_all_at),
            "restore_all_done": self._restore_all_done,
            "sockets": sockets,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        sockets: Sequence[SocketConfig],
        limits: LimitStack,
        settings: DlmSettings | None = None,
    ) -> DlmEngine:
        """Rebuild an engine from `to_dict` output and the (possibly changed) configuration.

        Sockets held off before the restart stay known: each comes back by the usual rules
        (a yellow one at the latest when its comfort bound runs out, counted from when it was
        switched off, not from the restart), and one that is no longer configured is switched
        back on at the first step.
        """
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported DLM state version {data.get('version')!r}")
        dr_data = data.get("demand_response")
        if dr_data is not None:
            limits = replace(
                limits,
                demand_response=DemandResponse(
                    expires_at=datetime.fromisoformat(dr_data["expires_at"]),
                    level=int(dr_data["level"]),
                    limit_w=None if dr_data["limit_w"] is None else float(dr_data["limit_w"]),
                    source=str(dr_data["source"]),
                ),
            )
        engine = cls(sockets, limits, settings, mode=EngineMode(data["mode"]))
        st = engine._state
        st.last_step_at[0] = _from_iso(data.get("last_step_at"), math.nan)
        st.last_action_at[0] = _from_iso(data.get("last_action_at"), -math.inf)
        st.over_since[0] = _from_iso(data.get("over_since"), math.nan)
        restore_at = _from_iso(data.get("restore_all_at"), math.nan)
        if math.isfinite(restore_at):
            engine._restore_all_at = restore_at
            engine._restore_all_done = bool(data.get("restore_all_done", False))
        saved: Mapping[str, Any] = data.get("sockets", {})
        for socket_id, entry in saved.items():
            i = engine._index.get(socket_id)
            if i is None:
                if entry.get("held"):
                    engine._orphans[socket_id] = str(entry.get("name", socket_id))
                continue
            held = bool(entry.get("held", False))
            st.held[0, i] = held
            st.held_cause[0, i] = ShedCause[entry.get("held_cause", "NONE")].value
            st.off_since[0, i] = _from_iso(entry.get("off_since"), math.nan)
            st.on_since[0, i] = _from_iso(entry.get("on_since"), -math.inf)
            st.was_off_since[0, i] = _from_iso(entry.get("was_off_since"), math.nan)
            st.off_total_s[0, i] = float(entry.get("off_total_s", 0.0))
            if held and math.isnan(st.off_since[0, i]):
                # Without a start time a held socket would never reach its comfort bound; from
                # the beginning of time, it reaches it at the first step.
                st.off_since[0, i] = -math.inf
            learnt = entry.get("learnt_w")
            engine._learnt_w[i] = math.nan if learnt is None else float(learnt)
            run = entry.get("run")
            if run and engine._sockets[i].colour is SocketColour.GREEN:
                st.job_active[0, i] = True
                st.job_started[0, i] = bool(run["started"])
                st.job_deadline[0, i] = _from_iso(run["deadline"], math.nan)
                for key, array in (
                    ("remaining_s", st.job_remaining_s),
                    ("remaining_wh", st.job_remaining_wh),
                ):
                    value = run[key]
                    array[0, i] = math.nan if value is None else float(value)
        return engine
