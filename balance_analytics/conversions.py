"""Conversions between carriers' units, CO₂ and the trees that would absorb it.

Every factor is configurable because the honest value depends on the country and the supplier: the
gas calorific value is printed on the gas bill, the electricity emission factor on the supplier's
fuel-mix disclosure. The defaults are documented, round and deliberately unexciting; the sources are
listed in ``docs/analytics.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .carriers import Carrier

KWH_PER_GCAL = 1163.0
"""1 Gcal = 4.1868 GJ (international steam-table calorie) = 1163 kWh, exact to four digits."""

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class ConversionFactors:
    """Factors for turning consumption into energy, CO₂ and trees.

    ``gas_kwh_per_m3``: gross calorific value of the gas as billed. 10.55 kWh/m³ (38 MJ/m³) sits in
    the middle of the 10-11.5 kWh/m³ that European H-gas bills show.

    CO₂ factors are kg CO₂-equivalent per unit delivered to the home:
    electricity 0.25 kg/kWh (EU-27 generation average of the early 2020s, EEA), gas 0.183 kg/kWh
    on the gross calorific value (UK DEFRA 2024; IPCC 2006 gives 56.1 t/TJ on the net value, the
    same figure once converted), heat 0.20 kg/kWh (heat from a gas boiler at about 90 % efficiency),
    water 0.30 kg/m³ (supply plus waste-water treatment, the order of magnitude of the DEFRA water
    factors; it varies widely between utilities).

    ``tree_kg_co2_per_year``: 22 kg, the widely quoted uptake of one mature tree (48 lb).
    """

    gas_kwh_per_m3: float = 10.55
    co2_kg_per_kwh_electricity: float = 0.25
    co2_kg_per_kwh_gas: float = 0.183
    co2_kg_per_kwh_heat: float = 0.20
    co2_kg_per_m3_water: float = 0.30
    tree_kg_co2_per_year: float = 22.0

    def __post_init__(self) -> None:
        for name in ("gas_kwh_per_m3", "tree_kg_co2_per_year"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive, got {value}")
        # zero is a legitimate emission factor (a certified green tariff), a negative one is not
        for name in (
            "co2_kg_per_kwh_electricity",
            "co2_kg_per_kwh_gas",
            "co2_kg_per_kwh_heat",
            "co2_kg_per_m3_water",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must not be negative, got {value}")


DEFAULT_FACTORS = ConversionFactors()


def to_kwh(carrier: Carrier, amount: float, factors: ConversionFactors = DEFAULT_FACTORS) -> float:
    """Energy content in kWh. Water carries no energy of its own and raises ``ValueError``."""
    match carrier:
        case Carrier.ELECTRICITY | Carrier.HEAT:
            return amount
        case Carrier.GAS:
            return amount * factors.gas_kwh_per_m3
        case Carrier.WATER:
            raise ValueError("water has no energy equivalent")


def to_gas_m3(
    carrier: Carrier, amount: float, factors: ConversionFactors = DEFAULT_FACTORS
) -> float:
    """The volume of gas with the same energy content ("how many m³ of gas is my heat bill")."""
    return to_kwh(carrier, amount, factors) / factors.gas_kwh_per_m3


def to_gcal(carrier: Carrier, amount: float, factors: ConversionFactors = DEFAULT_FACTORS) -> float:
    return to_kwh(carrier, amount, factors) / KWH_PER_GCAL


def co2_kg(carrier: Carrier, amount: float, factors: ConversionFactors = DEFAULT_FACTORS) -> float:
    match carrier:
        case Carrier.ELECTRICITY:
            return amount * factors.co2_kg_per_kwh_electricity
        case Carrier.HEAT:
            return amount * factors.co2_kg_per_kwh_heat
        case Carrier.GAS:
            return to_kwh(carrier, amount, factors) * factors.co2_kg_per_kwh_gas
        case Carrier.WATER:
            return amount * factors.co2_kg_per_m3_water


def trees_per_year(
    co2_kg_in_period: float, period_days: float, factors: ConversionFactors = DEFAULT_FACTORS
) -> float:
    """Trees that would have to grow for a year to absorb the period's CO₂ at the same yearly rate.

    Annualising first keeps the figure comparable between a week and a month: a tree absorbs per
    year, so 10 kg in a week is a very different forest from 10 kg in a year.
    """
    if not period_days > 0:
        raise ValueError(f"period must be positive, got {period_days} days")
    per_year = co2_kg_in_period * DAYS_PER_YEAR / period_days
    return per_year / factors.tree_kg_co2_per_year


@dataclass(frozen=True, slots=True)
class Equivalents:
    """One consumption figure in every unit a household may want to see it in.

    Energy figures are ``None`` for water, which has no energy equivalent.
    """

    carrier: Carrier
    amount: float
    unit: str
    kwh: float | None
    gas_m3: float | None
    gcal: float | None
    co2_kg: float
    trees_per_year: float


def equivalents(
    carrier: Carrier,
    amount: float,
    period_days: float,
    factors: ConversionFactors = DEFAULT_FACTORS,
) -> Equivalents:
    co2 = co2_kg(carrier, amount, factors)
    has_energy = carrier is not Carrier.WATER
    return Equivalents(
        carrier=carrier,
        amount=amount,
        unit=carrier.unit,
        kwh=to_kwh(carrier, amount, factors) if has_energy else None,
        gas_m3=to_gas_m3(carrier, amount, factors) if has_energy else None,
        gcal=to_gcal(carrier, amount, factors) if has_energy else None,
        co2_kg=co2,
        trees_per_year=trees_per_year(co2, period_days, factors),
    )
