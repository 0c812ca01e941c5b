"""A simulated feeder: N houses on one transformer, with and without load management.

Households draw a base load shaped by the BDEW H0 standard load profile (demandlib) plus
stochastic appliance runs, each appliance behind a red, yellow or green socket. Three strategies
run on the same households and the same random draws:

* no control ("random", as the original material calls it);
* the Home Assistant community blueprint: a priority list, shed at 90 % of the limit, restore at
  80 %, at least 5 min off;
* this DLM: the policy kernel of `DlmEngine`, one row per participating house.

Both controlled strategies receive the same transformer-level signal from a `TransformerGuard`
(the aggregator's side of demand response): a per-house limit with an expiry, renewed every
minute while the transformer is near its limit, plus DR level 1 (green off) for DLM houses. The
blueprint takes the limit as its "maximum power" input; it has no notion of levels.

Houses that do not participate are uncontrolled in every strategy, so they are simulated once.
"""

from __future__ import annotations

import math
import sys
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .engine import DlmEngine, DlmSettings
from .limits import DemandResponse, LimitStack, TariffWindow
from .model import (
    GreenRun,
    PowerReading,
    SocketAction,
    SocketColour,
    SocketConfig,
    SocketObservation,
)
from .policy import PolicyInputs, PolicySettings, PolicyState, policy_step, request_runs

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

MINUTE_S = 60.0
DAY_MIN = 1440
NIGHT_START_MIN = 23 * 60
NIGHT_END_MIN = 7 * 60


@dataclass(frozen=True, slots=True)
class Appliance:
    name: str
    colour: SocketColour
    ownership: float
    power_w: tuple[float, ...]
    power_p: tuple[float, ...]
    priority: int


# The socket layout of every simulated house; a house that does not own an appliance simply never
# draws on that socket. Ownership and ratings are those of a German/Central-European household
# with the EV uptake a feeder planner worries about.
APPLIANCES: tuple[Appliance, ...] = (
    Appliance("EV charger", SocketColour.GREEN, 0.35, (3700, 7400, 11000), (0.2, 0.6, 0.2), 0),
    Appliance("Washing machine", SocketColour.GREEN, 0.9, (2000,), (1.0,), 1),
    Appliance("Dishwasher", SocketColour.GREEN, 0.65, (1800,), (1.0,), 2),
    Appliance("Heat pump", SocketColour.YELLOW, 0.25, (2500,), (1.0,), 0),
    Appliance("Water heater", SocketColour.YELLOW, 0.4, (2000,), (1.0,), 1),
    Appliance("Kettle", SocketColour.YELLOW, 0.8, (2200,), (1.0,), 2),
    Appliance("Cooker", SocketColour.RED, 0.6, (3000,), (1.0,), 0),
)
EV, WASHER, DISHWASHER, HEAT_PUMP, WATER_HEATER, KETTLE, COOKER = range(len(APPLIANCES))
COLOURS = np.array([int(a.colour) for a in APPLIANCES], dtype=np.int8)
GREEN_SLOTS = COLOURS == SocketColour.GREEN
YELLOW_SLOTS = COLOURS == SocketColour.YELLOW
CONTROLLABLE_SLOTS = COLOURS != SocketColour.RED


class Strategy(StrEnum):
    NO_CONTROL = "no_control"
    BLUEPRINT = "blueprint"
    DLM = "dlm"
    BLUEPRINT_HOUSEHOLD_ONLY = "blueprint_household_only"
    """The blueprint with only the household's own limit: no transformer signal."""
    DLM_HOUSEHOLD_ONLY = "dlm_household_only"
    """DLM with only the household's own limits and the night tariff: no transformer signal."""


MAIN_STRATEGIES = (Strategy.NO_CONTROL, Strategy.BLUEPRINT, Strategy.DLM)


@dataclass(frozen=True, slots=True)
class FeederScenario:
    houses: int = 1000
    days: int = 7
    start: date = date(2025, 1, 13)
    """A winter Monday: the season in which a residential transformer peaks."""
    participation: float = 0.4
    seed: int = 1
    transformer_limit_w: float | None = None
    """Default: `limit_share_of_peak` of the uncontrolled peak of this very feeder."""
    limit_share_of_peak: float = 0.85
    contract_power_w: float = 11_000.0
    base_kwh_per_year: float = 2000.0
    """Consumption not modelled as an appliance (lighting, electronics, fridge): H0-shaped."""
    yellow_max_off_s: float = 900.0
    yellow_min_on_s: float = 600.0
    night_start_spread_s: float = 90 * 60.0
    """DLM houses draw their green sockets' night start delay from [0, this)."""
    guard_groups: int = 20
    """How many groups the aggregator lets go of one at a time after a transformer event."""
    tail_hours: float = 9.0
    """Simulated after the last day with no new demand, so that runs deferred into the last
    night are served and counted instead of vanishing past the horizon."""

    def __post_init__(self) -> None:
        if self.houses < 1 or self.days < 1:
            raise ValueError("a feeder needs at least one house and one day")
        if not 0.0 <= self.participation <= 1.0:
            raise ValueError("participation is a share between 0 and 1")

    @property
    def minutes(self) -> int:
        return self.days * DAY_MIN + round(self.tail_hours * 60)

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Households:
    """Everything random about the feeder, drawn once so that strategies see the same houses."""

    base_w: npt.NDArray[np.float32]
    """(minutes, houses)"""
    rated_w: FloatArray
    """(houses, sockets); 0 where the house does not own the appliance"""
    participates: BoolArray
    night_delay_s: FloatArray
    event_minute: IntArray
    event_house: IntArray
    event_slot: IntArray
    event_energy_wh: FloatArray
    event_deadline: IntArray
    """Minute by which a green run must be done; -1 for yellow and red demand."""
    event_bounds: IntArray
    """Events of minute t are event_*[event_bounds[t]:event_bounds[t + 1]]."""


def _h0_shape(scenario: FeederScenario) -> FloatArray:
    """Mean power (W) per minute of a household using 1000 kWh a year, from BDEW H0."""
    import warnings

    from demandlib import bdew

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profile = bdew.ElecSlp(scenario.start.year).get_scaled_power_profiles({"h0": 1000.0})
    first = scenario.start_at.replace(tzinfo=None)
    # One extra quarter-hour so that the last minutes interpolate rather than hold.
    last = first + timedelta(minutes=scenario.minutes + 15)
    if last.year != first.year:
        raise ValueError("the simulated span must stay within one calendar year")
    window: FloatArray = profile.loc[first:last, "h0"].to_numpy(dtype=np.float64) * 1000.0
    quarter = np.arange(window.size) * 15.0
    minute = np.arange(scenario.minutes, dtype=np.float64)
    shaped: FloatArray = np.interp(minute, quarter, window)
    return shaped


def _draw_minutes(
    rng: np.random.Generator, weights: FloatArray, count: int
) -> npt.NDArray[np.int64]:
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(count), side="right").astype(np.int64)


def generate_households(scenario: FeederScenario) -> Households:
    rng = np.random.default_rng(scenario.seed)
    n, days, minutes = scenario.houses, scenario.days, scenario.minutes
    sockets = len(APPLIANCES)

    shape_w = _h0_shape(scenario)
    annual = rng.lognormal(math.log(scenario.base_kwh_per_year) - 0.06, 0.35, n)
    quarters = -(-minutes // 15)
    noise = rng.lognormal(-0.045, 0.3, (quarters, n)).astype(np.float32)
    base = (shape_w[:, None] * (annual / 1000.0)[None, :]).astype(np.float32)
    base *= np.repeat(noise, 15, axis=0)[:minutes]

    owns = rng.random((n, sockets)) < np.array([a.ownership for a in APPLIANCES])
    rated = np.zeros((n, sockets))
    for slot, appliance in enumerate(APPLIANCES):
        rated[:, slot] = rng.choice(appliance.power_w, size=n, p=appliance.power_p)
    rated *= owns
    participates = rng.random(n) < scenario.participation
    night_delay = rng.uniform(0.0, scenario.night_start_spread_s, (n, sockets))
    night_delay = np.floor(night_delay / MINUTE_S) * MINUTE_S

    # The H0 day shape says when people are at home and awake: it drives the start times of
    # appliances that follow daily life (kettle, washing machine).
    day_shape = shape_w[:DAY_MIN] - shape_w[:DAY_MIN].min() * 0.9

    minute_parts: list[npt.NDArray[np.int64]] = []
    house_parts: list[npt.NDArray[np.int64]] = []
    slot_parts: list[npt.NDArray[np.int64]] = []
    energy_parts: list[FloatArray] = []
    deadline_parts: list[npt.NDArray[np.int64]] = []

    def add(
        slot: int,
        who: tuple[IntArray, IntArray],
        at_minute: FloatArray,
        energy_wh: FloatArray,
        due_minute: FloatArray | None = None,
    ) -> None:
        """Demand on `slot` for (house, day) pairs, at a minute of that day."""
        houses, day = who
        start = day * DAY_MIN + np.floor(at_minute).astype(np.int64)
        power = rated[houses, slot]
        # Whole minutes at rated power: a socket then draws exactly its rating or nothing, which
        # is what a smart plug would report and what the engine learns.
        run_min = np.maximum(1, np.round(energy_wh / power * 60.0)).astype(np.int64)
        if due_minute is None:
            deadline = np.full(start.size, -1, dtype=np.int64)
        else:
            deadline = day * DAY_MIN + np.floor(due_minute).astype(np.int64)
            # A run the household could not finish even uncontrolled is not a run it asked for.
            run_min = np.minimum(run_min, np.maximum(1, deadline - start - 45))
        minute_parts.append(start)
        house_parts.append(houses)
        slot_parts.append(np.full(start.size, slot, dtype=np.int64))
        energy_parts.append(run_min * power / 60.0)
        deadline_parts.append(deadline)

    def owners_by_day(slot: int, probability: float) -> tuple[IntArray, IntArray]:
        owners = np.nonzero(owns[:, slot])[0]
        grid_h, grid_d = np.meshgrid(owners, np.arange(days), indexing="ij")
        chosen = rng.random(grid_h.shape) < probability
        return grid_h[chosen].astype(np.int64), grid_d[chosen].astype(np.int64)

    def clock(
        who: tuple[IntArray, IntArray], mean_h: float, sd_h: float, low_h: float, high_h: float
    ) -> FloatArray:
        return np.clip(rng.normal(mean_h, sd_h, who[0].size), low_h, high_h) * 60.0

    # Days are demand days; the tail after them only serves what is still waiting.
    # EV: home in the evening, away again in the morning; 75 % of days need a charge.
    who = owners_by_day(EV, 0.75)
    size = who[0].size
    energy = np.clip(rng.lognormal(math.log(9000.0) - 0.125, 0.5, size), 2000.0, 40000.0)
    add(
        EV, who, clock(who, 18.0, 1.5, 14.0, 23.5), energy, DAY_MIN + clock(who, 7.0, 0.5, 5.5, 8.5)
    )

    # Washing machine: started when people are up and about, wanted done later that day or by
    # the next morning.
    who = owners_by_day(WASHER, 0.5)
    size = who[0].size
    daytime = (np.arange(DAY_MIN) >= 420) & (np.arange(DAY_MIN) < 1320)
    start = _draw_minutes(rng, np.where(daytime, day_shape, 0.0), size).astype(np.float64)
    wanted = np.minimum(start + rng.uniform(3.0, 10.0, size) * 60.0, DAY_MIN + 390.0)
    add(WASHER, who, start, np.full(size, 1000.0), wanted)

    # Dishwasher: loaded after dinner, wanted clean by breakfast.
    who = owners_by_day(DISHWASHER, 0.7)
    size = who[0].size
    start = clock(who, 20.5, 1.5, 12.0, 23.5)
    wanted = np.minimum(start + rng.uniform(6.0, 12.0, size) * 60.0, DAY_MIN + 420.0)
    add(DISHWASHER, who, start, np.full(size, 1100.0), wanted)

    # Heat pump: quarter-hours of heating demand, likelier in the morning and evening and
    # lower under the night set-back.
    owners = np.nonzero(owns[:, HEAT_PUMP])[0]
    # Each house keeps its own hours, so the schedule does not switch the street at once.
    shift_h = rng.uniform(-1.0, 1.0, (owners.size, 1))
    hour = ((np.arange(days * 96) % 96) / 4.0 + shift_h) % 24.0
    duty = np.select(
        [hour < 5.5, hour < 9.0, hour < 16.0, hour < 22.0], [0.25, 0.6, 0.4, 0.55], 0.35
    )
    hh, qq = np.nonzero(rng.random(duty.shape) < duty)
    houses = owners[hh].astype(np.int64)
    at_quarter = ((qq % 96) * 15).astype(np.float64)
    add(HEAT_PUMP, (houses, qq // 96), at_quarter, rated[houses, HEAT_PUMP] * 0.25)

    # Water heater: refills after the morning showers and the evening washing-up.
    who = owners_by_day(WATER_HEATER, 0.9)
    add(
        WATER_HEATER, who, clock(who, 7.0, 1.0, 5.0, 10.0), rng.uniform(1500.0, 3000.0, who[0].size)
    )
    who = owners_by_day(WATER_HEATER, 0.7)
    add(
        WATER_HEATER,
        who,
        clock(who, 20.0, 1.5, 16.0, 23.5),
        rng.uniform(1000.0, 2000.0, who[0].size),
    )

    owners = np.nonzero(owns[:, KETTLE])[0]
    uses = rng.poisson(3.0, (owners.size, days)).ravel()
    who = (
        np.repeat(np.repeat(owners, days), uses).astype(np.int64),
        np.repeat(np.tile(np.arange(days), owners.size), uses).astype(np.int64),
    )
    at = _draw_minutes(rng, day_shape, who[0].size).astype(np.float64)
    add(KETTLE, who, at, np.full(who[0].size, 110.0))

    who = owners_by_day(COOKER, 0.4)
    add(COOKER, who, clock(who, 12.5, 0.75, 10.5, 15.0), rng.uniform(500.0, 1000.0, who[0].size))
    who = owners_by_day(COOKER, 0.8)
    add(COOKER, who, clock(who, 18.5, 1.0, 16.0, 21.5), rng.uniform(800.0, 1600.0, who[0].size))

    event_minute = np.concatenate(minute_parts)
    order = np.argsort(event_minute, kind="stable")
    event_minute = event_minute[order]
    return Households(
        base_w=base,
        rated_w=rated,
        participates=participates,
        night_delay_s=night_delay,
        event_minute=event_minute,
        event_house=np.concatenate(house_parts)[order],
        event_slot=np.concatenate(slot_parts)[order],
        event_energy_wh=np.concatenate(energy_parts)[order],
        event_deadline=np.concatenate(deadline_parts)[order],
        event_bounds=np.searchsorted(event_minute, np.arange(minutes + 1)).astype(np.int64),
    )


@dataclass(frozen=True, slots=True)
class GuardSignal:
    """What the aggregator broadcasts, per participating house (one value per group)."""

    cap_w: FloatArray
    """Per-house limit; inf where none."""
    level: npt.NDArray[np.int8]
    until_minute: IntArray
    """A request lapses at this minute unless renewed (it is, every minute it is needed)."""

    def active(self, minute: int) -> BoolArray:
        return minute < self.until_minute

    @classmethod
    def silent(cls, houses: int) -> GuardSignal:
        return cls(
            np.full(houses, math.inf),
            np.zeros(houses, dtype=np.int8),
            np.full(houses, -1, dtype=np.int64),
        )


def waterfill_cap(house_w: FloatArray, reduction_w: float, floor_w: float) -> float:
    """The per-house cap that removes `reduction_w` from the houses drawing the most."""
    if house_w.size == 0:
        return math.inf
    ranked = np.sort(house_w)[::-1]
    if reduction_w <= 0:
        return float(ranked[0])
    cut_to = (np.cumsum(ranked) - reduction_w) / np.arange(1, ranked.size + 1)
    below = np.append(ranked[1:], -math.inf)
    first = int(np.argmax(cut_to >= below))
    return max(float(cut_to[first]), floor_w)


@dataclass(slots=True)
class TransformerGuard:
    """The aggregator's loop: watch the transformer, cap the biggest participating draws.

    Above `trigger` x limit every group gets the cap that would bring the load to `target` x
    limit if every house obeyed it (tightened while the load stays high), plus DR `level`.
    Below `relax_below` x limit the groups are let go one per `release_every_min`, in turn,
    because letting every house go at once brings every deferred load back in the same minute.
    Each broadcast holds for `hold_min` minutes unless renewed.
    """

    limit_w: float
    level: int
    houses: int
    groups: int = 20
    trigger: float = 0.95
    target: float = 0.9
    relax_below: float = 0.85
    release_every_min: int = 1
    hold_min: int = 15
    floor_w: float = 1500.0
    engagements: int = 0
    _group_cap: FloatArray = field(init=False)
    _member_group: IntArray = field(init=False)
    _next_release: int = field(init=False, default=0)
    _last_release: int = field(init=False, default=-(10**9))

    def __post_init__(self) -> None:
        self._group_cap = np.full(self.groups, math.inf)
        self._member_group = np.arange(self.houses, dtype=np.int64) % self.groups

    def update(self, minute: int, transformer_w: float, house_w: FloatArray) -> GuardSignal:
        engaged = np.isfinite(self._group_cap)
        if transformer_w > self.trigger * self.limit_w:
            needed = transformer_w - self.target * self.limit_w
            if not engaged.any():
                self.engagements += 1
            cap = waterfill_cap(house_w, needed, self.floor_w)
            self._group_cap = np.minimum(self._group_cap, cap)
        elif (
            engaged.any()
            and transformer_w < self.relax_below * self.limit_w
            and minute - self._last_release >= self.release_every_min
        ):
            for offset in range(self.groups):
                group = (self._next_release + offset) % self.groups
                if engaged[group]:
                    self._group_cap[group] = math.inf
                    self._next_release = (group + 1) % self.groups
                    self._last_release = minute
                    break
        cap_w = self._group_cap[self._member_group]
        capped = np.isfinite(cap_w)
        return GuardSignal(
            cap_w,
            np.where(capped, self.level, 0).astype(np.int8),
            np.where(capped, minute + 1 + self.hold_min, -1).astype(np.int64),
        )


class GroupController(Protocol):
    """Decides, each minute, which sockets of a group of houses may draw."""

    def on_demand(
        self,
        minute: int,
        houses: IntArray,
        slots: IntArray,
        energy_wh: FloatArray,
        deadline: IntArray,
    ) -> None: ...

    def decide(
        self, minute: int, house_w: FloatArray, draw_w: FloatArray, signal: GuardSignal
    ) -> BoolArray: ...


def _night_clock(minute: int) -> tuple[float, float]:
    """(seconds since the night tariff opened or NaN, seconds until it next opens)."""
    of_day = minute % DAY_MIN
    in_night = of_day >= NIGHT_START_MIN or of_day < NIGHT_END_MIN
    elapsed = ((of_day - NIGHT_START_MIN) % DAY_MIN) * MINUTE_S if in_night else math.nan
    until = (NIGHT_START_MIN - of_day) % DAY_MIN
    return elapsed, (until if until else DAY_MIN) * MINUTE_S


def dlm_policy_settings(scenario: FeederScenario, night_delay_s: FloatArray) -> PolicySettings:
    yellow = YELLOW_SLOTS
    return PolicySettings(
        colour=COLOURS,
        max_off_s=np.where(yellow, scenario.yellow_max_off_s, math.inf),
        min_on_s=np.where(yellow, scenario.yellow_min_on_s, 0.0),
        priority=np.array([float(a.priority) for a in APPLIANCES]),
        night_start_delay_s=np.where(GREEN_SLOTS, night_delay_s, 0.0),
    )


class DlmBatch:
    """The DLM policy for a group of houses at once: the kernel `DlmEngine` runs, one row each."""

    def __init__(self, scenario: FeederScenario, rated_w: FloatArray, night_delay_s: FloatArray):
        houses, sockets = rated_w.shape
        self._scenario = scenario
        self._settings = dlm_policy_settings(scenario, night_delay_s)
        self._state = PolicyState.empty(houses, sockets)
        self._run_power = np.where(rated_w > 0, rated_w, math.nan)
        self._contract = np.full(houses, scenario.contract_power_w)

    def on_demand(
        self,
        minute: int,
        houses: IntArray,
        slots: IntArray,
        energy_wh: FloatArray,
        deadline: IntArray,
    ) -> None:
        green = GREEN_SLOTS[slots]
        if green.any():
            request_runs(
                self._state,
                houses[green],
                slots[green],
                deadline=deadline[green] * MINUTE_S,
                run_s=np.full(int(green.sum()), math.nan),
                energy_wh=energy_wh[green],
            )

    def decide(
        self, minute: int, house_w: FloatArray, draw_w: FloatArray, signal: GuardSignal
    ) -> BoolArray:
        st = self._state
        active = signal.active(minute)
        limit = np.where(active, np.minimum(self._contract, signal.cap_w), self._contract)
        level = np.where(active, signal.level, 0).astype(np.int8)
        elapsed, until = _night_clock(minute)
        on = ~st.held
        policy_step(
            self._settings,
            st,
            PolicyInputs(
                now=minute * MINUTE_S,
                power_w=house_w,
                limit_w=limit,
                dr_level=level,
                night_elapsed_s=np.full(house_w.size, elapsed),
                next_night_in_s=np.full(house_w.size, until),
                observed_on=on,
                socket_power_w=np.where(on, draw_w, self._run_power),
                run_power_w=self._run_power,
                running=on & (draw_w > self._settings.idle_w),
            ),
        )
        return ~st.held


class DlmEngines:
    """The same strategy through one `DlmEngine` object per house: slow, for cross-checking."""

    def __init__(self, scenario: FeederScenario, rated_w: FloatArray, night_delay_s: FloatArray):
        self._start = scenario.start_at
        night = TariffWindow("night", _wall(NIGHT_START_MIN), _wall(NIGHT_END_MIN), cheap=True)
        self._limits = LimitStack(
            contract_power_w=scenario.contract_power_w, tariff_windows=(night,)
        )
        settings = dlm_policy_settings(scenario, night_delay_s)
        self._engines: list[DlmEngine] = []
        for house in range(rated_w.shape[0]):
            sockets = [
                SocketConfig(
                    socket_id=str(slot),
                    name=appliance.name,
                    colour=appliance.colour,
                    power_w=float(rated_w[house, slot]) if rated_w[house, slot] > 0 else None,
                    max_off_s=float(settings.max_off_s[slot])
                    if math.isfinite(settings.max_off_s[slot])
                    else None,
                    min_on_s=float(settings.min_on_s[slot]),
                    priority=appliance.priority,
                    night_start_delay_s=float(settings.night_start_delay_s[house, slot]),
                )
                for slot, appliance in enumerate(APPLIANCES)
            ]
            self._engines.append(DlmEngine(sockets, self._limits, DlmSettings()))
        self._allowed = np.ones(rated_w.shape, dtype=np.bool_)

    def _at(self, minute: int) -> datetime:
        return self._start + timedelta(minutes=minute)

    def on_demand(
        self,
        minute: int,
        houses: IntArray,
        slots: IntArray,
        energy_wh: FloatArray,
        deadline: IntArray,
    ) -> None:
        for house, slot, energy, due in zip(
            houses.tolist(), slots.tolist(), energy_wh.tolist(), deadline.tolist(), strict=True
        ):
            if GREEN_SLOTS[slot]:
                self._engines[house].request_run(
                    str(slot), GreenRun(deadline=self._at(due), energy_wh=energy)
                )

    def decide(
        self, minute: int, house_w: FloatArray, draw_w: FloatArray, signal: GuardSignal
    ) -> BoolArray:
        now = self._at(minute)
        active = signal.active(minute)
        for house, engine in enumerate(self._engines):
            if active[house]:
                engine.impose_dr(
                    DemandResponse(
                        expires_at=self._at(int(signal.until_minute[house])),
                        level=int(signal.level[house]),
                        limit_w=float(signal.cap_w[house]),
                    )
                )
            else:
                engine.clear_dr()
            observations = {
                str(slot): SocketObservation(
                    bool(self._allowed[house, slot]), float(draw_w[house, slot])
                )
                for slot in range(len(APPLIANCES))
            }
            for decision in engine.step(
                now, PowerReading(float(house_w[house]), now), observations
            ):
                slot = int(decision.socket_id)
                self._allowed[house, slot] = decision.action is SocketAction.SWITCH_ON
        return self._allowed.copy()


def _wall(minute_of_day: int) -> wall_time:
    return wall_time(minute_of_day // 60, minute_of_day % 60)


class BlueprintBatch:
    """The HA community load-shedding blueprint, per house: walk a priority list.

    Above `shed_at` x limit it switches off the next socket in the list that draws power;
    below `restore_at` x limit it switches the last one it shed back on, once that has been off
    for `min_off_min`. One switch per house per minute, as an automation triggered on the
    power sensor would. It knows no colours, comfort bounds or deadlines.
    """

    def __init__(
        self,
        scenario: FeederScenario,
        houses: int,
        shed_at: float = 0.9,
        restore_at: float = 0.8,
        min_off_min: int = 5,
    ) -> None:
        sockets = len(APPLIANCES)
        # The list a household would write: green appliances first, then yellow.
        rank = sorted(
            (i for i, a in enumerate(APPLIANCES) if a.colour is not SocketColour.RED),
            key=lambda i: (APPLIANCES[i].colour is not SocketColour.GREEN, APPLIANCES[i].priority),
        )
        self._rank = np.full(sockets, sockets + 1)
        self._rank[rank] = np.arange(len(rank))
        self._contract = scenario.contract_power_w
        self._shed_at = shed_at
        self._restore_at = restore_at
        self._min_off = min_off_min
        self._off = np.zeros((houses, sockets), dtype=np.bool_)
        self._off_since = np.zeros((houses, sockets), dtype=np.int64)
        self._sequence = np.zeros((houses, sockets), dtype=np.int64)
        self._counter = 0

    def on_demand(
        self,
        minute: int,
        houses: IntArray,
        slots: IntArray,
        energy_wh: FloatArray,
        deadline: IntArray,
    ) -> None:
        return

    def decide(
        self, minute: int, house_w: FloatArray, draw_w: FloatArray, signal: GuardSignal
    ) -> BoolArray:
        active = signal.active(minute)
        limit = np.where(active, np.minimum(self._contract, signal.cap_w), self._contract)
        rows = np.arange(house_w.size)
        over = house_w > self._shed_at * limit
        candidates = ~self._off & (draw_w > 5.0) & CONTROLLABLE_SLOTS & over[:, None]
        shed_rows = np.nonzero(candidates.any(axis=1))[0]
        if shed_rows.size:
            key = np.where(candidates[shed_rows], self._rank, np.iinfo(np.int64).max)
            first = np.argmin(key, axis=1)
            self._counter += 1
            self._off[shed_rows, first] = True
            self._off_since[shed_rows, first] = minute
            self._sequence[shed_rows, first] = self._counter
        under = (house_w < self._restore_at * limit) & self._off.any(axis=1)
        back_rows = rows[under]
        if back_rows.size:
            last = np.argmax(np.where(self._off[back_rows], self._sequence[back_rows], -1), axis=1)
            ready = minute - self._off_since[back_rows, last] >= self._min_off
            self._off[back_rows[ready], last[ready]] = False
        return ~self._off


@dataclass(frozen=True, slots=True)
class StrategyOutcome:
    strategy: Strategy
    transformer_w: FloatArray
    """(minutes,) load on the transformer."""
    peak_kw: float
    minutes_over_limit: int
    energy_over_limit_kwh: float
    night_energy_kwh: float
    yellow_longest_off_min: int
    yellow_total_off_h: float
    yellow_off_violations: int
    """Yellow off-periods longer than the comfort bound."""
    green_runs: int
    green_deadlines_missed: int
    switches: int
    unserved_at_end_kwh: float
    """Demand still waiting when the horizon ends (deferred, not lost)."""
    seconds: float

    @property
    def comfort_violations(self) -> int:
        return self.yellow_off_violations + self.green_deadlines_missed


@dataclass(frozen=True, slots=True)
class FeederComparison:
    scenario: FeederScenario
    limit_w: float
    participants: int
    outcomes: dict[Strategy, StrategyOutcome]
    seconds: float
    guard_engagements: dict[Strategy, int] = field(default_factory=dict)

    def over_limit_reduction_pct(self, strategy: Strategy) -> float:
        base = self.outcomes[Strategy.NO_CONTROL].minutes_over_limit
        if base == 0:
            return 0.0
        return 100.0 * (1.0 - self.outcomes[strategy].minutes_over_limit / base)

    def moved_to_night_kwh(self, strategy: Strategy) -> float:
        base = self.outcomes[Strategy.NO_CONTROL].night_energy_kwh
        return self.outcomes[strategy].night_energy_kwh - base


@dataclass(slots=True)
class _GroupRun:
    house_w_total: FloatArray
    yellow_longest_off_min: int = 0
    yellow_total_off_min: int = 0
    yellow_off_violations: int = 0
    green_runs: int = 0
    green_missed: int = 0
    switches: int = 0
    unserved_wh: float = 0.0


Progress = Callable[[str], None]


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_group(
    scenario: FeederScenario,
    households: Households,
    members: IntArray,
    *,
    controller: GroupController | None,
    background_w: FloatArray,
    guard: TransformerGuard | None,
    label: str,
    progress: Progress | None,
) -> _GroupRun:
    minutes = scenario.minutes
    n = members.size
    sockets = len(APPLIANCES)
    local = np.full(households.rated_w.shape[0], -1, dtype=np.int64)
    local[members] = np.arange(n)
    rated = households.rated_w[members]
    base = households.base_w[:, members]
    queue = np.zeros((n, sockets))
    deadline = np.full((n, sockets), -1, dtype=np.int64)
    allowed = np.ones((n, sockets), dtype=np.bool_)
    draw = np.zeros((n, sockets))
    house_w = base[0].astype(np.float64)
    total = np.zeros(minutes)
    off_run = np.zeros((n, sockets), dtype=np.int64)
    max_off_min = int(scenario.yellow_max_off_s // MINUTE_S)
    run = _GroupRun(house_w_total=total)
    signal = GuardSignal.silent(n)
    bounds = households.event_bounds
    started = wallclock.perf_counter()
    for t in range(minutes):
        lo, hi = int(bounds[t]), int(bounds[t + 1])
        if hi > lo:
            who = local[households.event_house[lo:hi]]
            mine = who >= 0
            if mine.any():
                h = who[mine]
                a = households.event_slot[lo:hi][mine]
                energy = households.event_energy_wh[lo:hi][mine]
                due = households.event_deadline[lo:hi][mine]
                np.add.at(queue, (h, a), energy)
                green = due >= 0
                deadline[h[green], a[green]] = due[green]
                if controller is not None:
                    controller.on_demand(t, h, a, energy, due)
        if controller is not None:
            now_allowed = controller.decide(t, house_w, draw, signal)
            run.switches += int(np.count_nonzero(now_allowed != allowed))
            allowed = now_allowed
        draw = np.where(allowed, np.minimum(rated, queue * 60.0), 0.0)
        queue -= draw / 60.0
        house_w = base[t] + draw.sum(axis=1)
        total[t] = house_w.sum()
        if guard is not None:
            signal = guard.update(t, total[t] + background_w[t], house_w)
        if controller is not None:
            yellow_off = ~allowed & YELLOW_SLOTS
            off_run = np.where(yellow_off, off_run + 1, 0)
            run.yellow_total_off_min += int(np.count_nonzero(yellow_off))
            run.yellow_longest_off_min = max(run.yellow_longest_off_min, int(off_run.max()))
            run.yellow_off_violations += int(np.count_nonzero(off_run == max_off_min + 1))
        due_now = deadline == t
        if due_now.any():
            run.green_runs += int(np.count_nonzero(due_now))
            run.green_missed += int(np.count_nonzero(queue[due_now] > 0.5))
            deadline[due_now] = -1
        if progress is not None and (t + 1) % DAY_MIN == 0:
            progress(
                f"[feeder] {label}: day {(t + 1) // DAY_MIN}/{scenario.days} "
                f"({wallclock.perf_counter() - started:.1f} s)"
            )
    run.unserved_wh = float(queue.sum())
    return run


def _outcome(
    strategy: Strategy,
    scenario: FeederScenario,
    *,
    transformer_w: FloatArray,
    limit_w: float,
    runs: list[_GroupRun],
    seconds: float,
) -> StrategyOutcome:
    of_day = np.arange(scenario.minutes) % DAY_MIN
    night = (of_day >= NIGHT_START_MIN) | (of_day < NIGHT_END_MIN)
    over = np.maximum(transformer_w - limit_w, 0.0)
    return StrategyOutcome(
        strategy=strategy,
        transformer_w=transformer_w,
        peak_kw=float(transformer_w.max()) / 1000.0,
        minutes_over_limit=int(np.count_nonzero(over > 0)),
        energy_over_limit_kwh=float(over.sum()) / 60_000.0,
        night_energy_kwh=float(transformer_w[night].sum()) / 60_000.0,
        yellow_longest_off_min=max(r.yellow_longest_off_min for r in runs),
        yellow_total_off_h=sum(r.yellow_total_off_min for r in runs) / 60.0,
        yellow_off_violations=sum(r.yellow_off_violations for r in runs),
        green_runs=sum(r.green_runs for r in runs),
        green_deadlines_missed=sum(r.green_missed for r in runs),
        switches=sum(r.switches for r in runs),
        unserved_at_end_kwh=sum(r.unserved_wh for r in runs) / 1000.0,
        seconds=seconds,
    )


def compare_strategies(
    scenario: FeederScenario,
    households: Households | None = None,
    *,
    strategies: tuple[Strategy, ...] = MAIN_STRATEGIES,
    progress: Progress | None = _stderr_progress,
    per_house_engines: bool = False,
) -> FeederComparison:
    """Run the strategies on the same feeder and measure each; no control always runs.

    `per_house_engines` drives DLM through one `DlmEngine` object per house instead of the
    batched kernel: the same decisions, far slower; it exists to prove that they are the same.
    """
    started = wallclock.perf_counter()
    if households is None:
        households = generate_households(scenario)
    members = np.nonzero(households.participates)[0].astype(np.int64)
    others = np.nonzero(~households.participates)[0].astype(np.int64)
    zeros = np.zeros(scenario.minutes)

    t0 = wallclock.perf_counter()
    background = _run_group(
        scenario,
        households,
        others,
        controller=None,
        background_w=zeros,
        guard=None,
        label="no control (others)",
        progress=progress,
    )
    free = _run_group(
        scenario,
        households,
        members,
        controller=None,
        background_w=zeros,
        guard=None,
        label="no control (participants)",
        progress=progress,
    )
    uncontrolled = background.house_w_total + free.house_w_total
    limit_w = scenario.transformer_limit_w or scenario.limit_share_of_peak * float(
        uncontrolled.max()
    )
    outcomes = {
        Strategy.NO_CONTROL: _outcome(
            Strategy.NO_CONTROL,
            scenario,
            transformer_w=uncontrolled,
            limit_w=limit_w,
            runs=[background, free],
            seconds=wallclock.perf_counter() - t0,
        )
    }
    engagements: dict[Strategy, int] = {}
    rated = households.rated_w[members]
    delays = households.night_delay_s[members]
    for strategy in strategies:
        if strategy is Strategy.NO_CONTROL:
            continue
        t0 = wallclock.perf_counter()
        controller: GroupController
        if strategy in {Strategy.BLUEPRINT, Strategy.BLUEPRINT_HOUSEHOLD_ONLY}:
            controller = BlueprintBatch(scenario, members.size)
            level = 0
        elif per_house_engines:
            controller = DlmEngines(scenario, rated, delays)
            level = 1
        else:
            controller = DlmBatch(scenario, rated, delays)
            level = 1
        guard = (
            TransformerGuard(
                limit_w, level=level, houses=members.size, groups=scenario.guard_groups
            )
            if strategy in {Strategy.BLUEPRINT, Strategy.DLM}
            else None
        )
        controlled = _run_group(
            scenario,
            households,
            members,
            controller=controller,
            background_w=background.house_w_total,
            guard=guard,
            label=strategy.value,
            progress=progress,
        )
        if guard is not None:
            engagements[strategy] = guard.engagements
        outcomes[strategy] = _outcome(
            strategy,
            scenario,
            transformer_w=background.house_w_total + controlled.house_w_total,
            limit_w=limit_w,
            runs=[background, controlled],
            seconds=wallclock.perf_counter() - t0,
        )
    return FeederComparison(
        scenario=scenario,
        limit_w=limit_w,
        participants=int(members.size),
        outcomes=outcomes,
        seconds=wallclock.perf_counter() - started,
        guard_engagements=engagements,
    )


def plot_day(comparison: FeederComparison, path: str, day: int | None = None) -> int:
    """Draw the transformer load over one day, "random vs DLM"; returns the day drawn.

    The default day is the one the uncontrolled feeder spends longest over its limit.
    """
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    days = comparison.scenario.days
    free = comparison.outcomes[Strategy.NO_CONTROL].transformer_w
    if day is None:
        over = (free[: days * DAY_MIN] > comparison.limit_w).reshape(days, DAY_MIN)
        day = int(np.argmax(over.sum(axis=1)))
    span = slice(day * DAY_MIN, (day + 1) * DAY_MIN)
    hours = np.arange(DAY_MIN) / 60.0
    styles = {
        Strategy.NO_CONTROL: ("random (no control)", "tab:red", 1.2),
        Strategy.BLUEPRINT: ("HA blueprint (90 %/80 %, 5 min off)", "tab:orange", 1.0),
        Strategy.DLM: ("DLM", "tab:green", 1.6),
    }
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=120)
    for strategy, (label, colour, width) in styles.items():
        outcome = comparison.outcomes.get(strategy)
        if outcome is not None:
            ax.plot(
                hours, outcome.transformer_w[span] / 1000.0, label=label, color=colour, lw=width
            )
    ax.axhline(
        comparison.limit_w / 1000.0, color="black", ls="--", lw=1.0, label="transformer limit"
    )
    ax.axvspan(0, NIGHT_END_MIN / 60, color="0.92", zorder=0)
    ax.axvspan(NIGHT_START_MIN / 60, 24, color="0.92", zorder=0, label="night tariff")
    when = comparison.scenario.start + timedelta(days=day)
    sc = comparison.scenario
    ax.set_title(
        f"Transformer load, {when:%a %d %b %Y}: {sc.houses} houses, "
        f"{sc.participation:.0%} participating"
    )
    ax.set_xlabel("hour of day")
    ax.set_ylabel("kW")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return day
