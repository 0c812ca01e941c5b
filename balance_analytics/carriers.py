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

    @property
    def max_rate_per_hour(self) -> float:
        """More than any household connection can pass in an hour, in ``unit``.

        A total that rises faster was set by hand (a meter reading entered) or belongs to a
        swapped meter: that step is not consumption.
        """
        return _MAX_RATE_PER_HOUR[self]


_MAX_RATE_PER_HOUR: dict[Carrier, float] = {
    # a DN32 service pipe at 3 m/s passes about 9 m³/h
    Carrier.WATER: 20.0,
    # a G25 diaphragm meter's maximum is 40 m³/h; households have G1.6 to G10
    Carrier.GAS: 40.0,
    # a 3 x 250 A service: about 170 kW
    Carrier.ELECTRICITY: 250.0,
    # a district-heating substation of a large house
    Carrier.HEAT: 1000.0,
}

_UNITS: dict[Carrier, str] = {
    Carrier.ELECTRICITY: "kWh",
    Carrier.WATER: "m³",
    Carrier.GAS: "m³",
    Carrier.HEAT: "kWh",
}
