"""What is metered, in which unit, and the calendar constants every loss estimate uses."""

from __future__ import annotations

from enum import StrEnum

HOURS_PER_DAY = 24.0
DAYS_PER_MONTH = 365.25 / 12
"""An average month: a dripping tap of 15 L/h is then 11.0 m³ a month, as households know it."""

SECONDS_PER_HOUR = 3600


class Carrier(StrEnum):
    """The energy or water carrier behind a meter.

    Kept separate from ``dmesh_lib.units.MeterKind`` on purpose: the analytics also serve meters
    that are already in Home Assistant and have nothing to do with DMesh.
    """

    ELECTRICITY = "electricity"
    WATER = "water"
    GAS = "gas"
    HEAT = "heat"

    @property
    def unit(self) -> str:
        return _UNITS[self]


_UNITS: dict[Carrier, str] = {
    Carrier.ELECTRICITY: "kWh",
    Carrier.WATER: "m³",
    Carrier.GAS: "m³",
    Carrier.HEAT: "kWh",
}
