"""How a home compares with the building average: consumption, temperature, efficiency.

The original BALANCE dashboards show three indicators next to each other: own/average consumption,
own/average indoor temperature, and energy efficiency. A flat that is kept 3 °C warmer than its
neighbours will use more heat and is not for that reason less efficient; the efficiency indicator
therefore compares consumption per degree of indoor-outdoor difference when temperatures are known,
and per m² when floor areas are known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_TEMPERATURE_DIFFERENCE_C = 1.0
"""Below this, indoor ≈ outdoor and "per degree" figures explode; the difference is clamped."""


@dataclass(frozen=True, slots=True)
class Indicators:
    """Ratios against the average; ``None`` where the inputs do not allow one.

    ``consumption_ratio`` > 1: the home used more than the average. ``temperature_ratio`` > 1: it
    was kept warmer. ``efficiency`` > 1: it needed less per degree (and per m²) than the average,
    i.e. it is more efficient. ``efficiency_basis`` says what was normalised.
    """

    consumption_ratio: float | None
    temperature_ratio: float | None
    efficiency: float | None
    efficiency_basis: str

    @property
    def consumption_percent(self) -> float | None:
        return None if self.consumption_ratio is None else self.consumption_ratio * 100

    @property
    def efficiency_percent(self) -> float | None:
        return None if self.efficiency is None else self.efficiency * 100


def _ratio(own: float | None, average: float | None) -> float | None:
    if own is None or average is None or not (math.isfinite(own) and math.isfinite(average)):
        return None
    if average <= 0:
        return None
    return own / average


def compare_with_average(
    own_consumption: float,
    average_consumption: float,
    *,
    own_indoor_c: float | None = None,
    average_indoor_c: float | None = None,
    outdoor_c: float | None = None,
    own_area_m2: float | None = None,
    average_area_m2: float | None = None,
) -> Indicators:
    """Indicators for one period; the average comes from the aggregator or the user's setting."""
    consumption_ratio = _ratio(own_consumption, average_consumption)
    temperature_ratio = _ratio(own_indoor_c, average_indoor_c)

    own_specific = own_consumption
    avg_specific = average_consumption
    basis: list[str] = []
    if own_indoor_c is not None and average_indoor_c is not None and outdoor_c is not None:
        own_delta = max(own_indoor_c - outdoor_c, MIN_TEMPERATURE_DIFFERENCE_C)
        avg_delta = max(average_indoor_c - outdoor_c, MIN_TEMPERATURE_DIFFERENCE_C)
        own_specific, avg_specific = own_consumption / own_delta, average_consumption / avg_delta
        basis.append("per_degree")
    if own_area_m2 and average_area_m2 and own_area_m2 > 0 and average_area_m2 > 0:
        own_specific, avg_specific = own_specific / own_area_m2, avg_specific / average_area_m2
        basis.append("per_m2")
    efficiency = _ratio(avg_specific, own_specific) if own_consumption > 0 else None
    return Indicators(
        consumption_ratio=consumption_ratio,
        temperature_ratio=temperature_ratio,
        efficiency=efficiency,
        efficiency_basis="_".join(basis) or "consumption",
    )
