"""Synthetic feeders for measuring the loss analytics: households, thieves, faulty meters, losses.

A feeder is N single-phase subscribers behind one group meter. Each household is drawn from a small
library of archetypes (a working couple, a family with children, a retired pair, a single worker,
a home office, a night-shift worker, a flat with electric heating). An archetype is a weekday and a
weekend daily shape made of a base load and a few usage peaks; every household then gets its own
size, a shift of its daily rhythm, day-to-day and hour-to-hour variety, random appliance runs
(washing machine, dishwasher, oven), a winter/summer swing and, for some, days away from home.
The library is plain numpy so that the analytics stay importable without the ``sim`` extra.

Dishonest subscribers follow the six attack types of Jokar, Arianpoo and Leung (2016), "Electricity
theft detection in AMI using customers' consumption patterns", IEEE Trans. Smart Grid 7(1):

* h1: ``alpha * x`` with one alpha in [0.1, 0.8];
* h2: ``x`` switched to zero for an interval of 4-12 h at a random time of each day;
* h3: ``gamma_t * x`` with a fresh gamma in [0.1, 0.8] every hour;
* h4: ``gamma_t * mean(x)`` (the day's mean), gamma as in h3;
* h5: ``mean(x)``, the day's mean every hour (a tariff attack: the day's energy is kept);
* h6: the day's readings in reverse order (shifts use into cheap hours; energy is kept),

and faulty meters: under-registration by 10-50 %, a stuck register (reports nothing), and a magnet
on the meter, which slows it to 20-40 % while the household's evening and night loads run.
Each starts at a random day of the window (``onset``), so that a detection delay can be measured.

The group meter measures what the subscribers really use plus the technical loss of the feeder:
a fixed part, I²R in each phase conductor and in the neutral (which carries the phases' unbalance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .phases import PHASES, phase_loss_kwh

THEFT_ATTACKS: Final = ("h1", "h2", "h3", "h4", "h5", "h6")
FAULT_KINDS: Final = ("under_registration", "stuck", "magnet")
DEFAULT_START: Final = datetime(2026, 1, 5, tzinfo=UTC)
"""A Monday in winter; daily shapes are read in the feeder's local time, taken as UTC here."""

TECHNICAL_LOSS_SHARE: Final = 0.03
"""The feeder's technical loss as a share of the energy it delivers (3 %, a typical LV feeder)."""
FIXED_LOSS_SHARE: Final = 0.005
GROUP_METER_NOISE: Final = 0.002
"""Relative noise of the group meter (accuracy class 0.5S)."""
SUBSCRIBER_METER_BIAS: Final = 0.004
"""Spread of an honest subscriber meter's error (class 1 meters are within ±1 %)."""

_PHASE_WEIGHTS: Final = (0.45, 0.33, 0.22)
"""Real in-house networks are unbalanced; this gives the phase balancing something to do."""


@dataclass(frozen=True, slots=True)
class _Archetype:
    name: str
    weekday: tuple[tuple[float, float, float], ...]  # (hour, width h, kW) peaks
    weekend: tuple[tuple[float, float, float], ...]
    base_kw: float
    heating: bool = False


_LIBRARY: Final = (
    _Archetype(
        "working_couple",
        ((7.0, 1.0, 0.6), (19.5, 2.0, 1.0), (22.0, 1.0, 0.4)),
        ((10.0, 2.0, 0.6), (13.0, 1.5, 0.5), (19.0, 2.5, 0.9)),
        0.12,
    ),
    _Archetype(
        "family",
        ((6.8, 1.0, 0.9), (13.5, 1.5, 0.3), (18.5, 2.5, 1.5), (21.0, 1.5, 0.7)),
        ((9.0, 2.0, 1.0), (13.0, 2.0, 0.9), (18.5, 2.5, 1.4)),
        0.18,
    ),
    _Archetype(
        "retired",
        ((8.5, 1.5, 0.5), (12.5, 1.5, 0.6), (17.5, 2.0, 0.6)),
        ((9.0, 1.5, 0.5), (12.5, 1.5, 0.7), (17.5, 2.0, 0.6)),
        0.10,
    ),
    _Archetype(
        "single_worker",
        ((7.5, 0.7, 0.4), (20.5, 1.5, 0.6)),
        ((11.0, 2.0, 0.4), (20.0, 2.5, 0.6)),
        0.07,
    ),
    _Archetype(
        "home_office",
        ((8.0, 1.0, 0.5), (11.0, 3.0, 0.4), (15.0, 3.0, 0.4), (19.0, 2.0, 0.8)),
        ((10.0, 2.0, 0.6), (19.0, 2.5, 0.8)),
        0.14,
    ),
    _Archetype(
        "night_shift",
        ((15.0, 1.5, 0.6), (22.0, 1.0, 0.5), (3.0, 1.5, 0.5)),
        ((12.0, 2.0, 0.6), (20.0, 2.0, 0.7)),
        0.10,
    ),
    _Archetype(
        "electric_heating",
        ((7.0, 1.0, 0.7), (19.0, 2.0, 1.0)),
        ((10.0, 2.0, 0.7), (19.0, 2.5, 1.0)),
        0.15,
        heating=True,
    ),
)


@dataclass(frozen=True)
class SyntheticFeeder:
    """A feeder with what each subscriber really used and what its meter reported."""

    meter_ids: list[str]
    hours: list[datetime]
    """Start of each hour, tz-aware UTC."""
    true_kwh: NDArray[np.float64]
    """(N, T) what each household really used."""
    reported_kwh: NDArray[np.float64]
    """(N, T) what each subscriber meter reported."""
    input_kwh: NDArray[np.float64]
    """(T,) the group meter: the real use plus the feeder's technical loss."""
    phases: list[str]
    dishonest: list[str]
    attack: dict[str, str]
    """meter_id -> "h1".."h6", "under_registration", "stuck" or "magnet"."""
    onset: dict[str, datetime] = field(default_factory=dict)
    """meter_id -> the hour the attack or fault began."""
    technical_kwh: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    """(T,) the technical loss included in ``input_kwh``."""
    archetype: list[str] = field(default_factory=list)


def _shape(peaks: tuple[tuple[float, float, float], ...], shift: float) -> NDArray[np.float64]:
    """kW by hour of day: Gaussian peaks on a circular 24 h clock, shifted by ``shift`` hours."""
    hours = np.arange(24, dtype=np.float64) + 0.5
    out = np.zeros(24)
    for centre, width, kw in peaks:
        d = (hours - centre - shift + 12.0) % 24.0 - 12.0
        out += kw * np.exp(-0.5 * (d / width) ** 2)
    return out


def household_profiles(
    n: int, days: int, start: datetime, rng: np.random.Generator
) -> tuple[NDArray[np.float64], list[str]]:
    """(n, days*24) hourly kWh of ``n`` households drawn from the archetype library."""
    t = days * 24
    day_index = np.arange(days)
    dates = [start + timedelta(days=int(d)) for d in day_index]
    weekend = np.array([d.weekday() >= 5 for d in dates])
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=np.float64)
    season = 1.0 + 0.22 * np.cos(2 * np.pi * (doy - 15.0) / 365.0)  # winter higher
    # outdoor temperature: a seasonal sine with weather fronts lasting a few days
    fronts = np.convolve(rng.normal(0.0, 4.0, days + 4), np.ones(5) / 5 * 2.0, mode="valid")[:days]
    temp_c = 9.0 - 10.0 * np.cos(2 * np.pi * (doy - 15.0) / 365.0) + fronts
    out = np.empty((n, t))
    names: list[str] = []
    for i in range(n):
        arch = _LIBRARY[int(rng.integers(len(_LIBRARY)))]
        names.append(arch.name)
        size = float(rng.lognormal(0.0, 0.35))
        shift = float(rng.normal(0.0, 0.8))
        wd = _shape(arch.weekday, shift) * size
        we = _shape(arch.weekend, shift) * size
        base = arch.base_kw * float(rng.lognormal(0.0, 0.3))
        daily = np.where(weekend[:, None], we[None, :], wd[None, :])  # (days, 24)
        day_factor = rng.lognormal(0.0, 0.18, days) * season
        load = daily * day_factor[:, None] * rng.lognormal(0.0, 0.35, (days, 24))
        # appliance runs: washing machine, dishwasher, oven, each ~1-2 kWh over 1-2 h
        runs = rng.poisson(0.8 * size, days)
        for d in np.nonzero(runs)[0]:
            for _ in range(int(runs[d])):
                h = int(rng.integers(7, 23))
                kwh = float(rng.uniform(0.8, 2.0))
                load[d, h] += kwh * 0.6
                load[d, (h + 1) % 24] += kwh * 0.4
        if arch.heating:
            hdd = np.clip(15.0 - temp_c, 0.0, None)  # degree-days below 15 °C
            heat_kw = 0.12 * size * hdd[:, None] * (0.7 + 0.6 * rng.random((days, 24)))
            load += heat_kw
        # fridge, freezer, standby: always there, even when away
        load += base * (0.8 + 0.4 * rng.random((days, 24)))
        if rng.random() < 0.25 and days >= 10:
            away = int(rng.integers(3, 9))
            first = int(rng.integers(0, days - away))
            load[first : first + away] = base * (0.8 + 0.4 * rng.random((away, 24)))
        out[i] = load.reshape(t)
    return out, names


def _apply_attack(
    kind: str, x: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    """What a meter reports for true use ``x`` (days, 24) under ``kind``, from the first row on."""
    days = x.shape[0]
    if kind == "h1":
        return x * rng.uniform(0.1, 0.8)
    if kind == "h2":
        r = x.copy()
        for d in range(days):
            length = int(rng.integers(4, 13))
            first = int(rng.integers(0, 24 - length + 1))
            r[d, first : first + length] = 0.0
        return r
    if kind == "h3":
        return x * rng.uniform(0.1, 0.8, x.shape)
    if kind == "h4":
        daily_mean: NDArray[np.float64] = x.mean(axis=1, keepdims=True)
        return daily_mean * rng.uniform(0.1, 0.8, x.shape)
    if kind == "h5":
        return np.repeat(x.mean(axis=1, keepdims=True), 24, axis=1)
    if kind == "h6":
        return x[:, ::-1].copy()
    if kind == "under_registration":
        return x * (1.0 - rng.uniform(0.1, 0.5))
    if kind == "stuck":
        return np.zeros_like(x)
    if kind == "magnet":
        factor = rng.uniform(0.2, 0.4)
        hours = np.arange(24)
        on = (hours >= 17) | (hours < 7)
        used = np.asarray(rng.random(days) < 0.85)  # taken off now and then, before a visit
        mask = used[:, None] & on[None, :]
        return np.where(mask, x * factor, x)
    msg = f"unknown attack or fault {kind!r}"
    raise ValueError(msg)


def make_feeder(
    n: int,
    days: int,
    *,
    thieves: int = 0,
    faulty: int = 0,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    attacks: tuple[str, ...] | None = None,
    onset_window: tuple[float, float] = (0.2, 0.6),
    group_meter_noise: float = GROUP_METER_NOISE,
) -> SyntheticFeeder:
    """A feeder of ``n`` subscribers over ``days`` days, ``thieves`` + ``faulty`` of them dishonest.

    ``attacks`` fixes the kinds in order (otherwise thieves cycle through h1-h6 and faulty meters
    through the three faults, from a random starting point). Each begins at a random day in
    ``onset_window`` (fractions of the window; ``(0, 0)`` means from the first hour).
    ``group_meter_noise`` is the group meter's random relative error per hour.
    """
    if n < 1 or days < 1:
        msg = f"a feeder needs at least one subscriber and one day, got n={n}, days={days}"
        raise ValueError(msg)
    if thieves < 0 or faulty < 0 or thieves + faulty > n:
        msg = f"thieves={thieves} and faulty={faulty} do not fit in n={n} subscribers"
        raise ValueError(msg)
    if start.tzinfo is None:
        msg = "start must be timezone-aware"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    start = start.astimezone(UTC)
    true_kwh, names = household_profiles(n, days, start, rng)
    t = days * 24
    meter_ids = [f"m{i:05d}" for i in range(n)]
    hours = [start + timedelta(hours=h) for h in range(t)]
    phases = [PHASES[int(p)] for p in rng.choice(3, size=n, p=_PHASE_WEIGHTS)]

    bias = 1.0 + rng.normal(0.0, SUBSCRIBER_METER_BIAS, n)
    reported = true_kwh * bias[:, None]
    if attacks is None:
        a0, f0 = int(rng.integers(6)), int(rng.integers(3))
        kinds = [THEFT_ATTACKS[(a0 + j) % 6] for j in range(thieves)]
        kinds += [FAULT_KINDS[(f0 + j) % 3] for j in range(faulty)]
    else:
        if len(attacks) != thieves + faulty:
            msg = f"{len(attacks)} attacks given for {thieves + faulty} dishonest subscribers"
            raise ValueError(msg)
        kinds = list(attacks)
    chosen = sorted(int(i) for i in rng.choice(n, size=len(kinds), replace=False))
    rng.shuffle(kinds)
    attack: dict[str, str] = {}
    onset: dict[str, datetime] = {}
    lo, hi = onset_window
    for i, kind in zip(chosen, kinds, strict=True):
        first_day = int(rng.integers(int(lo * days), max(int(hi * days), int(lo * days) + 1)))
        first_day = min(first_day, days - 1)
        x = true_kwh[i].reshape(days, 24)[first_day:]
        r = reported[i].reshape(days, 24)
        r[first_day:] = _apply_attack(kind, x, rng) * bias[i]
        attack[meter_ids[i]] = kind
        onset[meter_ids[i]] = hours[first_day * 24]
    reported = np.round(reported, 3)  # meters report watt-hours

    technical = _technical_loss(true_kwh, phases, rng)
    group = (true_kwh.sum(axis=0) + technical) * (1.0 + rng.normal(0.0, group_meter_noise, t))
    return SyntheticFeeder(
        meter_ids=meter_ids,
        hours=hours,
        true_kwh=true_kwh,
        reported_kwh=reported,
        input_kwh=np.round(group, 3),
        phases=phases,
        dishonest=[meter_ids[i] for i in chosen],
        attack=attack,
        onset=onset,
        technical_kwh=technical,
        archetype=names,
    )


def _technical_loss(
    true_kwh: NDArray[np.float64], phases: list[str], rng: np.random.Generator
) -> NDArray[np.float64]:
    """Hourly technical loss: fixed plus I²R in phases and neutral, scaled to the feeder's share."""
    variable = phase_loss_kwh(true_kwh, phases, resistance_ohm=1.0, neutral_ohm=1.0)
    total = float(true_kwh.sum())
    scale = (TECHNICAL_LOSS_SHARE - FIXED_LOSS_SHARE) * total / max(float(variable.sum()), 1e-12)
    fixed = FIXED_LOSS_SHARE * total / true_kwh.shape[1]
    # conductor resistance drifts with temperature: a few per cent
    drift = 1.0 + 0.03 * np.sin(np.arange(true_kwh.shape[1]) * 2 * np.pi / 24.0 + rng.uniform(0, 6))
    out: NDArray[np.float64] = fixed + variable * scale * drift
    return out
