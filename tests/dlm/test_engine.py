"""The household engine, through what a household would notice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import time as wall_time
from typing import Any

import pytest

from dlm import (
    DR_SOURCE_HOUSEHOLD,
    DR_SOURCE_UTILITY,
    DemandResponse,
    DlmEngine,
    DlmSettings,
    EngineMode,
    GreenRun,
    LimitSource,
    LimitStack,
    PowerReading,
    ShedCause,
    SocketAction,
    SocketColour,
    SocketConfig,
    SocketObservation,
    TariffWindow,
)

from .house import START, SimulatedHouse

RED, YELLOW, GREEN = SocketColour.RED, SocketColour.YELLOW, SocketColour.GREEN
NIGHT = TariffWindow("night", wall_time(23), wall_time(7), cheap=True)


def socket(
    socket_id: str, colour: SocketColour, power_w: float | None, **kwargs: Any
) -> SocketConfig:
    return SocketConfig(
        socket_id, socket_id.replace("_", " ").capitalize(), colour, power_w, **kwargs
    )


def house(
    sockets: list[SocketConfig],
    limit_w: float = 7000.0,
    base_w: float = 500.0,
    settings: DlmSettings | None = None,
    **limits: object,
) -> SimulatedHouse:
    stack = LimitStack(household_limit_w=limit_w, **limits)  # type: ignore[arg-type]
    engine = DlmEngine(sockets, stack, settings)
    draws = {s.socket_id: s.power_w or 0.0 for s in sockets}
    return SimulatedHouse(engine, draws, base_w)


def offs(decisions: list) -> list[str]:  # type: ignore[type-arg]
    return [d.socket_id for d in decisions if d.action is SocketAction.SWITCH_OFF]


def ons(decisions: list) -> list[str]:  # type: ignore[type-arg]
    return [d.socket_id for d in decisions if d.action is SocketAction.SWITCH_ON]


def test_red_is_never_switched_even_when_nothing_else_helps() -> None:
    h = house([socket("computer", RED, 400.0), socket("fridge", YELLOW, 150.0)], base_w=8000.0)
    for _ in range(30):
        h.step()
    assert "computer" not in offs(h.decisions)
    assert h.is_on("computer")
    assert h.engine.status.unmet


def test_green_goes_before_yellow_and_only_as_much_as_needed() -> None:
    h = house(
        [
            socket("boiler", YELLOW, 2000.0),
            socket("dishwasher", GREEN, 2000.0, priority=1),
            socket("ev_charger", GREEN, 3500.0, priority=0),
        ]
    )
    # 0.5 + 2 + 2 + 3.5 = 8 kW against 7 kW: one green socket covers the 1 kW excess.
    assert offs(h.step()) == ["ev_charger"]
    assert h.total_w == pytest.approx(4500.0)
    for _ in range(10):
        assert h.step() == []


def test_the_reason_says_what_why_since_when_and_when_back() -> None:
    h = house([socket("ev_charger", GREEN, 1600.0)], base_w=6300.0)
    # Over the limit from 18:02, when the washing ends and the oven starts.
    h.step(seconds=60, base_w=4000.0)
    (decision,) = h.step(seconds=60, base_w=6300.0)
    assert decision.reason == (
        "Ev charger off: 7.9 kW > 7.0 kW limit since 18:02; back on when below 4.7 kW"
    )
    assert decision.cause is ShedCause.OVER_LIMIT
    assert decision.total_w == pytest.approx(7900.0)
    assert decision.limit_w == pytest.approx(7000.0)


def test_a_yellow_reason_names_the_latest_time_it_comes_back() -> None:
    h = house([socket("boiler", YELLOW, 2000.0, max_off_s=600.0)], base_w=5500.0)
    (decision,) = h.step()
    assert decision.reason == (
        "Boiler off: 7.5 kW > 7.0 kW limit since 18:01; "
        "back on when below 4.3 kW, at the latest at 18:11"
    )


def test_yellow_is_never_off_longer_than_its_maximum() -> None:
    h = house([socket("boiler", YELLOW, 2000.0, max_off_s=420.0, min_on_s=300.0)], base_w=6000.0)
    for _ in range(120):
        h.step()
        assert h.off_for("boiler") <= 420.0
    periods = h.off_periods["boiler"]
    assert len(periods) >= 5
    assert max(periods) == 420.0
    back = [d for d in h.decisions if d.action is SocketAction.SWITCH_ON]
    assert all(d.cause is ShedCause.MAX_OFF_REACHED for d in back)
    assert back[0].reason == "Boiler back on: it has been off 7 min, the most it may be"


def test_yellow_gets_its_minimum_on_time_between_sheds() -> None:
    h = house([socket("boiler", YELLOW, 2000.0, max_off_s=420.0, min_on_s=300.0)], base_w=6000.0)
    for _ in range(120):
        h.step()
    on_at: datetime | None = None
    for d in h.decisions:
        if d.action is SocketAction.SWITCH_ON:
            on_at = d.at
        elif on_at is not None:
            assert (d.at - on_at).total_seconds() >= 300.0


def test_cuts_rotate_among_yellow_sockets() -> None:
    sockets = [socket(f"heater_{i}", YELLOW, 1000.0, min_on_s=60.0) for i in range(3)]
    h = house(sockets, base_w=5100.0)  # always 1.1 kW too much with all three on
    for _ in range(240):
        h.step()
    totals = {s.socket_id: sum(h.off_periods.get(s.socket_id, [])) for s in sockets}
    assert all(total > 0 for total in totals.values())
    assert max(totals.values()) - min(totals.values()) <= 15 * 60


def test_restore_goes_in_reverse_order_one_step_at_a_time_after_settling() -> None:
    h = house([socket("ev_charger", GREEN, 3000.0), socket("boiler", YELLOW, 2000.0)])
    assert sorted(offs(h.step(base_w=6000.0))) == ["boiler", "ev_charger"]
    h.step(seconds=30, base_w=1000.0)  # settle time (60 s) not over: nothing comes back yet
    assert h.decisions[-1].action is SocketAction.SWITCH_OFF
    assert ons(h.step(seconds=30)) == ["boiler"]  # yellow was cut last, comes back first
    assert ons(h.step(seconds=30)) == []  # one step at a time
    back = h.step(seconds=30)
    assert ons(back) == ["ev_charger"]
    assert back[0].reason == (
        "Ev charger back on: 3.0 kW now, room for its 3.0 kW under the 7.0 kW limit"
    )


def test_hysteresis_keeps_a_socket_off_until_there_is_room_below_the_restore_line() -> None:
    h = house([socket("dishwasher", GREEN, 2000.0)])
    h.step(base_w=5500.0)
    assert not h.is_on("dishwasher")
    # Alternating just below the limit would make a 90 %/80 % rule flap; here nothing moves
    # until the house with the dishwasher back on fits under 90 % of the limit.
    for base in [5200.0, 5400.0] * 10 + [4400.0]:
        assert h.step(base_w=base) == []
    assert ons(h.step(base_w=4300.0)) == ["dishwasher"]
    for base in [4600.0, 4900.0] * 10:
        assert h.step(base_w=base) == []


def test_commands_in_flight_are_not_shed_twice() -> None:
    h = house([socket("ev_charger", GREEN, 3000.0), socket("dishwasher", GREEN, 2000.0)])
    stale_total = 9000.0  # a meter that has not caught up with the first command yet
    first = h.engine.step(START, PowerReading(stale_total, START), h.observations())
    assert offs(first) == ["ev_charger"]
    later = START + timedelta(seconds=10)
    # The relay has not reported yet either: both still look on, total unchanged.
    second = h.engine.step(later, PowerReading(stale_total, later), h.observations())
    assert second == []


def test_the_limit_in_force_is_the_lowest_of_the_stack() -> None:
    peak = TariffWindow("peak", wall_time(17), wall_time(21), limit_w=6000.0)
    expires = START + timedelta(minutes=30)
    stack = LimitStack(
        household_limit_w=9000.0,
        contract_power_w=8000.0,
        tariff_windows=(peak,),
        demand_response=DemandResponse(expires_at=expires, limit_w=5000.0),
    )
    assert stack.in_force(START).source is LimitSource.DEMAND_RESPONSE
    assert stack.in_force(START).watts == 5000.0
    assert stack.in_force(expires).source is LimitSource.TARIFF_WINDOW
    late = START.replace(hour=22)
    assert stack.in_force(late).source is LimitSource.CONTRACT
    assert (
        LimitStack(household_limit_w=7000.0, contract_power_w=8000.0).in_force(late).watts == 7000
    )
    assert LimitStack().in_force(late).source is LimitSource.NONE


def test_a_window_past_midnight_contains_both_sides() -> None:
    assert NIGHT.contains(START.replace(hour=23, minute=30))
    assert NIGHT.contains(START.replace(hour=3))
    assert not NIGHT.contains(START.replace(hour=7))
    assert NIGHT.current_start(START.replace(hour=3)) == START.replace(day=12, hour=23)


def test_dr_level_one_turns_green_off_and_its_expiry_brings_it_back() -> None:
    h = house([socket("dishwasher", GREEN, 2000.0), socket("boiler", YELLOW, 2000.0)])
    until = START + timedelta(minutes=10)
    h.engine.impose_dr(DemandResponse(expires_at=until, level=1))
    (decision,) = h.step()
    assert decision.socket_id == "dishwasher"
    assert decision.cause is ShedCause.DEMAND_RESPONSE
    assert decision.reason == "Dishwasher off: the utility asked for green sockets off until 18:10"
    assert h.is_on("boiler")
    while h.now < until - timedelta(minutes=1):
        assert h.step() == []
    (back,) = h.step()  # 18:10: the request has lapsed
    assert (back.socket_id, back.cause, back.at) == ("dishwasher", ShedCause.ROOM_AGAIN, until)


def test_a_dr_reason_names_who_asked() -> None:
    until = START + timedelta(minutes=10)

    def first_reason(request: DemandResponse, base_w: float = 500.0) -> str:
        h = house(
            [socket("dishwasher", GREEN, 2000.0), socket("boiler", YELLOW, 2000.0)],
            base_w=base_w,
        )
        h.engine.impose_dr(request)
        return h.step()[0].reason

    household, utility = DR_SOURCE_HOUSEHOLD, DR_SOURCE_UTILITY
    assert first_reason(DemandResponse(expires_at=until, level=1, source=household)) == (
        "Dishwasher off: shed now asked for green sockets off until 18:10"
    )
    assert first_reason(DemandResponse(expires_at=until, level=1, source="Stadtwerke")) == (
        "Dishwasher off: Stadtwerke asked for green sockets off until 18:10"
    )
    assert first_reason(DemandResponse(expires_at=until, level=3, source=household)) == (
        "Dishwasher off: shed now asked for everything but red sockets off until 18:10"
    )
    assert first_reason(DemandResponse(expires_at=until, level=3, source=utility)) == (
        "Dishwasher off: utility emergency, only red sockets stay on until 18:10"
    )
    assert first_reason(
        DemandResponse(expires_at=until, limit_w=5000.0, source=utility), base_w=2000.0
    ) == (
        "Dishwasher off: 6.0 kW > 5.0 kW utility limit (until 18:10) since 18:01; "
        "back on when below 2.5 kW"
    )
    assert first_reason(
        DemandResponse(expires_at=until, limit_w=5000.0, source=household), base_w=2000.0
    ).startswith("Dishwasher off: 6.0 kW > 5.0 kW shed now limit (until 18:10)")
    with pytest.raises(ValueError, match="source"):
        DemandResponse(expires_at=until, level=1, source="")


def test_dr_level_two_cuts_yellow_within_its_comfort_bound() -> None:
    h = house([socket("boiler", YELLOW, 2000.0, max_off_s=600.0, min_on_s=120.0)])
    h.engine.impose_dr(DemandResponse(expires_at=START + timedelta(hours=1), level=2))
    for _ in range(60):
        h.step()
        assert h.off_for("boiler") <= 600.0
    assert len(h.off_periods["boiler"]) >= 3


def test_dr_level_three_leaves_only_red_on() -> None:
    h = house(
        [
            socket("computer", RED, 300.0),
            socket("boiler", YELLOW, 2000.0),
            socket("ev_charger", GREEN, 3000.0),
        ],
        base_w=100.0,
    )
    h.engine.impose_dr(DemandResponse(expires_at=START + timedelta(minutes=30), level=3))
    decisions = h.step()
    assert sorted(offs(decisions)) == ["boiler", "ev_charger"]
    assert all(d.cause is ShedCause.DR_EMERGENCY for d in decisions)
    for _ in range(25):
        h.step()
    # The emergency overrides the yellow comfort bound, and red still never moves.
    assert not h.is_on("boiler")
    assert h.is_on("computer")
    for _ in range(10):
        h.step()
    assert h.is_on("boiler") and h.is_on("ev_charger")


def test_stale_reading_sheds_nothing_and_gives_sockets_back_one_at_a_time() -> None:
    h = house(
        [
            socket("ev_charger", GREEN, 3000.0),
            socket("boiler", YELLOW, 2000.0),
            socket("dishwasher", GREEN, 2000.0),
        ]
    )
    h.step(base_w=6000.0)
    assert not any(h.on.values())
    frozen = PowerReading(20_000.0, h.now)  # the sensor dies at its worst moment
    back: list[str] = []
    for _ in range(6):
        decisions = h.step(reading=frozen)
        assert offs(decisions) == []
        back += ons(decisions)
    # 18:01 shed; reading stale after 120 s; then one socket per settle time, yellow first.
    assert back == ["boiler", "ev_charger", "dishwasher"]
    assert all(d.cause is ShedCause.READING_STALE for d in h.decisions[3:])
    assert h.decisions[3].reason == (
        "Boiler back on: no power reading since 18:01, so sockets are given back one at a time"
    )
    assert h.engine.status.reading_stale
    h.step(base_w=6000.0, reading=None)
    assert all(h.on.values())


def test_green_waits_for_the_night_tariff_and_finishes_by_its_deadline() -> None:
    h = house([socket("ev_charger", GREEN, 7400.0)], limit_w=11_000.0, tariff_windows=(NIGHT,))
    deadline = START.replace(day=14, hour=7)
    h.engine.request_run("ev_charger", GreenRun(deadline=deadline, energy_wh=14_800.0))
    (wait,) = h.step()
    assert wait.cause is ShedCause.WAIT_FOR_NIGHT
    assert (
        wait.reason
        == "Ev charger waits for the night tariff: starts at 23:00, done by 07:00 tomorrow"
    )
    started: datetime | None = None
    run_s = 0.0
    while h.now < deadline:
        for d in h.step():
            if d.action is SocketAction.SWITCH_ON:
                started = d.at
                assert d.cause is ShedCause.NIGHT_TARIFF
        if h.is_on("ev_charger") and started is not None and h.now > started:
            run_s += 60.0
    assert started == START.replace(hour=23)
    assert run_s >= 2 * 3600


def test_green_must_run_before_its_deadline_even_over_the_limit() -> None:
    h = house([socket("washing_machine", GREEN, 2000.0)], base_w=6000.0)
    deadline = START + timedelta(hours=2)
    h.engine.request_run("washing_machine", GreenRun(deadline=deadline, run_s=3600.0))
    h.step()
    assert not h.is_on("washing_machine")
    ran = 0.0
    while h.now < deadline:
        h.step()
        if h.is_on("washing_machine"):
            ran += 60.0
            # Protected while it must run: the house is over its limit with nothing to cut.
            assert h.engine.status.unmet or ran > 3600.0
    assert ran >= 3600.0
    must = [d for d in h.decisions if d.cause is ShedCause.DEADLINE]
    assert must[0].reason == "Washing machine on: it must run now to finish by 20:00"
    assert must[0].at <= deadline - timedelta(hours=1)


def test_a_night_start_delay_spreads_a_street_of_chargers() -> None:
    h = house(
        [socket("ev_charger", GREEN, 7400.0, night_start_delay_s=1800.0)],
        limit_w=11_000.0,
        tariff_windows=(NIGHT,),
    )
    h.engine.request_run(
        "ev_charger", GreenRun(deadline=START.replace(day=14, hour=7), run_s=3600.0)
    )
    (wait,) = h.step()
    assert "starts at 23:30" in wait.reason
    while not h.is_on("ev_charger"):
        h.step()
    assert h.now == START.replace(hour=23, minute=30)


def test_advise_mode_explains_once_and_switches_nothing() -> None:
    h = house([socket("ev_charger", GREEN, 3000.0)], base_w=5000.0)
    h.engine.set_mode(EngineMode.ADVISE)
    (advice,) = h.step()
    assert advice.advisory and advice.action is SocketAction.SWITCH_OFF
    for _ in range(10):
        assert h.step() == []
    assert h.is_on("ev_charger")
    assert h.engine.status.held == ("ev_charger",)


def test_switching_dlm_off_gives_every_socket_back() -> None:
    h = house([socket("ev_charger", GREEN, 3000.0), socket("boiler", YELLOW, 2000.0)])
    h.step(base_w=6000.0)
    h.engine.set_mode(EngineMode.OFF)
    decisions = h.step()
    assert sorted(ons(decisions)) == ["boiler", "ev_charger"]
    assert decisions[0].reason.endswith("back on: load management is switched off")
    for _ in range(5):
        assert h.step(base_w=9000.0) == []


def test_a_socket_switched_on_by_hand_is_left_alone() -> None:
    h = house([socket("ev_charger", GREEN, 3000.0)], base_w=5000.0)
    h.step()
    h.on["ev_charger"] = True  # someone presses the button on the plug
    h.step()
    (released,) = h.step(seconds=120)
    assert released.cause is ShedCause.TURNED_ON_BY_HAND
    assert released.reason == "Ev charger was switched on by hand: load management leaves it on"
    assert h.engine.status.held == ()


def test_power_is_learnt_from_measurements_when_not_configured() -> None:
    h = house([socket("heater", YELLOW, None)], base_w=6000.0)
    h.draws = {"heater": 2000.0}
    h.step()
    assert not h.is_on("heater")
    h.step(base_w=4500.0)  # 4.5 + learnt 2.0 = 6.5 kW > 6.3 kW: not yet
    assert not h.is_on("heater")
    assert ons(h.step(base_w=4200.0)) == ["heater"]


def test_restart_in_the_middle_of_a_shed_forgets_no_socket() -> None:
    sockets = [
        socket("ev_charger", GREEN, 3000.0),
        socket("boiler", YELLOW, 2000.0),
        socket("old_heater", YELLOW, 1000.0),
    ]
    h = house(sockets, base_w=7000.0)
    h.step()
    assert h.engine.status.held == ("ev_charger", "boiler", "old_heater")
    saved = json.loads(json.dumps(h.engine.to_dict()))

    # Home Assistant restarts 20 minutes later; meanwhile the old heater was unconfigured.
    kept = sockets[:2]
    engine = DlmEngine.from_dict(saved, kept, LimitStack(household_limit_w=7000.0))
    assert engine.status.held == ()  # nothing known until the first step...
    restarted = SimulatedHouse(
        engine, h.draws, base_w=0.0, now=h.now + timedelta(minutes=20), on=dict(h.on)
    )
    first = restarted.step(seconds=0)
    causes = {d.socket_id: d.cause for d in first}
    assert causes == {
        "boiler": ShedCause.MAX_OFF_REACHED,  # its 15 min ran out during the restart
        "old_heater": ShedCause.NO_LONGER_MANAGED,
    }
    assert ons(restarted.step()) == ["ev_charger"]


def test_state_round_trips_through_json() -> None:
    h = house([socket("ev_charger", GREEN, 3000.0), socket("boiler", YELLOW, 2000.0)])
    h.engine.impose_dr(DemandResponse(expires_at=START + timedelta(hours=1), level=1))
    h.engine.request_run("ev_charger", GreenRun(deadline=START + timedelta(hours=5), run_s=60.0))
    h.step(base_w=6000.0)
    saved = h.engine.to_dict()
    again = DlmEngine.from_dict(
        json.loads(json.dumps(saved)), h.engine.sockets, LimitStack(household_limit_w=7000.0)
    )
    assert again.to_dict() == saved
    assert again.limits.dr_level(h.now) == 1


def test_configuration_guards_the_comfort_bounds() -> None:
    with pytest.raises(ValueError, match="7-15 min"):
        SocketConfig("fridge", "Fridge", YELLOW, 150.0, max_off_s=1800.0)
    with pytest.raises(ValueError, match="exactly one"):
        GreenRun(deadline=START, run_s=60.0, energy_wh=100.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        DlmEngine([], LimitStack()).step(datetime(2025, 1, 1), None, {})
    with pytest.raises(ValueError, match="not a green socket"):
        DlmEngine([socket("fridge", YELLOW, 150.0)], LimitStack()).request_run(
            "fridge", GreenRun(deadline=START, run_s=60.0)
        )


def test_a_socket_missing_from_the_observations_is_taken_as_left() -> None:
    engine = DlmEngine([socket("ev_charger", GREEN, 3000.0)], LimitStack(household_limit_w=7000.0))
    (off,) = engine.step(START, PowerReading(8000.0, START), {})
    assert off.action is SocketAction.SWITCH_OFF
    later = START + timedelta(minutes=5)
    (on,) = engine.step(later, PowerReading(1000.0, later), {"x": SocketObservation(True)})
    assert on.action is SocketAction.SWITCH_ON
