"""From stored rows to what an operator reads: balance series, daily roll-ups, alarms, suspects,
phase plans. The loss methods themselves are balance_grid's; this module only shapes their input.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from balance_grid.hierarchy import GridMeter

from .model import BalanceRow, MeterReading

HOUR = 3600
DAY = 86400
#: the share of a group's input lost in wires, until a measured one is configured
TECHNICAL_LOSS_FRACTION = 0.03


def _clean(values: NDArray[np.float64]) -> list[float | None]:
    return [None if math.isnan(v) else round(float(v), 4) for v in values.tolist()]


@dataclass(frozen=True, slots=True)
class BalanceSeries:
    """One node's balance on a regular grid of hours or days (NaN where nothing was measured)."""

    times: list[int]
    input_kwh: NDArray[np.float64]
    subscribers_kwh: NDArray[np.float64]
    completeness: NDArray[np.float64]

    @property
    def imbalance_kwh(self) -> NDArray[np.float64]:
        return self.input_kwh - self.subscribers_kwh

    @property
    def imbalance_pct(self) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = 100.0 * self.imbalance_kwh / self.input_kwh
        pct[~np.isfinite(pct)] = np.nan
        return pct

    @property
    def technical_kwh(self) -> NDArray[np.float64]:
        return TECHNICAL_LOSS_FRACTION * self.input_kwh

    def as_json(self) -> dict[str, Any]:
        return {
            "t": self.times,
            "input": _clean(self.input_kwh),
            "subscribers": _clean(self.subscribers_kwh),
            "imbalance": _clean(self.imbalance_kwh),
            "imbalance_pct": _clean(self.imbalance_pct),
            "technical": _clean(self.technical_kwh),
            "completeness": _clean(self.completeness),
        }


def series(rows: Iterable[BalanceRow], start: int, end: int, step: int = HOUR) -> BalanceSeries:
    """Hourly rows of one node onto a regular grid of ``step`` seconds (HOUR or DAY, UTC)."""
    first = start - start % step
    n = max(0, -(-(end - first) // step))
    inputs = np.full(n, np.nan)
    subs = np.full(n, np.nan)
    seen = np.zeros(n)
    expected = 0
    for row in rows:
        i = (row.hour - first) // step
        if not 0 <= i < n:
            continue
        if row.input_kwh is not None:
            inputs[i] = np.nan_to_num(inputs[i]) + row.input_kwh
        if row.subscribers_kwh is not None:
            subs[i] = np.nan_to_num(subs[i]) + row.subscribers_kwh
        seen[i] += row.input_meters + row.subscriber_meters
        expected = max(expected, row.input_expected + row.subscribers_expected)
    hours_per_step = step // HOUR
    completeness = np.minimum(1.0, seen / (expected * hours_per_step)) if expected else np.zeros(n)
    return BalanceSeries([first + i * step for i in range(n)], inputs, subs, completeness)


def by_node(rows: Iterable[BalanceRow]) -> dict[str, list[BalanceRow]]:
    out: dict[str, list[BalanceRow]] = {}
    for row in rows:
        out.setdefault(row.node_id, []).append(row)
    return out


@dataclass(frozen=True, slots=True)
class Alarm:
    node_id: str
    day: int
    kind: str  # "imbalance" | "negative_imbalance" | "missing_data"
    severity: str  # "warning" | "critical"
    value: float
    message: str

    def as_json(self, names: dict[str, str]) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "node_name": names.get(self.node_id, self.node_id),
            "day": datetime.fromtimestamp(self.day, UTC).date().isoformat(),
            "kind": self.kind,
            "severity": self.severity,
            "value": round(self.value, 2),
            "message": self.message,
        }


def alarms(
    rows: Iterable[BalanceRow], start: int, end: int, *, warn_pct: float = 8.0
) -> list[Alarm]:
    """Daily alarms of every node with data: imbalance above ``warn_pct`` (critical above twice
    that), a negative imbalance (a group meter reading low, or a subscriber double counted), and
    days with less than 90 % of the expected readings."""
    found: list[Alarm] = []
    # only days wholly inside the window and already over can be judged for completeness
    complete_until = min(end, int(time.time()) // HOUR * HOUR)
    for node_id, node_rows in by_node(rows).items():
        daily = series(node_rows, start, end, DAY)
        pct = daily.imbalance_pct
        for i, day in enumerate(daily.times):
            p, c = float(pct[i]), float(daily.completeness[i])
            if not math.isnan(p) and p > warn_pct:
                severity = "critical" if p > 2 * warn_pct else "warning"
                found.append(
                    Alarm(node_id, day, "imbalance", severity, p, f"imbalance {p:.1f} % of input")
                )
            elif not math.isnan(p) and p < -warn_pct / 2:
                found.append(
                    Alarm(
                        node_id,
                        day,
                        "negative_imbalance",
                        "warning",
                        p,
                        f"subscribers exceed the input by {-p:.1f} %",
                    )
                )
            if c < 0.9 and day >= start and day + DAY <= complete_until:
                severity = "critical" if c < 0.5 else "warning"
                found.append(
                    Alarm(
                        node_id,
                        day,
                        "missing_data",
                        severity,
                        100 * c,
                        f"{100 * c:.0f} % of the expected readings arrived",
                    )
                )
    found.sort(key=lambda a: (-a.day, a.severity != "critical", a.node_id))
    return found


@dataclass(frozen=True, slots=True)
class MeterMatrix:
    meter_ids: list[str]
    phases: list[str | None]
    hours: list[datetime]
    kwh: NDArray[np.float64]  # (N, T), NaN where missing


def subscriber_matrix(
    meters: Sequence[GridMeter], readings: Iterable[MeterReading], start: int, end: int
) -> MeterMatrix:
    subscribers = [m for m in meters if m.role == "subscriber"]
    index = {m.id: i for i, m in enumerate(subscribers)}
    first = start - start % HOUR
    t = max(0, -(-(end - first) // HOUR))
    kwh = np.full((len(subscribers), t), np.nan)
    for r in readings:
        i = index.get(r.meter_id)
        j = (r.hour - first) // HOUR
        if i is not None and 0 <= j < t:
            kwh[i, j] = r.value
    hours = [datetime.fromtimestamp(first + j * HOUR, UTC) for j in range(t)]
    return MeterMatrix([m.id for m in subscribers], [m.phase for m in subscribers], hours, kwh)


def suspects_json(
    balance: BalanceSeries, matrix: MeterMatrix, limit: int = 20
) -> list[dict[str, Any]]:
    """balance_grid.rank_suspects over a group (CPU work: call it off the event loop)."""
    from balance_grid import rank_suspects

    if not matrix.meter_ids or np.all(np.isnan(balance.input_kwh)):
        return []
    ranked = rank_suspects(balance.input_kwh, matrix.kwh, matrix.meter_ids, matrix.hours)
    return [
        {
            "meter_id": s.meter_id,
            "score": round(float(s.score), 4),
            "coefficient": round(float(s.coefficient), 4),
            "correlation": round(float(s.correlation), 4),
            "since": None if s.since is None else s.since.isoformat(),
            "kwh_lost": round(float(s.kwh_lost), 2),
            "evidence": s.evidence,
        }
        for s in ranked[:limit]
    ]


def phases_json(matrix: MeterMatrix, max_moves: int) -> dict[str, Any]:
    """balance_grid.recommend_phase_moves over the group's phased subscribers."""
    from balance_grid import recommend_phase_moves

    keep = [i for i, p in enumerate(matrix.phases) if p is not None]
    if not keep:
        return {"moves": [], "unphased": len(matrix.meter_ids)}
    kwh = np.nan_to_num(matrix.kwh[keep])
    plan = recommend_phase_moves(
        kwh,
        [str(matrix.phases[i]) for i in keep],
        [matrix.meter_ids[i] for i in keep],
        max_moves=max_moves,
    )
    return {
        "moves": [
            {"meter_id": m.meter_id, "from": m.from_phase, "to": m.to_phase} for m in plan.moves
        ],
        "loss_before_kwh": round(float(plan.loss_before_kwh), 3),
        "loss_after_kwh": round(float(plan.loss_after_kwh), 3),
        "reduction_pct": round(float(plan.reduction_pct), 2),
        "phase_kwh_before": {k: round(float(v), 2) for k, v in plan.phase_kwh_before.items()},
        "phase_kwh_after": {k: round(float(v), 2) for k, v in plan.phase_kwh_after.items()},
        "loss_share": {k: round(float(v), 4) for k, v in plan.loss_share.items()},
        "multi_phase_candidates": list(plan.multi_phase_candidates),
        "unphased": len(matrix.meter_ids) - len(keep),
    }


def profiles_json(matrix: MeterMatrix, meter_ids: Sequence[str]) -> dict[str, list[float | None]]:
    index = {m: i for i, m in enumerate(matrix.meter_ids)}
    return {m: _clean(matrix.kwh[index[m]]) for m in meter_ids if m in index}
