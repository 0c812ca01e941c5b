"""Hourly and daily balances of a group: input, sum of subscribers, imbalance, technical part.

A group is anything with a meter at its input (a feeder, a house input) and subscriber meters
below it. Missing readings are NaN. An hour's subscriber sum only counts the meters that reported;
the hour's completeness says how much of the group did, so that a low-completeness hour's
"imbalance" is read as missing data rather than as a loss. Roll-ups add balances of sibling
groups (a street is the sum of its houses) and hours into days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from numpy.typing import NDArray

DEFAULT_TECHNICAL_LOSS_FRACTION = 0.03


@dataclass(frozen=True)
class GroupBalance:
    """A group's balance per period; all arrays have one value per period (hour or day)."""

    input_kwh: NDArray[np.float64]
    """Group meter; NaN where it did not report."""
    subscribers_kwh: NDArray[np.float64]
    """Sum of the subscriber meters that reported."""
    imbalance_kwh: NDArray[np.float64]
    """input − subscribers; NaN where the input is missing."""
    imbalance_pct: NDArray[np.float64]
    """imbalance as % of input; NaN where the input is missing or zero."""
    technical_kwh: NDArray[np.float64]
    """Estimated technical (wire) loss; the rest of the imbalance is commercial loss."""
    completeness: NDArray[np.float64]
    """0..1: the share of readings present (group meter and subscribers, equally weighted)."""

    @property
    def commercial_kwh(self) -> NDArray[np.float64]:
        """Imbalance beyond the technical estimate: theft, faulty meters, unmetered supply."""
        out: NDArray[np.float64] = self.imbalance_kwh - self.technical_kwh
        return out


def _as_1d(name: str, values: NDArray[np.float64]) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        msg = f"{name} must be one value per hour (T,), got shape {arr.shape}"
        raise ValueError(msg)
    return arr


def group_balance(
    input_kwh: NDArray[np.float64],
    subscribers_kwh: NDArray[np.float64],
    technical_loss_fraction: float = DEFAULT_TECHNICAL_LOSS_FRACTION,
) -> GroupBalance:
    """The hourly balance of one group from its input meter and its subscribers' meters."""
    inp = _as_1d("input_kwh", input_kwh)
    subs = np.asarray(subscribers_kwh, dtype=np.float64)
    if subs.ndim == 1 and subs.size == 0:
        subs = subs.reshape(0, inp.size)
    if subs.ndim != 2 or subs.shape[1] != inp.size:
        msg = f"subscribers_kwh must be (N, {inp.size}) to match input_kwh, got {subs.shape}"
        raise ValueError(msg)
    if not 0.0 <= technical_loss_fraction < 1.0:
        msg = f"technical_loss_fraction must be in [0, 1), got {technical_loss_fraction}"
        raise ValueError(msg)
    if np.any(np.isinf(inp)) or np.any(np.isinf(subs)):
        msg = "meter readings must be finite or NaN (missing), not infinite"
        raise ValueError(msg)
    present = np.isfinite(subs)
    sub_sum = np.where(present, subs, 0.0).sum(axis=0)
    imbalance = inp - sub_sum
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(inp != 0.0, 100.0 * imbalance / inp, np.nan)
    completeness = (present.sum(axis=0) + np.isfinite(inp)) / (subs.shape[0] + 1)
    return GroupBalance(
        input_kwh=inp,
        subscribers_kwh=sub_sum,
        imbalance_kwh=imbalance,
        imbalance_pct=pct,
        technical_kwh=inp * technical_loss_fraction,
        completeness=completeness.astype(np.float64),
    )


def combine(balances: Sequence[GroupBalance]) -> GroupBalance:
    """Roll sibling groups up into their parent: sums per period, completeness weighted by size.

    A parent's input here is the sum of its children's inputs (there may be no parent meter);
    a period where any child's input is missing stays NaN, never silently smaller.
    """
    if not balances:
        msg = "nothing to combine"
        raise ValueError(msg)
    sizes = {b.input_kwh.size for b in balances}
    if len(sizes) != 1:
        msg = f"balances cover different numbers of periods: {sorted(sizes)}"
        raise ValueError(msg)
    inp = np.sum([b.input_kwh for b in balances], axis=0)
    subs = np.sum([b.subscribers_kwh for b in balances], axis=0)
    tech = np.sum([b.technical_kwh for b in balances], axis=0)
    imbalance = inp - subs
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(inp != 0.0, 100.0 * imbalance / inp, np.nan)
    completeness = np.mean([b.completeness for b in balances], axis=0)
    return GroupBalance(inp, subs, imbalance, pct, tech, completeness)


def daily(balance: GroupBalance, hours: Sequence[datetime]) -> tuple[list[date], GroupBalance]:
    """Hours into calendar days (of the hours' own time zone): sums, and mean completeness.

    A day's input is NaN if any of its hours is missing, so a partial day never looks like a
    day with less loss; its completeness tells how much is there.
    """
    n = balance.input_kwh.size
    if len(hours) != n:
        msg = f"{len(hours)} hours given for {n} hourly values"
        raise ValueError(msg)
    days = [h.date() for h in hours]
    order = sorted(set(days))
    pos = {d: i for i, d in enumerate(order)}
    idx = np.fromiter((pos[d] for d in days), dtype=np.intp, count=n)
    m = len(order)

    def total(values: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = np.bincount(idx, weights=values, minlength=m).astype(np.float64)
        return out

    counts = np.bincount(idx, minlength=m).astype(np.float64)
    inp = total(balance.input_kwh)  # NaN propagates: a day with a missing hour stays NaN
    subs = total(balance.subscribers_kwh)
    tech = total(balance.technical_kwh)
    imbalance = inp - subs
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(inp != 0.0, 100.0 * imbalance / inp, np.nan)
    completeness = total(balance.completeness) / counts
    return order, GroupBalance(inp, subs, imbalance, pct, tech, completeness)
