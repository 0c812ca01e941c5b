"""The shedding policy as array arithmetic over houses x sockets.

One implementation serves both the household engine (one row) and the feeder simulation (a row per
participating house), so the figures the simulation reports are the behaviour the engine has.
Arrays are (houses, sockets) unless noted; per-socket settings may be (sockets,) and broadcast.
Time is in seconds on any monotonic scale the caller chooses (the engine uses POSIX time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .model import ShedCause, SocketColour

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]
IntArray = npt.NDArray[np.intp]

_RED = np.int8(SocketColour.RED)
_YELLOW = np.int8(SocketColour.YELLOW)
_GREEN = np.int8(SocketColour.GREEN)
_SHED_CAUSES = (ShedCause.OVER_LIMIT, ShedCause.DEMAND_RESPONSE, ShedCause.DR_EMERGENCY)


@dataclass(frozen=True, slots=True)
class PolicySettings:
    colour: Int8Array
    max_off_s: FloatArray
    min_on_s: FloatArray
    priority: FloatArray
    night_start_delay_s: FloatArray
    restore_fraction: float = 0.9
    """A socket comes back only if the house stays below this share of the limit with it on."""
    settle_s: float = 60.0
    """Between two restores, so the meter shows the effect of one before the next."""
    must_run_slack_s: float = 600.0
    """A green run whose spare time falls to this is protected until it has finished."""
    idle_w: float = 5.0
    """Below this a socket draws nothing worth switching off."""
    override_grace_s: float = 120.0
    """A held socket seen on for longer than this was switched on by someone: let it be."""
    max_gap_s: float = 300.0
    """Run progress is not credited for longer than this across a gap in the steps (a restart)."""


@dataclass(slots=True)
class PolicyState:
    held: BoolArray
    held_cause: Int8Array
    off_since: FloatArray
    cut_w: FloatArray
    """What a held socket drew when the engine switched it off (NaN if not known)."""
    on_since: FloatArray
    was_off_since: FloatArray
    """For a socket the engine switched back on while it was seen off: since when it had been
    off. A reading measured in between does not include its draw. NaN otherwise."""
    off_total_s: FloatArray
    job_active: BoolArray
    job_started: BoolArray
    job_remaining_s: FloatArray
    job_remaining_wh: FloatArray
    job_deadline: FloatArray
    last_action_at: FloatArray
    over_since: FloatArray
    last_step_at: FloatArray

    @classmethod
    def empty(cls, houses: int, sockets: int) -> PolicyState:
        shape = (houses, sockets)
        return cls(
            held=np.zeros(shape, dtype=np.bool_),
            held_cause=np.zeros(shape, dtype=np.int8),
            off_since=np.full(shape, np.nan),
            cut_w=np.full(shape, np.nan),
            on_since=np.full(shape, -np.inf),
            was_off_since=np.full(shape, np.nan),
            off_total_s=np.zeros(shape),
            job_active=np.zeros(shape, dtype=np.bool_),
            job_started=np.zeros(shape, dtype=np.bool_),
            job_remaining_s=np.full(shape, np.nan),
            job_remaining_wh=np.full(shape, np.nan),
            job_deadline=np.full(shape, np.nan),
            last_action_at=np.full(houses, -np.inf),
            over_since=np.full(houses, np.nan),
            last_step_at=np.full(houses, np.nan),
        )


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    now: float
    power_w: FloatArray
    """(houses,) total draw; NaN when the reading is stale."""
    limit_w: FloatArray
    """(houses,) the limit in force; inf when none."""
    dr_level: Int8Array
    """(houses,) 0..3."""
    night_elapsed_s: FloatArray
    """(houses,) seconds since the cheap window in force opened; NaN outside one."""
    next_night_in_s: FloatArray
    """(houses,) seconds until the next cheap window opens; inf when there is none."""
    observed_on: BoolArray
    socket_power_w: FloatArray
    """Best estimate of each socket's draw when on: measured if on, else learnt or configured;
    NaN when nothing is known."""
    run_power_w: FloatArray
    """What each socket draws while its appliance runs (learnt or configured); NaN if unknown.
    Differs from `socket_power_w` for a socket that is on but idle, or off."""
    running: BoolArray
    """The appliance behind the socket is drawing power (credits green run progress)."""
    enabled: bool = True
    detect_overrides: bool = True
    measured_at: FloatArray | None = None
    """(houses,) when `power_w` was measured, on the scale of `now`; None: at `now`.

    A socket switched off at or after this time still draws in the reading, and one switched
    back on at or after it, having been off when the reading was measured, does not: the
    engine corrects the reading for both, so a meter that reports later than the switches
    never makes it cut twice for one excess, nor restore twice into one gap."""


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    switch_off: BoolArray
    switch_on: BoolArray
    cause: Int8Array
    effective_w: FloatArray
    """(houses,) the draw the engine reckons with: the reading corrected for commands in flight."""
    over_limit: BoolArray
    unmet: BoolArray
    """(houses,) over the limit with nothing left that may be switched off."""


def request_runs(
    state: PolicyState,
    houses: IntArray,
    sockets: IntArray,
    *,
    deadline: FloatArray,
    run_s: FloatArray,
    energy_wh: FloatArray,
) -> None:
    """Register green runs; a run on a socket that already has one is merged into it.

    `run_s` or `energy_wh` is NaN where the other one is given.
    """
    active = state.job_active[houses, sockets]
    old_s = np.where(active, np.nan_to_num(state.job_remaining_s[houses, sockets]), 0.0)
    old_wh = np.where(active, np.nan_to_num(state.job_remaining_wh[houses, sockets]), 0.0)
    by_time = np.isfinite(run_s)
    state.job_remaining_s[houses, sockets] = np.where(by_time, old_s + run_s, np.nan)
    state.job_remaining_wh[houses, sockets] = np.where(by_time, np.nan, old_wh + energy_wh)
    old_deadline = np.where(active, state.job_deadline[houses, sockets], -np.inf)
    state.job_deadline[houses, sockets] = np.maximum(old_deadline, deadline)
    state.job_active[houses, sockets] = True
    state.job_started[houses, sockets] &= active


def cancel_runs(state: PolicyState, houses: IntArray, sockets: IntArray) -> None:
    state.job_active[houses, sockets] = False
    state.job_started[houses, sockets] = False
    state.job_remaining_s[houses, sockets] = np.nan
    state.job_remaining_wh[houses, sockets] = np.nan
    state.job_deadline[houses, sockets] = np.nan


def _hold(
    st: PolicyState,
    mask: BoolArray,
    *,
    why: ShedCause | Int8Array,
    now: float,
    draw_w: FloatArray,
    switch_off: BoolArray,
    cause: Int8Array,
) -> None:
    st.held |= mask
    st.off_since[mask] = now
    st.cut_w[mask] = draw_w[mask]
    st.was_off_since[mask] = np.nan
    code = np.int8(why) if isinstance(why, ShedCause) else why[mask]
    st.held_cause[mask] = code
    switch_off |= mask
    cause[mask] = code


def _release(
    st: PolicyState,
    mask: BoolArray,
    *,
    why: ShedCause | Int8Array,
    now: float,
    seen_on: BoolArray,
    switch_on: BoolArray,
    cause: Int8Array,
) -> None:
    st.held &= ~mask
    # Seen on when given back (advise mode, a hand, a command in flight): it is in the readings.
    st.was_off_since[mask] = np.where(seen_on[mask], np.nan, st.off_since[mask])
    st.off_since[mask] = np.nan
    st.cut_w[mask] = np.nan
    st.on_since[mask] = now
    st.held_cause[mask] = np.int8(ShedCause.NONE)
    switch_on |= mask
    cause[mask] = np.int8(why) if isinstance(why, ShedCause) else why[mask]


def _zero_nan(values: FloatArray) -> FloatArray:
    # np.nan_to_num also scans for infinities; this runs several times per step.
    return np.where(np.isnan(values), 0.0, values)


def policy_step(cfg: PolicySettings, st: PolicyState, x: PolicyInputs) -> PolicyOutcome:
    """Advance the policy to `x.now`, mutating `st`, and say which sockets to switch."""
    with np.errstate(invalid="ignore"):
        return _step(cfg, st, x)


def _step(cfg: PolicySettings, st: PolicyState, x: PolicyInputs) -> PolicyOutcome:
    now = x.now
    houses, sockets = st.held.shape
    shape = (houses, sockets)
    # Colour masks stay (sockets,)-shaped where the settings are; broadcasting widens them.
    red = cfg.colour == _RED
    yellow = cfg.colour == _YELLOW
    green = cfg.colour == _GREEN
    est = x.socket_power_w
    est0 = _zero_nan(est)
    run_w = x.run_power_w
    run0 = _zero_nan(run_w)

    gap = np.where(np.isnan(st.last_step_at), 0.0, now - st.last_step_at)
    dt = np.clip(gap, 0.0, cfg.max_gap_s)[:, None]
    st.last_step_at[:] = now

    # Rotation key: the yellow socket that has been cut least so far goes first.
    cut = st.held & (st.held_cause >= _SHED_CAUSES[0]) & (st.held_cause <= _SHED_CAUSES[-1])
    st.off_total_s += np.where(cut, dt, 0.0)

    progressing = st.job_active & x.running & ~st.held
    st.job_remaining_s -= np.where(progressing, dt, 0.0)
    st.job_remaining_wh -= np.where(progressing, est0 * dt / 3600.0, 0.0)
    finished = st.job_active & (
        (st.job_remaining_s <= 0.0) | (st.job_remaining_wh <= 0.0) | (now >= st.job_deadline)
    )
    if finished.any():
        cancel_runs(st, *np.nonzero(finished))

    rem_by_energy = np.divide(
        st.job_remaining_wh * 3600.0, run_w, out=np.full(shape, np.inf), where=run_w > 0.0
    )
    rem_t = np.where(np.isfinite(st.job_remaining_s), st.job_remaining_s, rem_by_energy)
    slack = st.job_deadline - now - rem_t
    must_run = st.job_active & (slack <= cfg.must_run_slack_s)

    delay = cfg.night_start_delay_s
    night_elapsed = x.night_elapsed_s[:, None]
    in_window = np.isfinite(night_elapsed)
    night_started = in_window & (night_elapsed >= delay)
    start_in = np.where(in_window, delay - night_elapsed, x.next_night_in_s[:, None] + delay)
    waiting = (
        st.job_active
        & ~st.job_started
        & ~must_run
        & ~night_started
        & (now + start_in + rem_t <= st.job_deadline)
    )
    # A run counts as started once it draws while nothing defers it; an appliance that starts
    # by itself the moment it is plugged in has not "started" in this sense: it gets deferred.
    st.job_started |= progressing & ~waiting

    dr = x.dr_level[:, None]
    emergency = dr >= 3
    dr_blocks = emergency | (green & (dr >= 1)) | (yellow & (dr >= 2))

    switch_off = np.zeros(shape, dtype=np.bool_)
    switch_on = np.zeros(shape, dtype=np.bool_)
    cause = np.zeros(shape, dtype=np.int8)
    no_house = np.zeros(houses, dtype=np.bool_)

    if x.enabled and x.detect_overrides:
        by_hand = st.held & x.observed_on & (now - st.off_since >= cfg.override_grace_s)
        if by_hand.any():
            st.job_started |= by_hand & st.job_active
            _release(
                st,
                by_hand,
                why=ShedCause.TURNED_ON_BY_HAND,
                now=now,
                seen_on=x.observed_on,
                switch_on=switch_on,
                cause=cause,
            )

    if not x.enabled:
        _release(
            st,
            st.held.copy(),
            why=ShedCause.MODE_OFF,
            now=now,
            seen_on=x.observed_on,
            switch_on=switch_on,
            cause=cause,
        )
        st.over_since[:] = np.nan
        acted = switch_on.any(axis=1)
        st.last_action_at[acted] = now
        return PolicyOutcome(switch_off, switch_on, cause, _zero_nan(x.power_w), no_house, no_house)

    max_off = cfg.max_off_s
    forced_why = np.full(shape, np.int8(ShedCause.NONE), dtype=np.int8)
    # A deferred run is not "off too long": its deadline, not a comfort bound, protects it.
    too_long = (
        st.held & (now - st.off_since >= max_off) & (st.held_cause != ShedCause.WAIT_FOR_NIGHT)
    )
    forced_why[too_long & ~emergency] = ShedCause.MAX_OFF_REACHED
    forced_why[st.held & ~emergency & must_run] = ShedCause.DEADLINE
    forced_why[st.held & red] = ShedCause.NOW_RED
    forced = forced_why != ShedCause.NONE
    if forced.any():
        st.job_started |= forced & st.job_active
        _release(
            st,
            forced,
            why=forced_why,
            now=now,
            seen_on=x.observed_on,
            switch_on=switch_on,
            cause=cause,
        )
        st.last_action_at[forced.any(axis=1)] = now

    reading_ok = np.isfinite(x.power_w)
    power = _zero_nan(x.power_w)
    # The effective power: the reading corrected for what changed since it was measured. A
    # held socket still draws in it if it is seen on (a command in flight, advise mode) or was
    # switched off no earlier than the reading was measured (its switch reported before the
    # meter did). A socket switched back on while off is missing from a reading measured while
    # it was off, up to and including the moment it was switched on. Without a reading, the
    # moment is now: only what this step gives back is added.
    measured = np.full(houses, now) if x.measured_at is None else x.measured_at
    at = np.where(np.isnan(measured), now, measured)[:, None]
    in_reading = st.held & (x.observed_on | (st.off_since >= at))
    cut_w = np.where(x.observed_on | np.isnan(st.cut_w), est0, st.cut_w)
    missing = ~st.held & (st.was_off_since < at) & (at <= st.on_since)
    p_eff = (
        power
        - np.where(in_reading, cut_w, 0.0).sum(axis=1)
        + np.where(missing, run0, 0.0).sum(axis=1)
    )

    on_now = ~st.held & x.observed_on & ~switch_on
    worth = (est > cfg.idle_w) | np.isnan(est)
    min_on_ok = now - st.on_since >= cfg.min_on_s
    protected = red | (must_run & ~emergency)

    dr_shed = (
        on_now
        & worth
        & ~red
        & (emergency | (green & (dr >= 1) & ~must_run) | (yellow & (dr >= 2) & min_on_ok))
    )
    if dr_shed.any():
        why = np.where(
            np.broadcast_to(emergency, shape), ShedCause.DR_EMERGENCY, ShedCause.DEMAND_RESPONSE
        )
        _hold(
            st,
            dr_shed,
            why=why.astype(np.int8),
            now=now,
            draw_w=est,
            switch_off=switch_off,
            cause=cause,
        )
        p_eff -= np.where(dr_shed, est0, 0.0).sum(axis=1)

    wait_hold = ~st.held & x.observed_on & ~switch_on & green & waiting
    if wait_hold.any():
        _hold(
            st,
            wait_hold,
            why=ShedCause.WAIT_FOR_NIGHT,
            now=now,
            draw_w=est,
            switch_off=switch_off,
            cause=cause,
        )
        p_eff -= np.where(wait_hold, est0, 0.0).sum(axis=1)

    limit = x.limit_w
    over = reading_ok & (p_eff > limit)
    st.over_since = np.where(
        over,
        np.where(np.isnan(st.over_since), now, st.over_since),
        np.where(reading_ok, np.nan, st.over_since),
    )
    effective = p_eff.copy()

    candidates = (
        ~st.held
        & x.observed_on
        & ~switch_on
        & worth
        & ~protected
        & (green | (yellow & min_on_ok))
        & over[:, None]
    )
    limit_shed = np.zeros(shape, dtype=np.bool_)
    unmet = no_house
    if candidates.any():
        group = np.where(candidates, np.where(green, 0, 1), 2)
        primary = np.where(green, cfg.priority, st.off_total_s)
        order = np.lexsort((np.broadcast_to(cfg.priority, shape), primary, group), axis=-1)
        c_sorted = np.take_along_axis(candidates, order, axis=1)
        p_sorted = np.where(
            c_sorted, np.take_along_axis(np.where(np.isnan(est), np.inf, est), order, axis=1), 0.0
        )
        before = np.zeros(shape)
        before[:, 1:] = np.cumsum(p_sorted, axis=1)[:, :-1]
        excess = (p_eff - limit)[:, None]
        pick = c_sorted & (before < excess)
        np.put_along_axis(limit_shed, order, pick, axis=1)
        _hold(
            st,
            limit_shed,
            why=ShedCause.OVER_LIMIT,
            now=now,
            draw_w=est,
            switch_off=switch_off,
            cause=cause,
        )
        p_eff -= np.where(limit_shed, est0, 0.0).sum(axis=1)
    if over.any():
        unknown_cut = (limit_shed & np.isnan(est)).any(axis=1)
        unmet = over & (p_eff > limit) & ~unknown_cut

    shed_now = (dr_shed | limit_shed).any(axis=1)
    house_ok = ~shed_now & ~over & (now - st.last_action_at >= cfg.settle_s)
    restorable = st.held & ~switch_off & ~red & ~dr_blocks & ~(green & waiting)
    ceiling = np.where(reading_ok, cfg.restore_fraction * limit, np.inf)
    fits = p_eff[:, None] + run0 <= ceiling[:, None]
    ok = restorable & fits & house_ok[:, None]
    if ok.any():
        group = np.where(ok, np.where(yellow, 0, 1), 2)
        back_first = np.where(green, -np.broadcast_to(cfg.priority, shape), 0.0)
        order = np.lexsort((st.off_since, back_first, group), axis=-1)
        first = order[:, 0]
        rows = np.nonzero(ok[np.arange(houses), first])[0]
        chosen = np.zeros(shape, dtype=np.bool_)
        chosen[rows, first[rows]] = True
        why_back = np.where(
            ~reading_ok[:, None],
            ShedCause.READING_STALE,
            np.where(
                green & st.job_active & night_started,
                ShedCause.NIGHT_TARIFF,
                np.where(
                    st.held_cause == ShedCause.WAIT_FOR_NIGHT,
                    ShedCause.RUN_NOW,
                    ShedCause.ROOM_AGAIN,
                ),
            ),
        ).astype(np.int8)
        st.job_started |= chosen & st.job_active
        _release(
            st,
            chosen,
            why=why_back,
            now=now,
            seen_on=x.observed_on,
            switch_on=switch_on,
            cause=cause,
        )

    acted = (switch_on | switch_off).any(axis=1)
    st.last_action_at[acted] = now
    return PolicyOutcome(switch_off, switch_on, cause, effective, over, unmet)
