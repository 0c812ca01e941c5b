"""Conversions, comparison with the building average, and the landlord view."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from balance_analytics import (
    KWH_PER_GCAL,
    Carrier,
    ConversionFactors,
    HourlySeries,
    LandlordMeter,
    PriceSchedule,
    TariffPlan,
    co2_kg,
    compare_with_average,
    equivalents,
    landlord_report,
    to_gas_m3,
    to_gcal,
    to_kwh,
    trees_per_year,
)

from .households import HOUR, TZ, midnight

# --- conversions ------------------------------------------------------------------------------


def test_gas_converts_to_kwh_with_the_calorific_value_on_the_bill() -> None:
    assert to_kwh(Carrier.GAS, 100) == pytest.approx(1055)
    bill = ConversionFactors(gas_kwh_per_m3=11.2)
    assert to_kwh(Carrier.GAS, 100, bill) == pytest.approx(1120)


def test_one_gcal_is_1163_kwh() -> None:
    assert to_gcal(Carrier.HEAT, KWH_PER_GCAL) == pytest.approx(1.0)
    assert to_gcal(Carrier.GAS, 110.24) == pytest.approx(1.0, rel=1e-3)


def test_gas_saving_of_228_m3_in_co2_and_trees() -> None:
    saved = equivalents(Carrier.GAS, 228, period_days=90)
    assert saved.kwh == pytest.approx(228 * 10.55)
    assert saved.co2_kg == pytest.approx(228 * 10.55 * 0.183)  # about 440 kg
    # 440 kg in a quarter is 1785 kg a year: about 81 trees
    assert saved.trees_per_year == pytest.approx(saved.co2_kg * 365.25 / 90 / 22)


def test_water_has_no_energy_but_has_a_footprint() -> None:
    water = equivalents(Carrier.WATER, 10, period_days=30)
    assert water.kwh is None
    assert water.gcal is None
    assert water.co2_kg == pytest.approx(3.0)
    with pytest.raises(ValueError, match="no energy"):
        to_kwh(Carrier.WATER, 1)


def test_a_green_tariff_has_zero_emissions_but_no_factor_may_be_negative() -> None:
    assert co2_kg(Carrier.ELECTRICITY, 100, ConversionFactors(co2_kg_per_kwh_electricity=0)) == 0
    with pytest.raises(ValueError, match="negative"):
        ConversionFactors(co2_kg_per_kwh_gas=-0.1)
    with pytest.raises(ValueError, match="positive"):
        ConversionFactors(gas_kwh_per_m3=0)
    with pytest.raises(ValueError, match="period"):
        trees_per_year(10, 0)


@given(st.floats(0, 1e6), st.floats(5, 15))
def test_heat_in_gas_m3_and_back(amount: float, calorific: float) -> None:
    factors = ConversionFactors(gas_kwh_per_m3=calorific)
    m3 = to_gas_m3(Carrier.HEAT, amount, factors)
    assert to_kwh(Carrier.GAS, m3, factors) == pytest.approx(amount)


# --- comparison -------------------------------------------------------------------------------


def test_using_more_than_average_while_keeping_warmer_can_still_be_efficient() -> None:
    result = compare_with_average(
        own_consumption=120,
        average_consumption=100,
        own_indoor_c=23,
        average_indoor_c=20,
        outdoor_c=0,
    )
    assert result.consumption_ratio == pytest.approx(1.2)
    assert result.temperature_ratio == pytest.approx(1.15)
    # 120/23 per degree against 100/20: 5.22 vs 5.0, slightly less efficient
    assert result.efficiency == pytest.approx((100 / 20) / (120 / 23))
    assert result.efficiency_basis == "per_degree"


def test_per_square_metre_comparison() -> None:
    result = compare_with_average(100, 100, own_area_m2=50, average_area_m2=100)
    assert result.efficiency == pytest.approx(0.5)
    assert result.efficiency_percent == pytest.approx(50)
    assert result.efficiency_basis == "per_m2"


def test_no_average_no_ratio() -> None:
    result = compare_with_average(100, 0)
    assert result.consumption_ratio is None
    assert result.temperature_ratio is None


# --- landlord ---------------------------------------------------------------------------------


def test_landlord_sees_use_cost_and_what_the_tenant_paid_per_meter() -> None:
    may = midnight(2025, 5, 1)
    hours = 31 * 24
    water = HourlySeries.from_values(may, np.full(hours, 0.01))
    power = HourlySeries.from_values(may, np.full(hours, 0.2))
    social = TariffPlan.flat(PriceSchedule.parse("100:1.0, *:2.0"), TZ)
    meters = [
        LandlordMeter("w1", "Flat 2 water", Carrier.WATER, water, TariffPlan.flat(3.0, TZ), 20.0),
        LandlordMeter("e1", "Flat 2 power", Carrier.ELECTRICITY, power, social, 150.0),
    ]
    # the tenant's second half of May: the month's first 100 kWh are already behind them
    start = may + 15 * 24 * HOUR
    report = landlord_report(meters, start, may + hours * HOUR, currency="MDL")
    water_row, power_row = report.rows
    assert water_row.consumption == pytest.approx(16 * 24 * 0.01)
    assert water_row.cost == pytest.approx(16 * 24 * 0.01 * 3.0)
    assert power_row.consumption == pytest.approx(16 * 24 * 0.2)
    # 72 kWh were used before the period: 28 more at 1.0, the rest at 2.0
    assert power_row.cost == pytest.approx(28 * 1.0 + (76.8 - 28) * 2.0)
    assert power_row.balance == pytest.approx(150.0 - power_row.cost)
    assert report.total_cost == pytest.approx(water_row.cost + power_row.cost)

    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [r["meter_id"] for r in rows] == ["w1", "e1"]
    assert float(rows[1]["cost_MDL"]) == pytest.approx(power_row.cost, abs=0.005)
    assert rows[0]["data_coverage"] == "1.000"
    assert report.as_dict()["meters"][1]["balance"] == pytest.approx(power_row.balance)


def test_landlord_report_shows_gaps_and_unknown_cost() -> None:
    start = midnight(2025, 5, 1)
    values = np.full(48, 0.1)
    values[:12] = math.nan
    meter = LandlordMeter("g1", "Gas", Carrier.GAS, HourlySeries.from_values(start, values))
    report = landlord_report([meter], start, start + 48 * HOUR)
    row = report.rows[0]
    assert row.coverage == pytest.approx(0.75)
    assert row.cost is None
    line = report.to_csv().splitlines()[1].split(",")
    assert line[7] == ""  # cost unknown, not zero
