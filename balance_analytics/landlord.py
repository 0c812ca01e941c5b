"""Landlord view: what each meter really used and cost over a period, and what was paid for it.

Costs run through the meter's tariff plan from the start of the month the period begins in, so a
progressive tariff prices the period's first unit at the volume the month had already reached, as
the supplier's bill does.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .carriers import SECONDS_PER_HOUR, Carrier
from .series import HourlySeries, hour_floor, month_bounds, utc
from .tariffs import TariffAccumulator, TariffPlan


@dataclass(frozen=True, slots=True)
class LandlordMeter:
    """A meter of a rented property with its hourly data and how it is priced.

    ``paid``: what the tenant paid for this meter over the period, if known.
    """

    meter_id: str
    name: str
    carrier: Carrier
    series: HourlySeries
    plan: TariffPlan | None = None
    paid: float | None = None


@dataclass(frozen=True, slots=True)
class LandlordRow:
    meter_id: str
    name: str
    carrier: Carrier
    unit: str
    consumption: float
    cost: float | None
    paid: float | None
    coverage: float
    cost_by_zone: dict[str, float]

    @property
    def balance(self) -> float | None:
        """Paid minus cost: negative when the tenant paid less than was used."""
        if self.paid is None or self.cost is None:
            return None
        return self.paid - self.cost


@dataclass(frozen=True, slots=True)
class LandlordReport:
    start: datetime
    end: datetime
    currency: str
    rows: tuple[LandlordRow, ...]

    @property
    def total_cost(self) -> float:
        return sum(r.cost for r in self.rows if r.cost is not None)

    @property
    def total_paid(self) -> float:
        return sum(r.paid for r in self.rows if r.paid is not None)

    def as_dict(self) -> dict[str, object]:
        """Plain data, e.g. for an action's response."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "currency": self.currency,
            "total_cost": self.total_cost,
            "total_paid": self.total_paid,
            "meters": [
                {
                    "meter_id": r.meter_id,
                    "name": r.name,
                    "carrier": r.carrier.value,
                    "unit": r.unit,
                    "consumption": r.consumption,
                    "cost": r.cost,
                    "paid": r.paid,
                    "balance": r.balance,
                    "coverage": r.coverage,
                    "cost_by_zone": dict(r.cost_by_zone),
                }
                for r in self.rows
            ],
        }

    def to_csv(self) -> str:
        """One line per meter; numbers with a dot, empty where unknown."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "meter_id",
                "name",
                "carrier",
                "unit",
                "start",
                "end",
                "consumption",
                f"cost_{self.currency}",
                f"paid_{self.currency}",
                f"balance_{self.currency}",
                "data_coverage",
            ]
        )
        for r in self.rows:
            writer.writerow(
                [
                    r.meter_id,
                    r.name,
                    r.carrier.value,
                    r.unit,
                    self.start.isoformat(),
                    self.end.isoformat(),
                    _num(r.consumption, 3),
                    _num(r.cost, 2),
                    _num(r.paid, 2),
                    _num(r.balance, 2),
                    _num(r.coverage, 3),
                ]
            )
        return out.getvalue()


def _num(value: float | None, digits: int) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def landlord_report(
    meters: Sequence[LandlordMeter],
    start: float,
    end: float,
    currency: str = "EUR",
) -> LandlordReport:
    """Consumption and cost per meter over the whole hours of ``[start, end)``."""
    h0, h1 = hour_floor(start), hour_floor(end)
    if h1 <= h0:
        raise ValueError("the period must contain at least one whole hour")
    rows: list[LandlordRow] = []
    for meter in meters:
        window = meter.series.window(h0, h1)
        known = np.isfinite(window)
        consumption = float(np.sum(window[known]))
        coverage = float(np.count_nonzero(known) / len(window))
        cost: float | None = None
        by_zone: dict[str, float] = {}
        if meter.plan is not None:
            cost, by_zone = _cost(meter.series, meter.plan, h0, h1)
        rows.append(
            LandlordRow(
                meter_id=meter.meter_id,
                name=meter.name,
                carrier=meter.carrier,
                unit=meter.carrier.unit,
                consumption=consumption,
                cost=cost,
                paid=meter.paid,
                coverage=coverage,
                cost_by_zone=by_zone,
            )
        )
    return LandlordReport(utc(h0), utc(h1), currency, tuple(rows))


def _cost(
    series: HourlySeries, plan: TariffPlan, h0: int, h1: int
) -> tuple[float, dict[str, float]]:
    acc = TariffAccumulator(plan)
    month_start = month_bounds(h0, plan.tz)[0]
    lead = series.window(month_start, h0)
    for i, value in enumerate(lead.tolist()):
        if math.isfinite(value):
            t = month_start + i * SECONDS_PER_HOUR
            acc.add(t, t + SECONDS_PER_HOUR, value)
    before = {name: z.cost for name, z in acc.totals.items()}
    for i, value in enumerate(series.window(h0, h1).tolist()):
        if math.isfinite(value):
            t = h0 + i * SECONDS_PER_HOUR
            acc.add(t, t + SECONDS_PER_HOUR, value)
    by_zone = {name: z.cost - before.get(name, 0.0) for name, z in acc.totals.items()}
    return sum(by_zone.values()), by_zone
