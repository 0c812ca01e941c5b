"""Small, readable household patterns for the analytics tests.

Each builder returns hourly consumption for whole local days starting at local midnight, with the
habits a real home has: water in the morning and evening plus a toilet visit at night, gas for
cooking, a fridge and standby that never stop. A seed makes every day a little different.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

TZ = ZoneInfo("Europe/Chisinau")
HOUR = 3600


def midnight(year: int, month: int, day: int, tz: ZoneInfo = TZ) -> int:
    return int(datetime(year, month, day, tzinfo=tz).timestamp())


def water_days(
    days: int, seed: int = 0, *, toilet_at_night: bool = True
) -> npt.NDArray[np.float64]:
    """m³ per hour: showers and kitchen in the morning and evening, quiet at night and mid-day."""
    rng = np.random.default_rng(seed)
    out = np.zeros(days * 24)
    for d in range(days):
        day = out[d * 24 : (d + 1) * 24]
        for hour in (7, 8, 13, 18, 19, 20, 21, 22):
            day[hour] = rng.uniform(0.01, 0.09)
        if toilet_at_night:
            day[rng.integers(1, 5)] += 0.006
    return out


def gas_days(days: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """m³ per hour for a home that cooks on gas: breakfast and dinner, nothing at night."""
    rng = np.random.default_rng(seed)
    out = np.zeros(days * 24)
    for d in range(days):
        out[d * 24 + 8] = rng.uniform(0.05, 0.12)
        out[d * 24 + 19] = rng.uniform(0.15, 0.35)
    return out


def heated_gas_days(
    days: int, seed: int = 0, *, winter_nights: bool = True
) -> npt.NDArray[np.float64]:
    """A gas boiler that also heats: cycling through the night, more on cold nights."""
    rng = np.random.default_rng(seed)
    out = gas_days(days, seed)
    if winter_nights:
        for d in range(days):
            cold = rng.uniform(0.1, 0.4)
            night = d * 24 + np.arange(0, 7)
            out[night] += cold * rng.uniform(0.2, 1.8, 7)
    return out


def electricity_days(
    days: int, seed: int = 0, *, standby_w: float = 45.0
) -> npt.NDArray[np.float64]:
    """kWh per hour: standby and a fridge's average all day, cooking, lights and TV at night."""
    rng = np.random.default_rng(seed)
    fridge_w = 35.0
    out = np.full(days * 24, (standby_w + fridge_w) / 1000)
    out += rng.normal(0.0, 0.003, days * 24).clip(-0.006, 0.006)
    for d in range(days):
        out[d * 24 + 7 : d * 24 + 9] += rng.uniform(0.2, 0.6)
        out[d * 24 + 18 : d * 24 + 23] += rng.uniform(0.3, 0.9, 5)
    return out
