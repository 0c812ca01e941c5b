"""Properties that must hold for any household and any power trace."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dlm import (
    DemandResponse,
    DlmEngine,
    LimitStack,
    SocketAction,
    SocketColour,
    SocketConfig,
)

from .house import SimulatedHouse

STEP_S = 60.0


@st.composite
def socket_sets(draw: st.DrawFn, colours: list[SocketColour] | None = None) -> list[SocketConfig]:
    count = draw(st.integers(min_value=1, max_value=8))
    sockets = []
    for i in range(count):
        colour = draw(st.sampled_from(colours or list(SocketColour)))
        yellow = colour is SocketColour.YELLOW
        sockets.append(
            SocketConfig(
                socket_id=f"s{i}",
                name=f"Socket {i}",
                colour=colour,
                power_w=draw(st.floats(min_value=50.0, max_value=8000.0)),
                max_off_s=draw(st.sampled_from([420.0, 600.0, 900.0])) if yellow else None,
                min_on_s=draw(st.sampled_from([0.0, 60.0, 300.0, 600.0])),
                priority=draw(st.integers(min_value=0, max_value=3)),
            )
        )
    return sockets


traces = st.lists(st.floats(min_value=0.0, max_value=15_000.0), min_size=10, max_size=90)
limits = st.floats(min_value=1000.0, max_value=15_000.0)


@settings(max_examples=60, deadline=None)
@given(
    sockets=socket_sets(),
    limit=limits,
    trace=traces,
    stale=st.sets(st.integers(min_value=0, max_value=89), max_size=20),
    dr=st.none() | st.tuples(st.integers(0, 60), st.integers(1, 3), st.integers(1, 40)),
    restart_at=st.none() | st.integers(min_value=0, max_value=89),
)
def test_red_never_switched_and_yellow_never_off_beyond_its_maximum(
    *,
    sockets: list[SocketConfig],
    limit: float,
    trace: list[float],
    stale: set[int],
    dr: tuple[int, int, int] | None,
    restart_at: int | None,
) -> None:
    stack = LimitStack(household_limit_w=limit)
    h = SimulatedHouse(DlmEngine(sockets, stack), {s.socket_id: s.power_w or 0.0 for s in sockets})
    max_off = {s.socket_id: s.effective_max_off_s for s in sockets}
    # Only the utility's emergency level may keep yellow off beyond its bound (red: never).
    emergency = dr is not None and dr[1] == 3
    for k, base in enumerate(trace):
        if dr is not None and k == dr[0]:
            h.engine.impose_dr(
                DemandResponse(expires_at=h.now + timedelta(minutes=dr[2]), level=dr[1])
            )
        if k == restart_at:
            saved = json.loads(json.dumps(h.engine.to_dict()))
            h.engine = DlmEngine.from_dict(saved, sockets, stack)
        h.step(STEP_S, base_w=base, reading=None if k in stale else True)
        for config in sockets:
            if config.colour is SocketColour.RED:
                assert h.on[config.socket_id]
            if config.colour is SocketColour.YELLOW and not emergency:
                assert h.off_for(config.socket_id) <= max_off[config.socket_id]
    red = {s.socket_id for s in sockets if s.colour is SocketColour.RED}
    assert not [d for d in h.decisions if d.socket_id in red]


@settings(max_examples=60, deadline=None)
@given(sockets=socket_sets([SocketColour.RED, SocketColour.GREEN]), limit=limits, base=limits)
def test_a_steady_house_settles_without_flapping(
    sockets: list[SocketConfig], limit: float, base: float
) -> None:
    h = SimulatedHouse(
        DlmEngine(sockets, LimitStack(household_limit_w=limit)),
        {s.socket_id: s.power_w or 0.0 for s in sockets},
        base_w=base,
    )
    for _ in range(40):
        h.step(STEP_S)
    per_socket = Counter(d.socket_id for d in h.decisions)
    # Shed at most once and restored at most once: hysteresis leaves no room for a loop.
    assert all(count <= 2 for count in per_socket.values())
    offs = [d for d in h.decisions if d.action is SocketAction.SWITCH_OFF]
    assert all(d.at == h.decisions[0].at for d in offs)


@settings(max_examples=40, deadline=None)
@given(sockets=socket_sets(), limit=limits, trace=traces)
def test_saved_state_is_plain_json_and_restores_to_the_same_state(
    sockets: list[SocketConfig], limit: float, trace: list[float]
) -> None:
    stack = LimitStack(household_limit_w=limit)
    h = SimulatedHouse(DlmEngine(sockets, stack), {s.socket_id: s.power_w or 0.0 for s in sockets})
    for base in trace:
        h.step(STEP_S, base_w=base)
    saved = h.engine.to_dict()
    text = json.dumps(saved, allow_nan=False)
    assert DlmEngine.from_dict(json.loads(text), sockets, stack).to_dict() == saved


@settings(max_examples=40, deadline=None)
@given(sockets=socket_sets(), limit=limits, trace=traces)
def test_switching_off_load_management_gives_everything_back_at_once(
    sockets: list[SocketConfig], limit: float, trace: list[float]
) -> None:
    from dlm import EngineMode

    h = SimulatedHouse(
        DlmEngine(sockets, LimitStack(household_limit_w=limit)),
        {s.socket_id: s.power_w or 0.0 for s in sockets},
    )
    for base in trace:
        h.step(STEP_S, base_w=base)
    h.engine.set_mode(EngineMode.OFF)
    h.step(STEP_S)
    assert all(h.on.values())
    assert h.engine.status.held == ()


slow_meters = st.sampled_from([30.0, 60.0, 90.0, 120.0])
step_lengths = st.sampled_from([10.0, 20.0, 30.0, 60.0])


@settings(max_examples=80, deadline=None)
@given(
    sockets=socket_sets([SocketColour.RED, SocketColour.GREEN]),
    limit=limits,
    base=limits,
    meter_s=slow_meters,
    step_s=step_lengths,
)
def test_a_slow_meter_makes_no_second_cut_for_one_excess(
    sockets: list[SocketConfig], limit: float, base: float, meter_s: float, step_s: float
) -> None:
    """The switches report at once, the meter only every so often: steps in between see a
    reading measured before the cut. The house is as steady as in the test above, so it must
    settle as well: one cut, at one moment."""
    h = SimulatedHouse(
        DlmEngine(sockets, LimitStack(household_limit_w=limit)),
        {s.socket_id: s.power_w or 0.0 for s in sockets},
        base_w=base,
        meter_period_s=meter_s,
    )
    for _ in range(40):
        h.step(step_s)
    per_socket = Counter(d.socket_id for d in h.decisions)
    assert all(count <= 2 for count in per_socket.values())
    offs = [d for d in h.decisions if d.action is SocketAction.SWITCH_OFF]
    assert all(d.at == h.decisions[0].at for d in offs)


@settings(max_examples=80, deadline=None)
@given(
    sockets=socket_sets([SocketColour.RED, SocketColour.GREEN]),
    limit=limits,
    high=limits,
    low_share=st.floats(min_value=0.0, max_value=1.0),
    meter_s=slow_meters,
    step_s=step_lengths,
)
def test_a_slow_meter_does_not_refill_one_gap_twice(
    *,
    sockets: list[SocketConfig],
    limit: float,
    high: float,
    low_share: float,
    meter_s: float,
    step_s: float,
) -> None:
    """The house is high, sockets are cut; then it drops and stays low. Sockets come back one
    by one, each only where it fits; a reading from before a socket came back must not make
    room for the next one, or the house ends up over the limit and cuts again."""
    h = SimulatedHouse(
        DlmEngine(sockets, LimitStack(household_limit_w=limit)),
        {s.socket_id: s.power_w or 0.0 for s in sockets},
        base_w=high,
        meter_period_s=meter_s,
    )
    for _ in range(5):
        h.step(step_s)
    dropped_at = h.now
    for _ in range(60):
        h.step(step_s, base_w=high * low_share)
    late_cuts = [
        d for d in h.decisions if d.action is SocketAction.SWITCH_OFF and d.at > dropped_at
    ]
    assert late_cuts == []
