"""Household consumption for the DMesh simulator: many meters at once, seeded and vectorised.

Every meter belongs to a household. A household has 1-4 people who wake, leave for work, come
back, run errands, go on holiday and sleep. These *occupancy contexts* (asleep, morning routine,
at home during the day, evening routine, away) drive everything stochastic, so one household's
water, gas and electricity rise and fall together, and a home is silent while its people are out
or asleep - which is what leak and standby detection downstream must not mistake for a fault.

What each meter kind measures:

* electricity (kWh): a standby base (20-60 W), a fridge and sometimes a freezer cycling on and
  off, the BDEW H0 standard load profile (from ``demandlib``) scaled to the household's
  log-normal annual consumption and gated by occupancy, and appliance uses (kettle, washing
  machine, dishwasher, oven, hob, ...) that are more likely when the H0 shape is high;
* water (m³): Poisson draws (toilet, taps, showers, baths, washing-machine and dishwasher fills)
  with realistic volumes and flow rates; a draw may span several calls;
* gas (m³): space heating from the BDEW temperature-driven heat profile (``demandlib``) fed by a
  seeded synthetic outdoor temperature, with a heating limit around 15 °C daily mean, plus the hot
  part of the household's water draws (combi boiler) and gas cooking;
* heat (kWh): the same space-heating profile, for district-heating sub-meters.

Time is unix seconds (UTC). People live on central-European civil time (CET/CEST, EU summer-time
rule); the weather and the heat profiles run on CET without summer time, like the BDEW method.

The demandlib shapes are built once per calendar year (about 0.3 s, cached per process; the
weather, hence the heat shapes, also per seed). ``ConsumptionModel.prepare`` builds them ahead of
a run so that no ``consumption`` call pays for it mid-simulation.
"""

from __future__ import annotations

import bisect
import calendar
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from dmesh_lib.units import MeterKind

type F64 = npt.NDArray[np.float64]
type I64 = npt.NDArray[np.int64]
type Bool = npt.NDArray[np.bool_]

__all__ = ["ConsumptionModel"]

# --------------------------------------------------------------------------------------------
# Calendar and civil time
# --------------------------------------------------------------------------------------------

_FIRST_YEAR: Final = 1970
_LAST_YEAR: Final = 2200
_YEAR_STARTS: Final = [calendar.timegm((y, 1, 1, 0, 0, 0)) for y in range(_FIRST_YEAR, _LAST_YEAR)]
_DAY: Final = 86_400.0
_HOUR: Final = 3_600.0
_CET: Final = 3_600
_CEST: Final = 7_200
_MAX_STEP: Final = 3_600.0
"""Longest interval handled in one go; the day-plan logic relies on it (see ``_Pieces``)."""


def _year_of(seconds: float) -> int:
    """Calendar year of a time given in seconds on some clock whose epoch is 1970-01-01 00:00."""
    i = bisect.bisect_right(_YEAR_STARTS, seconds) - 1
    if i < 0 or i >= len(_YEAR_STARTS) - 1:
        raise ValueError(f"time {seconds} is outside {_FIRST_YEAR}..{_LAST_YEAR - 2}")
    return _FIRST_YEAR + i


def _year_start(year: int) -> int:
    return _YEAR_STARTS[year - _FIRST_YEAR]


@cache
def _summer_time(year: int) -> tuple[int, int]:
    """EU rule: summer time runs from the last Sunday of March to that of October, 01:00 UTC."""

    def last_sunday_0100_utc(month: int) -> int:
        last = calendar.monthrange(year, month)[1]
        back = (calendar.weekday(year, month, last) + 1) % 7
        return calendar.timegm((year, month, last - back, 1, 0, 0))

    return last_sunday_0100_utc(3), last_sunday_0100_utc(10)


def _utc_offset(t: float) -> int:
    start, end = _summer_time(_year_of(t))
    return _CEST if start <= t < end else _CET


def _cum_at(cum: F64, x: float) -> float:
    """Integral of a piecewise-constant profile up to ``x`` slots, from its cumulative sums."""
    i = min(int(x), len(cum) - 2)
    return float(cum[i] + (x - i) * (cum[i + 1] - cum[i]))


def _cum_at_rows(cum: F64, x: float) -> F64:
    i = min(int(x), cum.shape[1] - 2)
    lo: F64 = cum[:, i]
    hi: F64 = cum[:, i + 1]
    value: F64 = lo + (x - i) * (hi - lo)
    return value


# --------------------------------------------------------------------------------------------
# demandlib shapes, cached per calendar year
# --------------------------------------------------------------------------------------------

_H0_SLOT: Final = 900.0


@lru_cache(maxsize=8)
def _h0_cumulative(year: int) -> F64:
    """Cumulative BDEW H0 energy (kWh per kWh of annual demand) at every 15-min slot boundary.

    The index is local civil time from 1 January 00:00, as the BDEW tables are.
    """
    from demandlib import bdew

    # ElecSlp switches every warning into an error for the whole process
    # (``warnings.simplefilter("error")``); the context manager undoes that on exit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        power = bdew.ElecSlp(year).get_scaled_power_profiles({"h0": 1.0})["h0"]
    energy = np.asarray(power, dtype=np.float64) * (_H0_SLOT / _HOUR)
    return np.concatenate(([0.0], np.cumsum(energy)))


# Heating shapes: two BDEW building types, each with three heating-limit temperatures, so that
# households differ in when they switch their heating off in spring.
_BUILDINGS: Final = (("EFH", 5), ("MFH", 3))
_HEATING_LIMITS: Final = (14.0, 15.0, 16.0)
_N_HEAT_SHAPES: Final = len(_BUILDINGS) * len(_HEATING_LIMITS)
_HEAT_LEAD_HOURS: Final = 72
"""BDEW weights today's mean temperature with the three days before; they must exist."""


def _cet_hour0(year: int) -> int:
    """CET hour index (``(t + 3600) // 3600``) of 1 January 00:00 CET."""
    return _year_start(year) // 3600


def _hours_in(year: int) -> int:
    return (_year_start(year + 1) - _year_start(year)) // 3600


# Sized for a few concentrators (each its own seed, hence its own weather) across a new year.
@lru_cache(maxsize=32)
def _heat_cumulative(seed: int, year: int) -> F64:
    """Cumulative space-heating energy per kWh of annual demand, shape (shapes, hours + 1).

    demandlib's BDEW ``HeatBuilding`` turns the synthetic hourly temperature into an hourly
    profile (sigmoid of the 4-day weighted daily mean, BDEW hour factors with night set-back).
    Hot water is left out (``ww_incl=False``) because it comes from the simulated water draws.
    Above the heating limit the profile is cut to zero: BDEW keeps a small summer tail that a
    boiler with its heating switched off does not have.
    """
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]  # typed with pandas-stubs
    from demandlib import bdew

    hours = _hours_in(year)
    temps = _temperature_year(seed, year)[: _HEAT_LEAD_HOURS + hours]
    index = pd.date_range(
        datetime(year, 1, 1) - timedelta(hours=_HEAT_LEAD_HOURS),
        periods=_HEAT_LEAD_HOURS + hours,
        freq="h",
    )
    # BDEW's temperature classes stop at -20 °C and +40 °C.
    temperature = pd.Series(np.clip(temps, -19.5, 39.5), index=index)
    rows: list[F64] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for shlp_type, building_class in _BUILDINGS:
            building = bdew.HeatBuilding(
                index,
                temperature=temperature,
                shlp_type=shlp_type,
                building_class=building_class,
                wind_class=0,
                ww_incl=False,
                annual_heat_demand=1.0,
            )
            profile = np.asarray(building.get_bdew_profile(), dtype=np.float64)
            daily = np.asarray(building.df["temperature_geo"], dtype=np.float64)
            profile, daily = profile[_HEAT_LEAD_HOURS:], daily[_HEAT_LEAD_HOURS:]
            for limit in _HEATING_LIMITS:
                shaped = profile * np.clip((limit + 0.75 - daily) / 1.5, 0.0, 1.0)
                rows.append(shaped / shaped.sum())
    table = np.stack(rows)
    return np.concatenate((np.zeros((_N_HEAT_SHAPES, 1)), np.cumsum(table, axis=1)), axis=1)


# --------------------------------------------------------------------------------------------
# Synthetic central-European weather
# --------------------------------------------------------------------------------------------

_TAG_DAY_NOISE: Final = 0x7E1
_TAG_HOUR_NOISE: Final = 0x7E2
_NOISE_BLOCK: Final = 1024
_DAY_PHI: Final = 0.72
"""Day-to-day persistence of weather anomalies (a few days of synoptic memory)."""
_HOUR_PHI: Final = 0.8
_DAY_KERNEL: Final[F64] = np.power(_DAY_PHI, np.arange(40.0)) * math.sqrt(1 - _DAY_PHI**2)
_HOUR_KERNEL: Final[F64] = np.power(_HOUR_PHI, np.arange(48.0)) * math.sqrt(1 - _HOUR_PHI**2)


@lru_cache(maxsize=256)
def _normal_block(seed: int, tag: int, block: int) -> F64:
    return np.random.default_rng([seed, tag, block]).standard_normal(_NOISE_BLOCK)


def _normals(seed: int, tag: int, first: int, stop: int) -> F64:
    """Standard normals indexed by an absolute counter, so any range is a pure function of it."""
    blocks = range(first // _NOISE_BLOCK, (stop - 1) // _NOISE_BLOCK + 1)
    joined = np.concatenate([_normal_block(seed, tag, b) for b in blocks])
    skip = first - blocks[0] * _NOISE_BLOCK
    return joined[skip : skip + stop - first]


def _ar_series(seed: int, tag: int, kernel: F64, first: int, stop: int) -> F64:
    """Unit-variance AR(1) noise at integer steps [first, stop), truncated impulse response.

    A truncated moving average of counter-indexed normals instead of a recursion: the value at
    any step is a pure function of the seed, so history, live and next year's shapes agree.
    """
    eps = _normals(seed, tag, first - len(kernel) + 1, stop)
    return np.convolve(eps, kernel, mode="valid").astype(np.float64, copy=False)


def _season(days_since_epoch: F64) -> F64:
    """+1 around 20 July, -1 around 18 January."""
    return np.cos(2 * np.pi * (days_since_epoch - 201.5) / 365.2425)


def _hourly_temperature(seed: int, first: int, stop: int) -> F64:
    """Outdoor temperature (°C) at CET hour indices [first, stop).

    Annual mean 9.6 °C, January about 0 °C and July about 19.5 °C (Berlin/Prague-like); a diurnal
    cycle of 3 K (winter) to 9 K (summer) peaking at 15:00; synoptic anomalies with a few days of
    memory, larger in winter; and a small fast hourly component.
    """
    hours = np.arange(first, stop, dtype=np.float64)
    days = hours / 24.0
    season = _season(days)
    diurnal = (3.0 + 1.5 * season) * np.cos(2 * np.pi * ((hours % 24.0) - 15.0) / 24.0)
    day0 = math.floor(days[0]) - 1
    day1 = math.floor(days[-1]) + 2
    knots = _ar_series(seed, _TAG_DAY_NOISE, _DAY_KERNEL, day0, day1)
    synoptic = np.interp(days, np.arange(day0, day1) + 0.5, knots)
    fast = _ar_series(seed, _TAG_HOUR_NOISE, _HOUR_KERNEL, first, stop)
    temperature: F64 = 9.6 + 9.8 * season + diurnal + (3.3 - 0.7 * season) * synoptic + 0.6 * fast
    return temperature


@lru_cache(maxsize=32)
def _temperature_year(seed: int, year: int) -> F64:
    """Hourly temperatures from 72 h before 1 January 00:00 CET to 1 h past the year's end."""
    h0 = _cet_hour0(year)
    return _hourly_temperature(seed, h0 - _HEAT_LEAD_HOURS, h0 + _hours_in(year) + 1)


@lru_cache(maxsize=32)
def _trailing_day_mean(seed: int, year: int) -> F64:
    """Mean of the last 24 hourly temperatures, aligned with ``_temperature_year``."""
    temps = _temperature_year(seed, year)
    cum = np.concatenate(([0.0], np.cumsum(temps)))
    index = np.arange(len(temps))
    first = np.maximum(index - 23, 0)
    mean: F64 = (cum[index + 1] - cum[first]) / (index + 1 - first)
    return mean


def _saturation_pa(celsius: float) -> float:
    """Magnus formula over water."""
    return 610.94 * math.exp(17.625 * celsius / (celsius + 243.04))


# --------------------------------------------------------------------------------------------
# Uses: what people do with water, gas and electricity
# --------------------------------------------------------------------------------------------

_ASLEEP, _MORNING, _DAYTIME, _EVENING = range(4)
_N_CONTEXTS: Final = 4
_ACTIVITY: Final = np.array([0.15, 1.0, 1.0, 1.2])
"""How much of the household's H0 share runs in each context (lights, TV, computers...)."""
_ACTIVITY_AWAY: Final = 0.1
_PRESENCE_MOISTURE: Final = {_ASLEEP: 0.7, _MORNING: 1.4, _DAYTIME: 1.0, _EVENING: 1.1}
"""Share of a household's moisture release (breathing, showers, cooking) in each context."""

_ELEC, _WATER, _GAS_HOT, _GAS_COOK = range(4)
_N_SLOTS: Final = 4

_GAS_KWH_PER_M3: Final = 10.5
_BOILER_EFFICIENCY: Final = 0.88
_HOT_WATER_KWH_PER_L: Final = 4.186 * 35.0 / 3600.0
"""Heating one litre of mains water by 35 K."""
_GAS_M3_PER_HOT_L: Final = _HOT_WATER_KWH_PER_L / (_GAS_KWH_PER_M3 * _BOILER_EFFICIENCY)

_WATER_HABIT, _ELEC_HABIT = 0, 1
_ANY_COOK, _ELECTRIC_HOB, _GAS_HOB = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Segment:
    """One constant-rate part of a use; ranges are sampled with per-use uniforms."""

    slot: int
    offset_s: tuple[float, float]
    duration_s: tuple[float, float]
    rate: tuple[float, float]  # meter units per second


@dataclass(frozen=True, slots=True)
class _Use:
    name: str
    h0_driven: bool
    per_hour: tuple[float, float, float, float]
    """Uses per hour per person in the asleep, morning, daytime and evening contexts."""
    persons_exponent: float
    ownership: tuple[float, float]  # base probability, increase per person
    habit: int
    cooking: int
    segments: tuple[_Segment, ...]


def _kw(low: float, high: float) -> tuple[float, float]:
    return low / 3600.0, high / 3600.0


def _draw(
    offset_s: tuple[float, float],
    duration_s: tuple[float, float],
    litres_per_min: tuple[float, float],
    hot_fraction: float = 0.0,
) -> tuple[_Segment, ...]:
    """A water draw; its hot part also burns gas in the household's combi boiler, if any."""
    rate = (litres_per_min[0] / 60_000.0, litres_per_min[1] / 60_000.0)
    water = _Segment(_WATER, offset_s, duration_s, rate)
    if hot_fraction <= 0:
        return (water,)
    per_m3 = hot_fraction * 1000.0 * _GAS_M3_PER_HOT_L
    return water, _Segment(_GAS_HOT, offset_s, duration_s, (rate[0] * per_m3, rate[1] * per_m3))


def _appliance(
    duration_s: tuple[float, float], kw: tuple[float, float], offset_s: tuple[float, float] = (0, 0)
) -> _Segment:
    return _Segment(_ELEC, offset_s, duration_s, _kw(*kw))


_NOW: Final = (0.0, 0.0)

_USES: Final = (
    # Water: rates per person. Night toilet visits (~6 L) are the only night-time water use.
    _Use("toilet", False, (0.035, 0.8, 0.3, 0.6), 1.0, (1, 0), _WATER_HABIT, _ANY_COOK,
         _draw(_NOW, (40, 60), (6, 9))),
    _Use("hand_wash", False, (0, 1.2, 0.45, 0.9), 1.0, (1, 0), _WATER_HABIT, _ANY_COOK,
         _draw(_NOW, (10, 30), (4, 6), 0.3)),
    _Use("shower", False, (0, 0.45, 0.02, 0.2), 1.0, (1, 0), _WATER_HABIT, _ANY_COOK,
         _draw(_NOW, (240, 480), (6, 10), 0.6)),
    _Use("bath", False, (0, 0, 0.003, 0.025), 1.0, (1, 0), _WATER_HABIT, _ANY_COOK,
         _draw(_NOW, (420, 600), (12, 16), 0.65)),
    _Use("kitchen_tap", True, (0, 0.6, 0.4, 0.6), 0.7, (1, 0), _WATER_HABIT, _ANY_COOK,
         _draw(_NOW, (10, 60), (5, 8), 0.4)),
    _Use("washing_machine", True, (0, 0, 0.025, 0.015), 0.6, (0.95, 0), _ELEC_HABIT, _ANY_COOK, (
        *_draw(_NOW, (100, 200), (7, 10)),
        *_draw((2400, 3600), (80, 140), (7, 10)),
        *_draw((3300, 4800), (80, 140), (7, 10)),
        _appliance((600, 1200), (1.8, 2.2), (180, 300)),  # heating the wash water
        _appliance((3600, 6000), (0.12, 0.2)),  # drum and electronics
        _appliance((300, 600), (0.3, 0.5), (3300, 5700)),  # spin
    )),
    _Use("dishwasher", True, (0, 0, 0.015, 0.18), 0.5, (0.35, 0.12), _ELEC_HABIT, _ANY_COOK, (
        *_draw(_NOW, (60, 100), (3, 4.5)),
        _appliance((900, 1200), (1.8, 2.2), (120, 180)),
        *_draw((2400, 3000), (60, 100), (3, 4.5)),
        *_draw((3000, 3600), (60, 100), (3, 4.5)),
        _appliance((600, 900), (1.8, 2.2), (3100, 3700)),  # drying
        _appliance((5400, 7200), (0.05, 0.1)),  # pump
    )),
    _Use("kettle", True, (0, 0.35, 0.08, 0.15), 0.7, (0.95, 0), _ELEC_HABIT, _ANY_COOK,
         (_appliance((90, 240), (1.8, 2.4)),)),
    _Use("microwave", True, (0, 0.1, 0.05, 0.1), 0.7, (0.8, 0), _ELEC_HABIT, _ANY_COOK,
         (_appliance((60, 360), (0.8, 1.2)),)),
    _Use("electric_hob", True, (0, 0.05, 0.05, 0.12), 0.5, (1, 0), _ELEC_HABIT, _ELECTRIC_HOB,
         (_appliance((600, 2400), (1.0, 2.0)),)),
    _Use("gas_hob", True, (0, 0.05, 0.05, 0.12), 0.5, (1, 0), _ELEC_HABIT, _GAS_HOB,
         (_Segment(_GAS_COOK, _NOW, (600, 2400), (0.1 / 3600, 0.25 / 3600)),)),
    _Use("oven", True, (0, 0, 0.015, 0.02), 0.4, (0.9, 0), _ELEC_HABIT, _ANY_COOK, (
        _appliance((480, 720), (2.0, 2.4)),  # preheating
        _appliance((1500, 3000), (0.7, 1.1), (480, 720)),  # thermostat holding
    )),
    _Use("hair_dryer", False, (0, 0.25, 0.02, 0.05), 1.0, (0.6, 0), _ELEC_HABIT, _ANY_COOK,
         (_appliance((120, 420), (1.2, 2.0)),)),
    _Use("vacuum_cleaner", True, (0, 0, 0.025, 0.01), 0.3, (0.95, 0), _ELEC_HABIT, _ANY_COOK,
         (_appliance((600, 1800), (0.6, 1.0)),)),
    _Use("iron", True, (0, 0, 0.015, 0.01), 0.3, (0.6, 0), _ELEC_HABIT, _ANY_COOK,
         (_appliance((900, 2400), (0.8, 1.2)),)),
)  # fmt: skip

_N_USES: Final = len(_USES)
_MAX_SEGMENTS: Final = max(len(u.segments) for u in _USES)


def _segment_table() -> tuple[I64, Bool, F64]:
    """Uses as padded arrays: slot, valid, and (offset lo/span, duration lo/span, rate lo/span)."""
    slot = np.zeros((_N_USES, _MAX_SEGMENTS), dtype=np.int64)
    valid = np.zeros((_N_USES, _MAX_SEGMENTS), dtype=np.bool_)
    params = np.zeros((_N_USES, _MAX_SEGMENTS, 6))
    for i, use in enumerate(_USES):
        for j, seg in enumerate(use.segments):
            slot[i, j] = seg.slot
            valid[i, j] = True
            for k, (lo, hi) in enumerate((seg.offset_s, seg.duration_s, seg.rate)):
                params[i, j, 2 * k] = lo
                params[i, j, 2 * k + 1] = hi - lo
    return slot, valid, params


_SEG_SLOT, _SEG_VALID, _SEG_PARAMS = _segment_table()
_SEG_ID: Final = np.arange(_N_USES * _MAX_SEGMENTS).reshape(_N_USES, _MAX_SEGMENTS)
_FLAT_PARAMS: Final = np.ascontiguousarray(_SEG_PARAMS.reshape(-1, 6).T)  # (6, segment ids)
_GUIDE: Final = 16
"""Guide-table resolution for drawing a use from its CDF (Chen & Asau's method)."""
_USE_RATES: Final = np.array([u.per_hour for u in _USES]) / 3600.0  # (uses, contexts) per second
_USE_H0: Final = np.array([u.h0_driven for u in _USES])


def _mean_energy_per_use(slot: int) -> F64:
    """Expected units one use of each kind delivers to ``slot`` (rate, duration independent)."""
    mean = _SEG_PARAMS[..., 0::2] + 0.5 * _SEG_PARAMS[..., 1::2]
    per_segment = mean[..., 1] * mean[..., 2] * (_SEG_VALID & (slot == _SEG_SLOT))
    return np.asarray(per_segment.sum(axis=1), dtype=np.float64)


_H0_AWAKE_MEAN: Final = 1.23
"""Mean of H0 / its annual mean over 07:00-23:00, measured on demandlib's H0; used to calibrate."""
_VACATION_SHARE: Final = 0.03
_H0_ACTIVITY_COUPLING: Final = 1.18
"""People are at home and awake when H0 is high, so the occupancy-gated H0 share delivers this
much more than H0 times mean activity; measured over whole simulated years."""


# --------------------------------------------------------------------------------------------
# Household day plans
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DayPlan:
    """One local day of every household; times in local seconds since the epoch."""

    wake: F64
    morning_end: F64  # workers leave for work here
    work_end: F64  # == morning_end when not working that day
    errand_start: F64
    errand_end: F64
    evening_start: F64
    bed: F64  # may be after the next midnight
    home: F64  # 0.0 while on holiday
    heating: F64  # day-to-day variation of heating use
    comfort: F64  # day-to-day offset of the indoor temperature


_PIECE_CONTEXT: Final = np.array(
    [
        *(_DAYTIME, _DAYTIME, _DAYTIME, _EVENING, _ASLEEP),  # the day before
        *(_MORNING, _DAYTIME, _DAYTIME, _DAYTIME, _EVENING, _ASLEEP),  # the day itself
    ]
)
_CONTEXT_OF_PIECE: Final = (np.arange(_N_CONTEXTS)[:, None] == _PIECE_CONTEXT[None, :]).astype(
    np.float64
)
_CONTEXT_ROWS: Final = (np.array([4, 5, 0, 3]), np.array([10, 5, 6, 9]))
"""The (at most two) positive piece rows of each context: yesterday's and today's."""


@dataclass(frozen=True, slots=True)
class _Pieces:
    """Occupancy intervals touching local day ``d``: the tail of day d-1 and all of day d.

    Rows: day d-1 daytime, minus its work and errand absences, its evening, its night; day d
    morning, daytime minus absences, evening, and the night after it (open-ended: a call never
    reaches the next morning because it starts before midnight and lasts at most an hour).
    ``weight`` is +home, or -home for absences subtracted from the daytime interval.
    """

    start: F64  # (pieces, households)
    end: F64
    weight: F64
    heating: F64  # (households,) of day d
    row_first: F64  # (pieces,) earliest start, to skip rows a step cannot touch
    row_last: F64


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

_TAG_HOUSEHOLDS: Final = 0x401
_TAG_METERS: Final = 0x402
_TAG_STREAMS: Final = 0x403
_TAG_PLAN: Final = 0x404
_TAG_HOLIDAY: Final = 0x405
_TAG_LIVE: Final = 0x406
_TAG_HISTORY: Final = 0x407
_CALIBRATION_MONDAY: Final = 20_094  # 2025-01-06, two ordinary weeks
_HISTORY_WARM_UP_HOURS: Final = 3
_CACHE_DAYS: Final = 128

_ELECTRICITY_MEDIAN_KWH: Final = np.array([1900.0, 2900.0, 3600.0, 4200.0])
"""Median annual consumption of 1-4 person households (German figures, without electric heating)."""


@dataclass(slots=True)
class _Households:
    persons: F64
    worker: Bool
    wake_h: F64
    weekend_shift_h: F64
    bed_h: F64
    prep_h: F64
    evening_h: F64
    work_h: F64
    errand_p: F64
    appetite: F64  # standard-normal electricity "appetite"
    water_habit: F64
    building: I64
    heating_limit: I64
    heat_kwh: F64
    gas_hot_water: Bool
    gas_cooking: Bool
    setpoint: F64
    setback: F64
    moisture_pa: F64
    drift_period_s: F64
    drift_phase: F64


@dataclass(slots=True)
class _Engine:
    """The mutable part: random stream and the uses still running (their segments)."""

    rng: np.random.Generator
    meter: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    start: F64 = field(default_factory=lambda: np.zeros(0))
    end: F64 = field(default_factory=lambda: np.zeros(0))
    rate: F64 = field(default_factory=lambda: np.zeros(0))


class ConsumptionModel:
    """True consumption of many meters, vectorised over meters; deterministic for a seed."""

    def __init__(
        self, kinds: Sequence[MeterKind], *, seed: int, household_of: Sequence[int] | None = None
    ) -> None:
        """One entry per meter.

        Meters with the same household index share occupancy (people at home, persons count), so
        a household's water, gas and electricity rise together. Default: each meter its own
        household.
        """
        n = len(kinds)
        ids = list(range(n)) if household_of is None else [int(h) for h in household_of]
        if len(ids) != n:
            raise ValueError(f"household_of has {len(ids)} entries for {n} meters")
        self._seed = int(seed)
        self._kinds = np.array([int(MeterKind(k)) for k in kinds], dtype=np.int64)
        self._household_ids = sorted(set(ids))
        self._household_index = {h: i for i, h in enumerate(self._household_ids)}
        self._meter_hh = np.array([self._household_index[h] for h in ids], dtype=np.int64)
        self._extra = np.zeros(n)
        self._plans: OrderedDict[int, _DayPlan] = OrderedDict()
        self._pieces_cache: OrderedDict[int, _Pieces] = OrderedDict()
        self._holidays: dict[int, tuple[I64, I64]] = {}

        self._hh = self._draw_households(len(self._household_ids))
        self._build_streams()
        self._build_meters()
        self._live = _Engine(np.random.default_rng([self._seed, _TAG_LIVE]))

    # ---- public API ---------------------------------------------------------------------

    @property
    def n_meters(self) -> int:
        return len(self._kinds)

    @property
    def households(self) -> list[int]:
        """Household indices as given in ``household_of`` (or the meter indices)."""
        return list(self._household_ids)

    def persons(self, household: int) -> int:
        """How many people live in a household (1-4)."""
        return int(self._hh.persons[self._hh_index(household)])

    def consumption(self, t0: float, t1: float) -> F64:
        """True consumption of every meter in [t0, t1) in the kind's unit, extra rates included.

        Stateful: uses (appliance runs, water draws) carry across calls, so calls should be
        successive (t0 == previous t1). Intervals longer than an hour are split internally.
        Deterministic for a given seed and call sequence.
        """
        if not t1 > t0:
            raise ValueError(f"empty interval [{t0}, {t1})")
        out = np.zeros(self.n_meters)
        a = float(t0)
        while a < t1:
            b = min(float(t1), a + _MAX_STEP)
            self._advance(self._live, a, b, out)
            a = b
        return out

    def hourly_history(self, first_hour: int, hours: int) -> F64:
        """Consumption per whole hour, shape (n_meters, hours), from unix hour ``first_hour``.

        The same process as the live path, run on its own random stream (a function of the
        seed and the requested range) so the live state is not touched. Extra rates that are
        set now are included, as if they had been there all along.
        """
        if hours < 0 or first_hour < _HISTORY_WARM_UP_HOURS:
            raise ValueError("bad history range")
        engine = _Engine(
            np.random.default_rng([self._seed, _TAG_HISTORY, int(first_hour), int(hours)])
        )
        out = np.zeros((self.n_meters, hours))
        scratch = np.zeros(self.n_meters)
        for j in range(-_HISTORY_WARM_UP_HOURS, hours):
            t = (first_hour + j) * _HOUR
            scratch[:] = 0.0
            self._advance(engine, t, t + _HOUR, scratch)
            if j >= 0:
                out[:, j] = scratch
        return out

    def set_extra_rate(self, meter: int, per_hour: float) -> None:
        """Scenario overlay: a constant extra flow in units per hour (0 clears it).

        A dripping tap is 0.015 m³/h, a gas leak 0.22/24 m³/h, standby vampires a few W as kWh/h.
        """
        if not 0 <= meter < self.n_meters:
            raise IndexError(f"no meter {meter}")
        if not per_hour >= 0 or not math.isfinite(per_hour):
            raise ValueError(f"extra rate must be finite and >= 0, got {per_hour}")
        self._extra[meter] = per_hour

    def extra_rate(self, meter: int) -> float:
        return float(self._extra[meter])

    def prepare(self, t0: float, t1: float) -> None:
        """Load the per-year demandlib shapes covering [t0, t1) now rather than mid-run.

        Each calendar year costs about 0.3 s the first time it is touched.
        """
        for year in range(_year_of(t0 + _CET), _year_of(t1 + _CEST) + 1):
            _h0_cumulative(year)
            _heat_cumulative(self._seed, year)

    def outdoor_temperature(self, t: float) -> float:
        """Outdoor air temperature (°C) at ``t``: the series that drives heating."""
        cet = t + _CET
        year = _year_of(cet)
        temps = _temperature_year(self._seed, year)
        x = cet / _HOUR - _cet_hour0(year) + _HEAT_LEAD_HOURS
        i = int(x)
        return float(temps[i] + (x - i) * (temps[i + 1] - temps[i]))

    def indoor_temperature(self, household: int, t: float) -> float:
        """Indoor temperature (°C): heating set-point with night set-back and drift in winter,
        free-running with the outdoor weather in summer."""
        return self._indoor(self._hh_index(household), t)[0]

    def indoor_humidity(self, household: int, t: float) -> float:
        """Indoor relative humidity (%): outdoor moisture plus what the occupants add."""
        h = self._hh_index(household)
        inside, context, outdoor_day = self._indoor(h, t)
        # Outdoor vapour pressure follows the daily mean temperature, not the diurnal swing
        # (relative humidity outside is what swings).
        season = math.cos(2 * math.pi * (t / _DAY - 201.5) / 365.2425)
        vapour = (0.8 - 0.08 * season) * _saturation_pa(outdoor_day)
        vapour += float(self._hh.moisture_pa[h]) * _PRESENCE_MOISTURE.get(context, 0.25)
        rh = 100.0 * vapour / _saturation_pa(inside)
        return min(max(rh, 18.0), 80.0)

    def mean_rate(self, meter: int, t0: float, t1: float) -> float:
        """Mean flow of one meter over [t0, t1) in units per hour, from what is known now.

        Uses running at the moment count; uses that would start later are not drawn. Meant for
        "current power" displays between two ``consumption`` calls. Does not change any state.
        """
        if not t1 > t0:
            raise ValueError(f"empty interval [{t0}, {t1})")
        if not 0 <= meter < self.n_meters:
            raise IndexError(f"no meter {meter}")
        total = 0.0
        a = float(t0)
        while a < t1:
            b = min(float(t1), a + _MAX_STEP)
            steady = np.zeros(self.n_meters)
            self._steady(steady, a, b)
            live = self._live
            mask = live.meter == meter
            overlap = np.minimum(live.end[mask], b) - np.maximum(live.start[mask], a)
            total += float(steady[meter]) + float((np.maximum(overlap, 0) * live.rate[mask]).sum())
            a = b
        return total / (t1 - t0) * _HOUR + float(self._extra[meter])

    def mean_power_w(self, meter: int, t0: float, t1: float) -> float:
        """``mean_rate`` in watts, for meters that count kWh (electricity and heat)."""
        if MeterKind(int(self._kinds[meter])) not in (MeterKind.ELECTRICITY, MeterKind.HEAT):
            raise ValueError(f"meter {meter} does not measure energy")
        return self.mean_rate(meter, t0, t1) * 1000.0

    # ---- construction --------------------------------------------------------------------

    def _draw_households(self, count: int) -> _Households:
        rng = np.random.default_rng([self._seed, _TAG_HOUSEHOLDS])
        persons = rng.choice(np.array([1.0, 2.0, 3.0, 4.0]), size=count, p=[0.38, 0.34, 0.14, 0.14])
        worker = rng.random(count) < np.where(persons >= 3, 0.75, 0.55)
        building = (rng.random(count) >= 0.3).astype(np.int64)  # 0: house (EFH), 1: flat (MFH)
        heat_median = np.where(building == 0, 15_000.0, 6_500.0) * (0.8 + 0.1 * persons)
        return _Households(
            persons=persons,
            worker=worker,
            wake_h=np.where(worker, rng.normal(6.4, 0.5, count), rng.normal(7.4, 0.7, count)),
            weekend_shift_h=rng.uniform(0.3, 1.5, count),
            bed_h=rng.normal(23.0, 0.6, count),
            prep_h=rng.uniform(0.5, 1.2, count),
            evening_h=rng.uniform(0.75, 1.25, count),
            work_h=np.where(
                rng.random(count) < 0.15,
                rng.uniform(4.0, 6.0, count),
                rng.uniform(8.0, 10.0, count),
            ),
            errand_p=rng.uniform(0.3, 0.6, count),
            appetite=rng.standard_normal(count),
            water_habit=rng.lognormal(0.0, 0.2, count),
            building=building,
            heating_limit=rng.integers(0, len(_HEATING_LIMITS), count),
            heat_kwh=heat_median * rng.lognormal(0.0, 0.3, count),
            gas_hot_water=rng.random(count) < 0.8,
            gas_cooking=rng.random(count) < 0.5,
            setpoint=rng.uniform(19.5, 22.5, count),
            setback=rng.uniform(0.0, 2.5, count) * (rng.random(count) < 0.6),
            moisture_pa=rng.uniform(120.0, 260.0, count) * (0.7 + 0.3 * persons),
            drift_period_s=rng.uniform(4.0, 9.0, count) * _HOUR,
            drift_phase=rng.uniform(0.0, 2 * np.pi, count),
        )

    def _build_streams(self) -> None:
        """Group meters into use streams: the k-th meter of each kind in a household.

        A use (a shower, a wash cycle) happens once per stream and lands on every meter of the
        stream it concerns, so the shower shows on the water meter and on the gas meter at the
        same moment. A second water meter in a household gets a stream of its own.
        """
        hh = self._hh
        has_gas = np.zeros(len(self._household_ids), dtype=np.bool_)
        has_gas[self._meter_hh[self._kinds == MeterKind.GAS]] = True
        cooks_with_gas = hh.gas_cooking & has_gas
        streams: dict[tuple[int, int], int] = {}
        rank: dict[tuple[int, int], int] = {}
        targets: list[list[int]] = []
        stream_hh: list[int] = []
        for m, (kind, h) in enumerate(
            zip(self._kinds.tolist(), self._meter_hh.tolist(), strict=True)
        ):
            if kind not in (MeterKind.ELECTRICITY, MeterKind.WATER, MeterKind.GAS):
                continue
            r = rank.get((h, kind), 0)
            rank[h, kind] = r + 1
            s = streams.setdefault((h, r), len(streams))
            if s == len(targets):
                targets.append([-1] * _N_SLOTS)
                stream_hh.append(h)
            if kind == MeterKind.ELECTRICITY:
                targets[s][_ELEC] = m
            elif kind == MeterKind.WATER:
                targets[s][_WATER] = m
            else:
                targets[s][_GAS_HOT] = m if hh.gas_hot_water[h] else -1
                targets[s][_GAS_COOK] = m if cooks_with_gas[h] else -1
        n_streams = len(targets)
        self._stream_target = np.array(targets, dtype=np.int64).reshape(n_streams, _N_SLOTS)
        # For every (stream, use): its segments that reach a meter of the stream, listed
        # first, with that meter; so starting a use needs no filtering.
        seg_meter = self._stream_target[:, _SEG_SLOT]  # (streams, uses, segments)
        reached = _SEG_VALID[None] & (seg_meter >= 0)
        order = np.argsort(~reached, axis=2, kind="stable")
        self._reached_count = reached.sum(axis=2).ravel()
        self._reached_segment = np.take_along_axis(
            np.broadcast_to(_SEG_ID, seg_meter.shape), order, axis=2
        ).ravel()
        self._reached_meter = np.take_along_axis(seg_meter, order, axis=2).ravel()
        self._stream_hh = np.array(stream_hh, dtype=np.int64)
        self._n_streams = n_streams
        self._stream_is_household = n_streams == len(self._household_ids) and bool(
            (self._stream_hh == np.arange(n_streams)).all()
        )

        # weight[u, s]: how often stream s does use u relative to the per-person rate
        rng = np.random.default_rng([self._seed, _TAG_STREAMS])
        owned = np.zeros((_N_USES, n_streams))
        persons = hh.persons[self._stream_hh]
        for i, use in enumerate(_USES):
            p = np.minimum(1.0, use.ownership[0] + use.ownership[1] * persons)
            owned[i] = rng.random(n_streams) < p
        reaches = np.zeros((_N_USES, n_streams), dtype=np.bool_)
        for i, use in enumerate(_USES):
            for seg in use.segments:
                reaches[i] |= self._stream_target[:, seg.slot] >= 0
        cook = np.array([u.cooking for u in _USES])[:, None]
        gas_cook = cooks_with_gas[self._stream_hh][None, :]
        allowed = reaches & ~((cook == _ELECTRIC_HOB) & gas_cook)
        habit = np.where(
            np.array([u.habit for u in _USES])[:, None] == _WATER_HABIT,
            hh.water_habit[self._stream_hh][None, :],
            np.exp(0.2 * hh.appetite[self._stream_hh])[None, :],
        )
        exponent = np.array([u.persons_exponent for u in _USES])[:, None]
        weight = allowed * owned * habit * persons[None, :] ** exponent
        self._use_weight = weight

        # per-context rates of the plain and of the H0-driven uses, and where each use falls
        per_use = _USE_RATES.T[:, :, None] * weight[None, :, :]  # (contexts, uses, streams)
        groups = np.stack((per_use * ~_USE_H0[None, :, None], per_use * _USE_H0[None, :, None]))
        # rate[g * contexts + c, s]: uses of stream s per second it spends in context c, for
        # the plain (g = 0) and the H0-driven (g = 1) uses
        self._rate = groups.sum(axis=2).reshape(2 * _N_CONTEXTS, n_streams)
        cumulative = np.cumsum(groups, axis=2)  # (2, contexts, uses, streams)
        total = cumulative[:, :, -1:, :]
        cdf = np.divide(cumulative, total, out=np.ones_like(cumulative), where=total > 0)
        cdf = np.moveaxis(cdf, 3, 0).reshape(-1, _N_USES)  # rows: (stream, group, context)
        self._use_cdf = cdf.ravel()
        # guide[row, k]: the first use whose CDF exceeds k / _GUIDE
        grid = np.arange(_GUIDE) / _GUIDE
        self._use_guide = (cdf[:, None, :] <= grid[None, :, None]).sum(axis=2).ravel()

    def _build_meters(self) -> None:
        """Per-meter constants, kept only for the meters they concern (vectorised subsets)."""
        hh = self._hh
        rng = np.random.default_rng([self._seed, _TAG_METERS])
        self._elec = np.flatnonzero(self._kinds == MeterKind.ELECTRICITY)
        self._n_elec = n = len(self._elec)
        self._elec_hh = h = self._meter_hh[self._elec]
        base_w = rng.uniform(20.0, 60.0, n)
        # Fridge (row 0) and, in about a third of homes, a freezer (row 1): compressors cycling
        # with a fixed duty. Flattened into a list of compressors with the meter they load.
        power_w = np.stack((rng.uniform(70.0, 130.0, n), rng.uniform(80.0, 120.0, n)))
        owned = np.stack((np.ones(n, dtype=np.bool_), rng.random(n) < 0.35))
        duty = np.stack((rng.uniform(0.30, 0.40, n), rng.uniform(0.35, 0.45, n)))
        on_s = np.stack((rng.uniform(15.0, 25.0, n), rng.uniform(20.0, 35.0, n))) * 60.0
        phase = rng.uniform(0.0, 1.0, (2, n))
        self._cycle_meter = np.broadcast_to(np.arange(n), (2, n))[owned]
        self._cycle_on = on_s[owned]
        self._cycle_period = (on_s / duty)[owned]
        self._cycle_phase = phase[owned] * self._cycle_period
        self._cycle_kwh_per_s = power_w[owned] / 3.6e6
        self._base_kwh_per_s = base_w / 3.6e6

        median = _ELECTRICITY_MEDIAN_KWH[hh.persons.astype(np.int64) - 1]
        annual = (median * np.exp(0.3 * hh.appetite))[h]
        hours = self._calibration_hours()  # (contexts, households), per year
        compressor_kwh = (power_w * duty * owned).sum(axis=0) * 8.766
        per_use = _mean_energy_per_use(_ELEC)  # kWh per use
        h0_boost = np.where(_USE_H0, _H0_AWAKE_MEAN, 1.0)
        expected = (
            (_USE_RATES * 3600.0 * h0_boost[:, None] * per_use[:, None]).T[:, :, None]
            * self._use_weight[None, :, :]
            * hours[:, self._stream_hh][:, None, :]
        ).sum(axis=(0, 1))  # kWh per year per stream
        uses_kwh = np.zeros(len(self._kinds))
        stream_elec = self._stream_target[:, _ELEC]
        uses_kwh[stream_elec[stream_elec >= 0]] = expected[stream_elec >= 0]
        # The H0 share is what is left of the annual figure once the modelled loads are taken
        # out; a floor keeps lights and electronics in homes whose appliances already add up.
        smooth_kwh = np.maximum(
            annual - base_w * 8.766 - compressor_kwh - uses_kwh[self._elec], 0.25 * annual
        )
        activity = (_ACTIVITY - _ACTIVITY_AWAY) @ hours / (365.25 * 24.0) + _ACTIVITY_AWAY
        self._smooth_coef = smooth_kwh / (activity[h] * _H0_ACTIVITY_COUPLING)

        per_kwh = np.select(
            [self._kinds == MeterKind.GAS, self._kinds == MeterKind.HEAT],
            [1.0 / (_GAS_KWH_PER_M3 * _BOILER_EFFICIENCY), 1.0],
            0.0,
        )
        self._heated = np.flatnonzero(per_kwh > 0)
        self._n_heated = len(self._heated)
        self._heated_hh = self._meter_hh[self._heated]
        variant = hh.building * len(_HEATING_LIMITS) + hh.heating_limit
        self._heat_variant = variant[self._heated_hh]
        self._heat_coef = (hh.heat_kwh[self._meter_hh] * per_kwh)[self._heated]

    def _calibration_hours(self) -> F64:
        """Expected hours per year in each context per household, from two sample weeks."""
        exposure = np.zeros((_N_CONTEXTS, len(self._household_ids)))
        days = range(_CALIBRATION_MONDAY, _CALIBRATION_MONDAY + 14)
        for day in days:
            prev = self._make_plan(day - 1, holidays=False)
            cur = self._make_plan(day, holidays=False)
            pieces = self._make_pieces(prev, cur)
            start = day * _DAY
            exposure += self._exposure(pieces, start, start + _DAY)
        return exposure / len(days) * (365.25 / _HOUR) * (1.0 - _VACATION_SHARE)

    # ---- day plans -------------------------------------------------------------------------

    def _holiday_table(self, year: int) -> tuple[I64, I64]:
        """Up to three trips per household and year, as [first, stop) day of year."""
        table = self._holidays.get(year)
        if table is None:
            count = len(self._household_ids)
            rng = np.random.default_rng([self._seed, _TAG_HOLIDAY, year])
            trips = rng.choice(4, size=count, p=[0.3, 0.35, 0.25, 0.1])
            first = rng.integers(0, 366, (count, 3))
            length = rng.integers(3, 15, (count, 3)) * (np.arange(3)[None, :] < trips[:, None])
            table = (first, first + length)
            self._holidays[year] = table
        return table

    def _make_plan(self, day: int, *, holidays: bool = True) -> _DayPlan:
        hh = self._hh
        count = len(self._household_ids)
        rng = np.random.default_rng([self._seed, _TAG_PLAN, day])
        jitter = rng.standard_normal((5, count))
        u = rng.random((6, count))
        weekend = (day + 3) % 7 >= 5
        wake_h = np.clip(hh.wake_h + hh.weekend_shift_h * weekend + 0.33 * jitter[0], 4.5, 10.5)
        bed_h = np.clip(hh.bed_h + 0.5 * weekend + 0.33 * jitter[1], 20.5, 25.5)
        works = hh.worker & (not weekend) & (u[0] >= 0.15)
        morning = np.where(
            works, hh.prep_h * (0.9 + 0.2 * u[1]), (0.25 + 0.25 * hh.persons) * (0.8 + 0.4 * u[1])
        )
        morning_end = wake_h + morning
        evening_start = bed_h - hh.evening_h * (0.8 + 0.4 * u[2])
        work_end = np.where(
            works,
            np.maximum(
                morning_end,
                np.minimum(morning_end + hh.work_h + 0.3 * jitter[2], evening_start - 0.25),
            ),
            morning_end,
        )
        free_from = work_end + 0.25
        errand = 0.75 + 1.75 * u[3]
        room = evening_start - 0.25 - free_from - errand
        has_errand = (u[4] < hh.errand_p) & (room > 0)
        errand_start = np.where(has_errand, free_from + u[5] * np.maximum(room, 0), morning_end)
        errand_end = np.where(has_errand, errand_start + errand, morning_end)
        home = np.ones(count)
        if holidays:
            year = _year_of(day * _DAY)
            doy = day - _year_start(year) // 86_400
            first, stop = self._holiday_table(year)
            home[((doy >= first) & (doy < stop)).any(axis=1)] = 0.0
        t = day * _DAY
        return _DayPlan(
            wake=t + wake_h * _HOUR,
            morning_end=t + morning_end * _HOUR,
            work_end=t + work_end * _HOUR,
            errand_start=t + errand_start * _HOUR,
            errand_end=t + errand_end * _HOUR,
            evening_start=t + evening_start * _HOUR,
            bed=t + bed_h * _HOUR,
            home=home,
            # a home left on holiday is kept cooler
            heating=np.exp(0.08 * jitter[3]) * (0.7 + 0.3 * home),
            comfort=0.3 * jitter[4],
        )

    def _plan(self, day: int) -> _DayPlan:
        return self._cached(self._plans, day, self._make_plan)

    @staticmethod
    def _make_pieces(p: _DayPlan, q: _DayPlan) -> _Pieces:
        open_end = q.bed + 12 * _HOUR
        start = np.stack((
            p.morning_end, p.morning_end, p.errand_start, p.evening_start, p.bed,
            q.wake, q.morning_end, q.morning_end, q.errand_start, q.evening_start, q.bed,
        ))  # fmt: skip
        end = np.stack((
            p.evening_start, p.work_end, p.errand_end, p.bed, q.wake,
            q.morning_end, q.evening_start, q.work_end, q.errand_end, q.bed, open_end,
        ))  # fmt: skip
        sign = np.array([1, -1, -1, 1, 1, 1, 1, -1, -1, 1, 1], dtype=np.float64)[:, None]
        home = np.stack([p.home] * 5 + [q.home] * 6)
        return _Pieces(
            start=start,
            end=end,
            weight=sign * home,
            heating=q.heating,
            row_first=start.min(axis=1, initial=np.inf),
            row_last=end.max(axis=1, initial=-np.inf),
        )

    def _pieces(self, day: int) -> _Pieces:
        return self._cached(
            self._pieces_cache, day, lambda d: self._make_pieces(self._plan(d - 1), self._plan(d))
        )

    @staticmethod
    def _cached[T](cache: OrderedDict[int, T], day: int, make: Callable[[int], T]) -> T:
        value = cache.get(day)
        if value is None:
            value = make(day)
            cache[day] = value
            if len(cache) > _CACHE_DAYS:
                cache.popitem(last=False)
        else:
            cache.move_to_end(day)
        return value

    @staticmethod
    def _exposure(pieces: _Pieces, a: float, b: float) -> F64:
        """Seconds of local [a, b) each household spends in each context, (contexts, households)."""
        rows = np.flatnonzero((pieces.row_first < b) & (pieces.row_last > a))
        overlap = np.minimum(pieces.end[rows], b)
        overlap -= np.maximum(pieces.start[rows], a)
        np.maximum(overlap, 0.0, out=overlap)
        overlap *= pieces.weight[rows]
        exposure: F64 = _CONTEXT_OF_PIECE[:, rows] @ overlap
        return exposure

    def _context_at(self, h: int, t: float) -> tuple[int, _DayPlan]:
        """Occupancy context of one household at ``t`` (-1: away), and that day's plan."""
        local = t + _utc_offset(t)
        day = int(local // _DAY)
        pieces = self._pieces(day)
        plan = self._plan(day)
        inside = (pieces.start[:, h] <= local) & (local < pieces.end[:, h])
        weights = inside * pieces.weight[:, h]
        if (weights < 0).any() or not (weights > 0).any():
            return -1, plan
        return int(_PIECE_CONTEXT[int(np.argmax(weights > 0))]), plan

    def _indoor(self, h: int, t: float) -> tuple[float, int, float]:
        """Indoor temperature, occupancy context and 24-h mean outdoor temperature."""
        context, plan = self._context_at(h, t)
        hh = self._hh
        local = t + _utc_offset(t)
        day = int(local // _DAY)
        setpoint = float(hh.setpoint[h])
        if plan.home[h] == 0.0:
            setpoint = 17.0  # holiday: heating turned down
        else:
            # The room drifts down over ~1.5 h after bedtime and back up within an hour of
            # waking, rather than stepping with the thermostat.
            bed = float(self._plan(day - 1).bed[h])
            if local >= float(plan.bed[h]):
                bed = float(plan.bed[h])
            cooled = min(max((local - bed) / 5400.0, 0.0), 1.0)
            if local >= float(plan.wake[h]) and context != _ASLEEP:
                cooled *= min(max(1.0 - (local - float(plan.wake[h])) / _HOUR, 0.0), 1.0)
            setpoint -= float(hh.setback[h]) * cooled
        outdoor_day = self._outdoor_mean_24h(t)
        local_hour = (local % _DAY) / _HOUR
        solar = math.cos(2 * math.pi * (local_hour - 16.0) / 24.0)
        free = 13.5 + 0.5 * outdoor_day + (0.5 + 0.05 * max(outdoor_day, 0.0)) * solar
        # smooth maximum: the heating only keeps the room from falling below the set-point
        base = 0.5 * (setpoint + free + math.sqrt((setpoint - free) ** 2 + 0.5))
        drift = 0.3 * math.sin(2 * math.pi * t / float(hh.drift_period_s[h]) + hh.drift_phase[h])
        # the day-to-day offset glides from one day's value to the next
        into_day = (local - day * _DAY) / _DAY
        comfort = (1 - into_day) * float(plan.comfort[h]) + into_day * float(
            self._plan(day + 1).comfort[h]
        )
        return base + drift + comfort, context, outdoor_day

    def _hh_index(self, household: int) -> int:
        try:
            return self._household_index[household]
        except KeyError:
            raise KeyError(f"no household {household}") from None

    def _outdoor_mean_24h(self, t: float) -> float:
        cet = t + _CET
        year = _year_of(cet)
        i = int(cet / _HOUR - _cet_hour0(year)) + _HEAT_LEAD_HOURS
        return float(_trailing_day_mean(self._seed, year)[i])

    # ---- one step ---------------------------------------------------------------------------

    def _heat_energy(self, t0: float, t1: float) -> F64:
        """Space-heating energy per kWh of annual demand in [t0, t1), one value per shape."""
        total = np.zeros(_N_HEAT_SHAPES)
        a, stop = t0 + _CET, t1 + _CET
        while a < stop:
            year = _year_of(a)
            b = min(stop, float(_year_start(year + 1)))
            cum = _heat_cumulative(self._seed, year)
            y0 = _year_start(year)
            total += _cum_at_rows(cum, (b - y0) / _HOUR) - _cum_at_rows(cum, (a - y0) / _HOUR)
            a = b
        return total

    @staticmethod
    def _h0_energy(local0: float, local1: float) -> tuple[float, float]:
        """H0 energy per kWh of annual demand in [local0, local1), and its ratio to the mean."""
        total = 0.0
        a = local0
        year_seconds = 0.0
        while a < local1:
            year = _year_of(a)
            y0, y1 = _year_start(year), _year_start(year + 1)
            year_seconds = year_seconds or float(y1 - y0)
            b = min(local1, float(y1))
            cum = _h0_cumulative(year)
            total += _cum_at(cum, (b - y0) / _H0_SLOT) - _cum_at(cum, (a - y0) / _H0_SLOT)
            a = b
        return total, total / (local1 - local0) * year_seconds

    def _steady(self, out: F64, t0: float, t1: float) -> tuple[int, _Pieces, F64, float]:
        """Add everything but the uses (standby, compressors, H0 share, space heating) to ``out``.

        Returns what the use sampler needs too: the local-time offset, the day's occupancy
        pieces, the context exposure and the H0 ratio.
        """
        dt = t1 - t0
        offset = _utc_offset(t0)
        local0, local1 = t0 + offset, t1 + offset
        pieces = self._pieces(int(local0 // _DAY))
        exposure = self._exposure(pieces, local0, local1)
        h0, h0_ratio = self._h0_energy(local0, local1)

        if self._n_elec:
            activity = (_ACTIVITY - _ACTIVITY_AWAY) @ exposure / dt + _ACTIVITY_AWAY
            k0, r0 = np.divmod(t0 + self._cycle_phase, self._cycle_period)
            k1, r1 = np.divmod(t1 + self._cycle_phase, self._cycle_period)
            on: F64 = (k1 - k0) * self._cycle_on
            on += np.minimum(r1, self._cycle_on)
            on -= np.minimum(r0, self._cycle_on)
            compressors = np.bincount(
                self._cycle_meter, weights=on * self._cycle_kwh_per_s, minlength=self._n_elec
            )
            energy = self._base_kwh_per_s * dt + compressors
            energy += self._smooth_coef * (h0 * activity[self._elec_hh])
            out[self._elec] += energy
        if self._n_heated:
            heat = self._heat_energy(t0, t1)
            hh = self._heated_hh
            out[self._heated] += self._heat_coef * heat[self._heat_variant] * pieces.heating[hh]
        return offset, pieces, exposure, h0_ratio

    def _advance(self, engine: _Engine, t0: float, t1: float, out: F64) -> None:
        """Add the consumption of [t0, t1) (at most an hour) to ``out`` and move ``engine`` on."""
        offset, pieces, exposure, h0_ratio = self._steady(out, t0, t1)
        out += self._extra * ((t1 - t0) / _HOUR)

        if self._n_streams:
            # Expected new uses per (stream, group, context). Rather than one Poisson draw per
            # cell, draw the total and spread it over the cells in proportion (the same
            # process, by Poisson splitting, for a fraction of the cost on short steps).
            by_context = exposure if self._stream_is_household else exposure[:, self._stream_hh]
            lam = np.concatenate((by_context, by_context * h0_ratio))
            lam *= self._rate
            cumulative = np.cumsum(lam.T)  # stream-major
            expected = float(cumulative[-1])
            n_new = int(engine.rng.poisson(expected)) if expected > 0 else 0
            if n_new:
                # sorted keys make the search sequential and leave the streams in order
                keys = np.sort(engine.rng.random(n_new)) * expected
                cell = np.minimum(np.searchsorted(cumulative, keys, "right"), len(cumulative) - 1)
                stream, which = np.divmod(cell, 2 * _N_CONTEXTS)
                self._start_uses(
                    engine,
                    stream,
                    which,
                    pieces,
                    local0=t0 + offset,
                    local1=t1 + offset,
                    offset=offset,
                )

        if len(engine.meter):
            run = np.minimum(engine.end, t1)
            run -= np.maximum(engine.start, t0)
            np.maximum(run, 0.0, out=run)
            run *= engine.rate
            out += np.bincount(engine.meter, weights=run, minlength=len(out))
            alive = engine.end > t1
            if not alive.all():
                engine.meter = engine.meter[alive]
                engine.start = engine.start[alive]
                engine.end = engine.end[alive]
                engine.rate = engine.rate[alive]

    def _start_uses(
        self,
        engine: _Engine,
        stream: I64,
        which: I64,
        pieces: _Pieces,
        *,
        local0: float,
        local1: float,
        offset: float,
    ) -> None:
        """Start uses: one per entry of ``stream`` (sorted), in (group, context) ``which``."""
        u = engine.rng.random((4, len(stream)))
        context = which % _N_CONTEXTS
        # Which use: inverse CDF of the (stream, group, context) row, started from the guide
        # table and walked forward (rarely more than one step).
        row = stream * (2 * _N_CONTEXTS) + which
        use = self._use_guide[row * _GUIDE + (u[0] * _GUIDE).astype(np.int64)]
        base = row * _N_USES
        while True:
            behind = self._use_cdf[base + use] <= u[0]
            if not behind.any():
                break
            use += behind

        # When: uniformly within the part of [t0, t1) the household spends in that context.
        # A context has at most two intervals that can touch the step, yesterday's before
        # today's; an errand cutting the daytime in two is ignored, it outlasts most steps.
        households = self._stream_hh[stream]
        start, end, weight = pieces.start.ravel(), pieces.end.ravel(), pieces.weight.ravel()
        bounds = []
        for rows in _CONTEXT_ROWS:
            cell = rows[context] * pieces.start.shape[1] + households
            a = np.maximum(start[cell], local0)
            b = np.minimum(end[cell], local1)
            bounds.append((a, b, (b > a) & (weight[cell] > 0)))
        (a0, b0, ok0), (a1, b1, ok1) = bounds
        lo = np.where(ok0, a0, np.where(ok1, a1, local0))
        hi = np.where(ok1, b1, np.where(ok0, b0, local1))
        begin = lo + u[1] * (hi - lo) - offset

        # What: the use's segments that reach a meter of this stream.
        key = stream * _N_USES + use
        count = self._reached_count[key]
        event = np.repeat(np.arange(len(key)), count)
        first = np.cumsum(count) - count
        cell = key[event] * _MAX_SEGMENTS + (np.arange(len(event)) - first[event])
        meter = self._reached_meter[cell]
        params = _FLAT_PARAMS[:, self._reached_segment[cell]]  # (6, segments)
        stretch = u[2][event]
        start = begin[event] + params[0] + stretch * params[1]
        end = start + params[2] + stretch * params[3]
        rate = params[4] + u[3][event] * params[5]
        engine.meter = np.concatenate((engine.meter, meter))
        engine.start = np.concatenate((engine.start, start))
        engine.end = np.concatenate((engine.end, end))
        engine.rate = np.concatenate((engine.rate, rate))
