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

    def __post_init__(self) -> None:
        if self.houses < 1 or self.days < 1:
            raise ValueError("a feeder needs at least one house and one day")
        if not 0.0 <= self.participation <= 1.0:
            raise ValueError("participation is a share between 0 and 1")

    @property
    def minutes(self) -> int:
        return self.days * DAY_MIN

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
    last = first + timedelta(days=scenario.days, minutes=15)
    window = profile.loc[first:last, "h0"].to_numpy(dtype=np.float64) * 1000.0
    quarter = np.arange(window.size) * 15.0
    return np.interp(np.arange(scenario.minutes, dtype=np.float64), quarter, window)


def _draw_minutes(
    rng: np.random.Generator, weights: FloatArray, count: int
) -> npt.NDArray[np.int64]:
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(count), side="right").astype(np.int64)


def _clock_draw(
    rng: np.random.Generator, mean_h: float, sd_h: float, low_h: float, high_h: float, n: int
) -> FloatArray:
    return np.clip(rng.normal(mean_h, sd_h, n), low_h, high_h) * 60.0


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
        houses: npt.NDArray[np.int64],
        day: npt.NDArray[np.int64],
        minute_of_day: FloatArray,
        energy_wh: FloatArray,
        deadline_of_day: FloatArray | None = None,
    ) -> None:
        start = day * DAY_MIN + np.floor(minute_of_day).astype(np.int64)
        power = rated[houses, slot]
        # Whole minutes at rated power: a socket then draws exactly its rating or nothing, which
        # is what a smart plug would report and what the engine learns.
        run_min = np.maximum(1, np.round(energy_wh / power * 60.0)).astype(np.int64)
        if deadline_of_day is None:
            deadline = np.full(start.size, -1, dtype=np.int64)
        else:
            deadline = day * DAY_MIN + np.floor(deadline_of_day).astype(np.int64)
            # A run the household could not finish even uncontrolled is not a run it asked for.
            run_min = np.minimum(run_min, np.maximum(1, deadline - start - 45))
        keep = start < minutes
        minute_parts.append(start[keep])
        house_parts.append(houses[keep])
        slot_parts.append(np.full(int(keep.sum()), slot, dtype=np.int64))
        energy_parts.append((run_min * power / 60.0)[keep])
        deadline_parts.append(deadline[keep])

    def owners_by_day(slot: int, probability: float) -> tuple[IntArray, IntArray]:
        owners = np.nonzero(owns[:, slot])[0]
        grid_h, grid_d = np.meshgrid(owners, np.arange(days), indexing="ij")
        chosen = rng.random(grid_h.shape) < probability
        return grid_h[chosen].astype(np.int64), grid_d[chosen].astype(np.int64)

    h, d = owners_by_day(EV, 0.75)
    arrive = _clock_draw(rng, 18.0, 1.5, 14.0, 23.5, h.size)
    depart = DAY_MIN + _clock_draw(rng, 7.0, 0.5, 5.5, 8.5, h.size)
    energy = np.clip(rng.lognormal(math.log(9000.0) - 0.125, 0.5, h.size), 2000.0, 40000.0)
    add(EV, h, d, arrive, energy, depart)

    h, d = owners_by_day(WASHER, 0.5)
    start = _draw_minutes(rng, np.where((np.arange(DAY_MIN) >= 420) & (np.arange(DAY_MIN) < 1320), day_shape, 0.0), h.size).astype(np.float64)
    wanted = start + rng.uniform(3.0, 10.0, h.size) * 60.0
    add(WASHER, h, d, start, np.full(h.size, 1000.0), np.minimum(wanted, DAY_MIN + 390.0))

    h, d = owners_by_day(DISHWASHER, 0.7)
    start = _clock_draw(rng, 20.5, 1.5, 12.0, 23.5, h.size)
    wanted = start + rng.uniform(6.0, 12.0, h.size) * 60.0
    add(DISHWASHER, h, d, start, np.full(h.size, 1100.0), np.minimum(wanted, DAY_MIN + 420.0))

    # Heat pump: quarter-hours of heating demand, likelier in the morning and evening and
    # lower under the night set-back.
    owners = np.nonzero(owns[:, HEAT_PUMP])[0]
    hour = (np.arange(days * 96) % 96) / 4.0
    duty = np.where(hour < 5.5, 0.25, np.where(hour < 9.0, 0.6, np.where(hour < 16.0, 0.4, np.where(hour < 22.0, 0.55, 0.35))))
    on = rng.random((owners.size, duty.size)) < duty[None, :]
    hh, qq = np.nonzero(on)
    add(HEAT_PUMP, owners[hh].astype(np.int64), (qq // 96).astype(np.int64), (qq % 96) * 15.0, rated[owners[hh], HEAT_PUMP] * 0.25)

    h, d = owners_by_day(WATER_HEATER, 0.9)
    add(WATER_HEATER, h, d, _clock_draw(rng, 7.0, 1.0, 5.0, 10.0, h.size), rng.uniform(1500.0, 3000.0, h.size))
    h, d = owners_by_day(WATER_HEATER, 0.7)
    add(WATER_HEATER, h, d, _clock_draw(rng, 20.0, 1.5, 16.0, 23.5, h.size), rng.uniform(1000.0, 2000.0, h.size))

    owners = np.nonzero(owns[:, KETTLE])[0]
    uses = rng.poisson(3.0, (owners.size, days))
    hh = np.repeat(np.repeat(owners, days), uses.ravel()).astype(np.int64)
    dd = np.repeat(np.tile(np.arange(days), owners.size), uses.ravel()).astype(np.int64)
    add(KETTLE, hh, dd, _draw_minutes(rng, day_shape, hh.size).astype(np.float64), np.full(hh.size, 110.0))

    h, d = owners_by_day(COOKER, 0.4)
    add(COOKER, h, d, _clock_draw(rng, 12.5, 0.75, 10.5, 15.0, h.size), rng.uniform(500.0, 1000.0, h.size))
    h, d = owners_by_day(COOKER, 0.8)
    add(COOKER, h, d, _clock_draw(rng, 18.5, 1.0, 16.0, 21.5, h.size), rng.uniform(800.0, 1600.0, h.size))

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
