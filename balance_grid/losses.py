"""Who is behind a group's imbalance: three methods and a combined ranking of suspects.

1. **Honesty coefficients** (Salinas, Fadil and Chen 2013; Yip et al. 2017): the group meter is a
   weighted sum of its subscribers plus a technical loss, ``I_t = Σ c_i·r_i,t + a + b·I_t² + ε``.
   An honest meter has ``c = 1``; a meter that under-reports by a factor α gets ``c = 1/α``. The
   quadratic term is the I²R loss of the wires, the constant the fixed loss. The fit is a ridge
   regression pulling every ``c`` towards 1 (most subscribers are honest, and household profiles
   are too alike for plain least squares over hundreds of them).
2. **Correlation** (the original BALANCE material): the imbalance left after the technical loss is
   correlated with each subscriber's hourly profile; a meter that hides part of its use leaves an
   imbalance shaped like its own profile.
3. **Change against the own forecast** (the magnet case): each subscriber's forecast is its own
   mean daily profile before a candidate day; if its readings change from that day on and the
   group's imbalance changes by the opposite amount, hour by hour of the day, it is the likely
   cause. The change day is where the subscriber's own profile shifts most; an honest household
   whose habits change (a holiday) does not move the imbalance and scores negatively. Hour by
   hour after that day, the imbalance's excess is also regressed on the readings and the
   forecast (an F statistic).
   This catches the attacks that keep the day's energy (h5, h6) and a stuck register, which
   method 1 cannot see.

   Method 3 also tries every day for an hourly shortfall: taking ``forecast − readings`` out of
   the imbalance with weight one, hour by hour (``ChangeFit.shortfall_statistic``; the forecast
   by weekday/weekend and scaled by the whole feeder's change, so that the weather and the
   weekend do not count as a shortfall), and the same with the forecast scaled to each day's own
   readings (``ChangeFit.shape_shortfall_statistic``: use moved between hours, the day's energy
   kept, as h5, h6 and a magnet do).

Method 1 also has a change-point form (``changepoint_coefficients``): every subscriber honest
before its own change day, then a coefficient on its readings and on its shortfall against the
forecast, all subscribers fitted together so that overlapping thefts are told apart.

``rank_suspects`` standardises the statistics over the group (median and MAD, so that the honest
majority sets the scale), adds up their weighted positive parts (several methods that agree a
little count for as much as one that is sure) and maps that to a score in 0..1.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

RIDGE = 0.02
"""Ridge weight relative to each subscriber's own energy: small, it only tames collinearity."""
RECENT_SHARE = 0.4
"""Methods 1 and 2 are also run on this last part of the window, where an ongoing theft is."""
CHANGE_Z = 3.0
"""A change against the own forecast this far above the group gives the suspect a "since"."""
MIN_SEGMENT_DAYS = 2
"""Days needed on each side of a change point for a forecast and a comparison."""
SHAPE_WEIGHT = 0.5
"""Weight of the shape correlations (method 2, method 3's hourly F) in the combined score."""
CHANGE_WEIGHT = 0.5
"""Weight of method 3's day-profile change statistic (its hourly shortfall counts fully)."""
PIECEWISE_WEIGHT = 0.7
"""Weight of the change-point fit of method 1 (the whole-window fits count fully)."""
SHAPE_SHORTFALL_WEIGHT = 0.75
"""Weight of the shortfall against the day-scaled forecast (energy kept, hours moved) relative to
the plain hourly shortfall; the larger of the two counts."""
DAY_TYPE_PRIOR_DAYS = 2.0
"""A weekday or weekend forecast is shrunk towards the all-day mean with this many days' weight
(a window may hold only one or two weekend days before a change)."""
SCORE_SCALE = 10.0
"""Combined evidence at which the score is 1 − 1/e; about the top 1 % of honest meters."""
NOTHING_BELOW = 5.0
"""Combined evidence under which the sentence says that nothing stands out (~top 5 % honest)."""
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Suspect:
    """A subscriber that may be behind the imbalance, with the evidence."""

    meter_id: str
    score: float
    """0..1, higher is more suspicious."""
    coefficient: float
    """Honesty coefficient: 1 = honest, > 1 = under-reports."""
    correlation: float
    """Of the imbalance with the subscriber's profile."""
    since: datetime | None
    """When the behaviour changed, if found."""
    kwh_lost: float
    """Estimated over the window."""
    evidence: str
    """One English sentence saying why."""


@dataclass(frozen=True)
class HonestyFit:
    """Result of method 1."""

    coefficients: NDArray[np.float64]
    """(N,) honesty coefficient per subscriber."""
    z: NDArray[np.float64]
    """(N,) (c − 1) over its standard error: how sure the fit is that c exceeds 1."""
    technical_kwh: NDArray[np.float64]
    """(T,) fitted technical loss a + b·I²."""


@dataclass(frozen=True)
class ChangeFit:
    """Result of method 3, per subscriber."""

    statistic: NDArray[np.float64]
    """(N,) how much of the imbalance's change the subscriber's change explains, in noise units."""
    hourly_statistic: NDArray[np.float64]
    """(N,) the same question hour by hour after the change: how much of the imbalance's excess
    over its own earlier profile the readings and the own forecast explain (F statistic)."""
    onset_day: NDArray[np.intp]
    """(N,) index of the first day after the change (−1 if no day was testable)."""
    explained: NDArray[np.float64]
    """(N,) share of the imbalance's change at that day explained by the subscriber (≤ 1)."""
    drop_pct: NDArray[np.float64]
    """(N,) fall of the subscriber's daily readings after the change, % of before."""
    kwh_lost: NDArray[np.float64]
    """(N,) readings short of the own forecast after the change, kWh (0 if none)."""
    shortfall_statistic: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    """(N,) hour by hour, how much taking the shortfall against the own forecast (forecast less
    readings) out of the imbalance reduces its squared error, in noise units, at the best day;
    signed square root. An honest household that changes its habits makes it negative."""
    shortfall_onset_day: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))
    """(N,) the day at which ``shortfall_statistic`` is largest (−1 if no day was testable)."""
    shape_shortfall_statistic: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    """(N,) as ``shortfall_statistic`` with the forecast of each day scaled to that day's own
    readings: it sees use moved between hours with the day's energy kept (readings flattened to
    the day's mean, reversed, a meter slowed in part of the day) without the day-to-day swing of
    the household's level, which the plain forecast pays for."""


@dataclass(frozen=True)
class ChangePointFit:
    """Result of method 1 with a change point: honest before the subscriber's day, β after."""

    after_coefficient: NDArray[np.float64]
    """(N,) the honesty coefficient from the change day on (1 = honest, 1/α for a share α)."""
    shortfall_coefficient: NDArray[np.float64]
    """(N,) how much of the shortfall against the own forecast reaches the group meter (1 for an
    attack that hides the difference, 0 for an honest change of habits)."""
    statistic: NDArray[np.float64]
    """(N,) Wald χ² (2 degrees of freedom) of both coefficients against honest (β = 1, 0)."""


def _prepare(
    input_kwh: NDArray[np.float64], subscribers_kwh: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Validated copies; missing subscriber hours filled from the same hour of its other days.

    A gap in one meter would otherwise look like a loss in the group. Hours with no group reading
    are left out of the fits (the returned mask).
    """
    inp = np.asarray(input_kwh, dtype=np.float64)
    subs = np.asarray(subscribers_kwh, dtype=np.float64)
    if inp.ndim != 1:
        msg = f"input_kwh must be (T,), got shape {inp.shape}"
        raise ValueError(msg)
    if subs.ndim != 2 or subs.shape[1] != inp.size:
        msg = f"subscribers_kwh must be (N, {inp.size}), got shape {subs.shape}"
        raise ValueError(msg)
    if np.any(np.isinf(inp)) or np.any(np.isinf(subs)):
        msg = "meter readings must be finite or NaN (missing), not infinite"
        raise ValueError(msg)
    valid = np.isfinite(inp)
    subs = subs.copy()
    missing = ~np.isfinite(subs)
    if missing.any():
        t = inp.size
        hod = np.arange(t) % 24
        for h in range(24):
            cols = hod == h
            block = subs[:, cols]
            with np.errstate(all="ignore"):
                fill = np.nanmean(np.where(np.isfinite(block), block, np.nan), axis=1)
            fill = np.nan_to_num(fill, nan=0.0)
            blank = ~np.isfinite(block)
            block[blank] = np.broadcast_to(fill[:, None], block.shape)[blank]
            subs[:, cols] = block
    return inp, subs, valid


def honesty_coefficients(
    input_kwh: NDArray[np.float64], subscribers_kwh: NDArray[np.float64], *, ridge: float = RIDGE
) -> HonestyFit:
    """Method 1: ``I = Σ c_i·r_i + a + b·I²`` by ridge regression of ``c`` towards 1."""
    inp, subs, valid = _prepare(input_kwh, subscribers_kwh)
    n = subs.shape[0]
    r = subs[:, valid]
    y_in = inp[valid]
    # with c = 1 + δ: I − Σr = Σ δ_i·r_i + a + b·I²
    y = y_in - r.sum(axis=0)
    z = np.vstack([r, np.ones_like(y_in), y_in**2])  # (N+2, T')
    gram = z @ z.T
    energy = np.einsum("it,it->i", r, r)
    penalty = np.concatenate([ridge * np.maximum(energy, 1e-9), [1e-9, 1e-9]])
    gram[np.diag_indices_from(gram)] += penalty
    beta = np.linalg.solve(gram, z @ y)
    resid = y - beta @ z
    dof = max(y.size - n - 2, 1)
    sigma2 = float(resid @ resid) / dof
    # standard errors from the ridge posterior, diag(G⁻¹)·σ²: profiles of similar households are
    # collinear, and σ²/G_ii alone would make those look far more certain than they are
    cov_diag = np.diag(np.linalg.inv(gram))[:n] * sigma2
    se = np.sqrt(np.maximum(cov_diag, 1e-18))
    technical = np.full(inp.size, np.nan)
    technical[valid] = beta[n] + beta[n + 1] * y_in**2
    return HonestyFit(coefficients=1.0 + beta[:n], z=beta[:n] / se, technical_kwh=technical)


def changepoint_coefficients(
    input_kwh: NDArray[np.float64],
    subscribers_kwh: NDArray[np.float64],
    hours: Sequence[datetime],
    onset_day: NDArray[np.intp],
    *,
    ridge: float = RIDGE,
) -> ChangePointFit:
    """Method 1 with a change point: each subscriber honest before its own day ``s``, then
    ``I = Σ r_i + Σ (β_i − 1)·r_i·[t ≥ s_i] + Σ δ_i·(f_i − r_i)·[t ≥ s_i] + a + b·I + c·I² + ε``.

    ``f_i`` is the subscriber's own mean profile by hour of day before ``s_i`` (its forecast).
    ``β`` is the honesty coefficient after the change (a share α of the use reported gives 1/α);
    ``δ`` is how much of the shortfall against the forecast the group meter sees (1 when the use
    went on and was hidden: zeroed hours, a stuck register, readings moved in time; 0 when the
    household really used less). All subscribers are fitted together, so that where several meters
    changed, each one's part of the imbalance is not counted against the others; the ridge pulls
    towards honest (β = 1, δ = 0) as in ``honesty_coefficients``. The statistic is the Wald χ² of
    ``(β − 1, δ)`` from the ridge posterior. ``onset_day`` is a day index from the first hour's
    day (``forecast_change`` gives one); −1 means no change, and the subscriber scores 0.
    """
    inp, subs, valid = _prepare(input_kwh, subscribers_kwh)
    n, t = subs.shape
    onset = np.asarray(onset_day, dtype=np.intp)
    if onset.shape != (n,):
        msg = f"onset_day must be ({n},), got shape {onset.shape}"
        raise ValueError(msg)
    day, hod, _ = _day_grid(hours, t)
    testable = onset > 0
    after = (day[None, :] >= onset[:, None]) & testable[:, None]
    before = ~after & testable[:, None]
    forecast = np.zeros((n, 24))
    for h in range(24):
        cols = hod == h
        counts = before[:, cols].sum(axis=1)
        forecast[:, h] = (subs[:, cols] * before[:, cols]).sum(axis=1) / np.maximum(counts, 1)
    scaled = np.where(after, subs, 0.0)
    shortfall = np.where(after, forecast[:, hod] - subs, 0.0)
    x = np.vstack([scaled, shortfall, np.ones(t), inp, inp**2])[:, valid]
    y = (inp - subs.sum(axis=0))[valid]
    gram = x @ x.T
    energy = np.einsum("it,it->i", x[: 2 * n], x[: 2 * n])
    penalty = np.concatenate([ridge * np.maximum(energy, 1e-9), [1e-9, 1e-9, 1e-9]])
    gram[np.diag_indices_from(gram)] += penalty
    beta = np.linalg.solve(gram, x @ y)
    resid = y - beta @ x
    sigma2 = max(float(resid @ resid) / max(y.size - 2 * n - 3, 1), 1e-18)
    inv = np.linalg.inv(gram)
    rows = np.arange(n)
    b = np.stack([beta[:n], beta[n : 2 * n]], axis=1)  # (N, 2)
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0] = inv[rows, rows]
    cov[:, 1, 1] = inv[n + rows, n + rows]
    cov[:, 0, 1] = cov[:, 1, 0] = inv[rows, n + rows]
    cov *= sigma2
    usable = testable & (energy[:n] > 1e-9) & (energy[n:] > 1e-9)
    cov[~usable] = np.eye(2)
    wald = np.einsum("ni,ni->n", b, np.linalg.solve(cov, b[..., None])[..., 0])
    return ChangePointFit(
        after_coefficient=1.0 + beta[:n],
        shortfall_coefficient=beta[n : 2 * n].copy(),
        statistic=np.where(usable, np.clip(wald, 0.0, None), 0.0),
    )


def imbalance_correlation(
    input_kwh: NDArray[np.float64],
    subscribers_kwh: NDArray[np.float64],
    technical_kwh: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Method 2: Pearson correlation of the imbalance beyond the technical loss with each profile.

    Without a technical estimate, the technical part is fitted as ``a + b·I²`` to the imbalance
    first: left in, the wires' loss follows the feeder's evening peak and would correlate with
    every household.
    """
    inp, subs, valid = _prepare(input_kwh, subscribers_kwh)
    e_all = np.where(valid, inp - subs.sum(axis=0), np.nan)
    if technical_kwh is None:
        technical_kwh = _technical_fit(inp, e_all, valid)
    e = (e_all - np.asarray(technical_kwh, dtype=np.float64))[valid]
    r = subs[:, valid]
    ec = e - e.mean()
    rc = r - r.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("it,it->i", rc, rc)) * math.sqrt(float(ec @ ec))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(norm > 0, (rc @ ec) / norm, 0.0)
    out: NDArray[np.float64] = np.clip(corr, -1.0, 1.0)
    return out


def _technical_fit(
    inp: NDArray[np.float64], e: NDArray[np.float64], valid: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """``a + b·I²`` fitted to the imbalance ``e`` over the valid hours; NaN elsewhere."""
    out = np.full(inp.size, np.nan)
    if not valid.any():
        return out
    i_valid = inp[valid]
    basis = np.column_stack([np.ones(i_valid.size), i_valid**2])
    coef, *_ = np.linalg.lstsq(basis, e[valid], rcond=None)
    out[valid] = basis @ coef
    return out


def _day_grid(hours: Sequence[datetime], t: int) -> tuple[NDArray[np.intp], NDArray[np.intp], int]:
    """Day index and hour of day of every reading (hours need not start at midnight)."""
    if len(hours) != t:
        msg = f"{len(hours)} hours given for {t} hourly values"
        raise ValueError(msg)
    if t == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), 0
    if any(h.tzinfo is None for h in hours):
        msg = "hours must be timezone-aware"
        raise ValueError(msg)
    first = hours[0].replace(hour=0, minute=0, second=0, microsecond=0)
    offsets = np.fromiter(
        ((h - first) // timedelta(hours=1) for h in hours), dtype=np.int64, count=t
    )
    if np.any(np.diff(offsets) <= 0):
        msg = "hours must be strictly increasing"
        raise ValueError(msg)
    day = (offsets // 24).astype(np.intp)
    return day, (offsets % 24).astype(np.intp), int(day[-1]) + 1


def forecast_change(
    input_kwh: NDArray[np.float64],
    subscribers_kwh: NDArray[np.float64],
    hours: Sequence[datetime],
    *,
    technical_kwh: NDArray[np.float64] | None = None,
    min_segment_days: int = MIN_SEGMENT_DAYS,
) -> ChangeFit:
    """Method 3: a change against the own forecast that the imbalance mirrors, hour by hour.

    The technical loss is taken out of the imbalance first (fitted as ``a + b·I²`` if not given):
    it follows the feeder's load, and a cold week moves it by more than a small flat uses.
    """
    inp, subs, valid = _prepare(input_kwh, subscribers_kwh)
    n, t = subs.shape
    day, hod, days = _day_grid(hours, t)
    # (N, days, 24) daily profiles and the imbalance's (days, 24); NaN where no reading
    grid = np.full((n, days, 24), np.nan)
    grid[:, day, hod] = subs
    e = np.where(valid, inp - subs.sum(axis=0), np.nan)
    if technical_kwh is None:
        technical_kwh = _technical_fit(inp, e, valid)
    e = e - np.asarray(technical_kwh, dtype=np.float64)
    egrid = np.full((days, 24), np.nan)
    egrid[day, hod] = e
    none = ChangeFit(
        statistic=np.zeros(n),
        hourly_statistic=np.zeros(n),
        onset_day=np.full(n, -1, dtype=np.intp),
        explained=np.zeros(n),
        drop_pct=np.zeros(n),
        kwh_lost=np.zeros(n),
        shortfall_statistic=np.zeros(n),
        shortfall_onset_day=np.full(n, -1, dtype=np.intp),
        shape_shortfall_statistic=np.zeros(n),
    )
    splits = np.arange(min_segment_days, days - min_segment_days + 1)
    if splits.size == 0:
        return none

    def cum(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Running sums and counts over days (axis −2), with a leading zero."""
        ok = np.isfinite(a)
        s = np.cumsum(np.where(ok, a, 0.0), axis=-2)
        c = np.cumsum(ok, axis=-2).astype(np.float64)
        pad = [(0, 0)] * a.ndim
        pad[-2] = (1, 0)
        return np.pad(s, pad), np.pad(c, pad)

    def before_after(
        a: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        s, c = cum(a)
        sb, cb = s[..., splits, :], c[..., splits, :]
        sa, ca = s[..., -1:, :] - sb, c[..., -1:, :] - cb
        with np.errstate(all="ignore"):
            return sb / cb, sa / ca, cb, ca

    rb, ra, _, ra_n = before_after(grid)  # (N, S, 24)
    eb, ea, ebn, ean = before_after(egrid)  # (S, 24)
    d_r = np.nan_to_num(ra - rb)
    d_e = np.nan_to_num(ea - eb)
    # the imbalance's day-to-day noise per hour of day, from differences of consecutive days so
    # that the step being looked for does not inflate it
    diffs = np.diff(egrid, axis=0)
    # an hour of day with no two consecutive days measured has no noise estimate: NaN, floored
    # below; numpy warns about that empty slice, which is expected here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mad = np.nanmedian(np.abs(diffs - np.nanmedian(diffs, axis=0)), axis=0)
    sigma = np.nan_to_num(_MAD_TO_SIGMA * mad / math.sqrt(2.0), nan=0.0)
    floor = max(float(np.nanmean(np.abs(egrid))) * 1e-3, 1e-6) if np.isfinite(egrid).any() else 1e-6
    sigma = np.maximum(sigma, floor)
    with np.errstate(all="ignore"):
        var = sigma[None, :] ** 2 * (1.0 / ebn + 1.0 / ean)  # (S, 24)
    var = np.where(np.isfinite(var) & (var > 0), var, np.inf)
    # reduction of the imbalance change's squared error if this subscriber explains it:
    # ||Δe||² − ||Δe + Δr||² = −2·Δe·Δr − ||Δr||², in units of the noise variance
    gain = (-2.0 * d_e[None] * d_r - d_r**2) / var[None]
    stat = gain.sum(axis=-1)  # (N, S)
    # the change day is the subscriber's own: where its daily profile shifts most against its own
    # day-to-day spread. Only then is the imbalance asked whether it moved in step; searching the
    # day that best fits the imbalance instead lets every honest household find some coincidence
    rdiff = np.diff(grid, axis=1)
    with np.errstate(all="ignore"):
        own_mad = np.nanmedian(np.abs(rdiff - np.nanmedian(rdiff, axis=1, keepdims=True)), axis=1)
        own_sigma = np.maximum(np.nan_to_num(_MAD_TO_SIGMA * own_mad / math.sqrt(2.0)), 1e-3)
        own_var = own_sigma[:, None, :] ** 2 * (1.0 / ebn + 1.0 / ean)[None]
    own = np.nan_to_num((d_r**2 / own_var).sum(axis=-1), nan=0.0)
    best = np.argmax(own, axis=1)
    rows = np.arange(n)
    statistic = stat[rows, best]
    de_norm = (d_e**2 / var).sum(axis=-1)  # (S,)
    with np.errstate(all="ignore"):
        explained = np.where(de_norm[best] > 0, statistic / de_norm[best], 0.0)
    before_daily = np.nansum(rb[rows, best], axis=-1)
    after_daily = np.nansum(ra[rows, best], axis=-1)
    with np.errstate(all="ignore"):
        drop = np.where(before_daily > 0, 100.0 * (1 - after_daily / before_daily), 0.0)
    after_days = ra_n[rows, best].max(axis=-1)
    lost = np.clip(before_daily - after_daily, 0.0, None) * after_days
    hourly = _hourly_match(
        subs,
        e,
        day=day,
        hod=hod,
        onset=splits[best],
        forecast=rb[rows, best],
        e_before=eb[best],
    )
    first = hours[0].replace(hour=0, minute=0, second=0, microsecond=0)
    weekend = np.array([(first + timedelta(days=int(d))).weekday() >= 5 for d in range(days)])
    shortfall, shortfall_day, shape_shortfall = _shortfall_scan(
        inp, subs, valid, grid, day=day, hod=hod, splits=splits, weekend=weekend
    )
    return ChangeFit(
        statistic=statistic,
        hourly_statistic=hourly,
        onset_day=splits[best].astype(np.intp),
        explained=np.clip(explained, -np.inf, 1.0),
        drop_pct=drop,
        kwh_lost=lost,
        shortfall_statistic=shortfall,
        shortfall_onset_day=shortfall_day,
        shape_shortfall_statistic=shape_shortfall,
    )


def _technical_basis(inp: NDArray[np.float64], hod: NDArray[np.intp]) -> NDArray[np.float64]:
    """``1, I, I²`` and ``I²`` times the first two harmonics of the day, as columns.

    The wires' resistance follows the temperature over the day, so the I²R part is not one
    constant times I² all day long; without these, what is left of it looks like an evening
    pattern that every household shares.
    """
    i2 = inp**2
    angle = 2.0 * math.pi * hod / 24.0
    cols = [np.ones_like(inp), inp, i2]
    for k in (1, 2):
        cols += [i2 * np.sin(k * angle), i2 * np.cos(k * angle)]
    return np.column_stack(cols)


def _sums_from(a: NDArray[np.float64], axis: int, splits: NDArray[np.intp]) -> NDArray[np.float64]:
    """Sums over days from each day in ``splits`` to the end, along ``axis`` (the days)."""
    c = np.cumsum(a, axis=axis)
    out: NDArray[np.float64] = np.take(c, [-1], axis=axis) - np.take(c, splits - 1, axis=axis)
    return out


def _shortfall_scan(
    inp: NDArray[np.float64],
    subs: NDArray[np.float64],
    valid: NDArray[np.bool_],
    grid: NDArray[np.float64],
    *,
    day: NDArray[np.intp],
    hod: NDArray[np.intp],
    splits: NDArray[np.intp],
    weekend: NDArray[np.bool_],
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64]]:
    """Per subscriber and candidate day ``s``: does taking ``h = forecast − readings`` (after s)
    out of the imbalance, hour by hour and with weight one, make the imbalance smaller?

    The gain ``2·h·e − ‖h‖²`` (both taken beyond the technical basis) is positive only when the
    imbalance rose by about what the readings fell short, in the same hours: a meter that hides
    use hands exactly that to the group meter, a household away from home does not (its ``h`` is
    as large but the imbalance stays, so the gain is −‖h‖²). With the weight fixed at one, an
    honest household cannot scale its profile to fit a step that another meter caused, which a
    free regression coefficient would let it do. Every day is tried, not only the subscriber's
    own largest change (which may be a holiday while the theft began on another day); trying them
    all raises every subscriber's maximum alike, and the ranking compares subscribers.

    The forecast is the subscriber's own mean profile before ``s`` by hour of day, separately for
    weekdays and weekends (each shrunk towards the all-day mean), times the whole feeder's change
    at that hour against the same forecast of its own total (the weather, the season and the
    weekend rhythm move most households together). Every wrong hour of the forecast counts against
    a culprit's gain, so a better forecast is what makes small thefts stand out.

    A second gain uses the plain forecast scaled to each day's own readings
    (``forecast·readings of the day / forecast of a day``): it carries no information about the
    day's level, only about its shape, and so is not spoiled by the household's day-to-day swing.
    Returned: the signed square roots of both best gains and the first's best day.
    """
    n = subs.shape[0]
    days = grid.shape[1]
    q, _ = np.linalg.qr(np.where(valid[:, None], np.nan_to_num(_technical_basis(inp, hod)), 0.0))
    k = q.shape[1]
    e = np.where(valid, np.nan_to_num(inp - subs.sum(axis=0)), 0.0)
    rho = e - q @ (q.T @ e)
    # the imbalance's noise from differences of consecutive hours: steps and daily shapes (which
    # are what is looked for) hardly enter it
    d = np.diff(rho[valid])
    sigma = (
        _MAD_TO_SIGMA * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)
        if d.size
        else 0.0
    )
    sigma = max(sigma, 1e-6)
    v = np.zeros((days, 24))
    v[day, hod] = valid
    r = np.zeros((n, days, 24))
    r[:, day, hod] = np.where(valid, subs, 0.0)
    eg = np.zeros((days, 24))
    eg[day, hod] = rho
    qg = np.zeros((days, 24, k))
    qg[day, hod] = q
    ok = np.isfinite(grid)
    g0 = np.where(ok, grid, 0.0)
    prior = splits - 1
    forecast = np.cumsum(g0, axis=1)[:, prior] / np.maximum(np.cumsum(ok, axis=1)[:, prior], 1)
    r2_after = _sums_from((r**2).sum(axis=-1), 1, splits)  # (N, S)
    re_after = _sums_from((r * eg[None]).sum(axis=-1), 1, splits)
    rq_after = _sums_from(np.einsum("ndh,dhk->ndk", r, qg), 1, splits)  # (N, S, K)

    # 1. forecast by day type, scaled by the feeder's own change: on day d (type τ), hour h,
    # forecast = w(s, τ, h)·total(d, h) with w = own mean / the feeder total's mean before s
    total = g0.sum(axis=0)  # (D, 24) what all subscribers reported
    t_ok = ok.any(axis=0)  # the hours of the window (gaps in a meter were filled)
    t_sum, t_cnt = np.cumsum(total, axis=0)[prior], np.cumsum(t_ok, axis=0)[prior]
    t_all = t_sum / np.maximum(t_cnt, 1)
    own_sum = np.cumsum(g0, axis=1)[:, prior]
    weekend_own = np.cumsum(g0 * weekend[None, :, None], axis=1)[:, prior]
    weekend_t = np.cumsum(total * weekend[:, None], axis=0)[prior]
    weekend_n = np.cumsum(t_ok & weekend[:, None], axis=0)[prior]
    h_e = -re_after
    h_h = r2_after.copy()
    h_q = -rq_after
    for kind in (False, True):
        m = (weekend == kind)[:, None]  # (D, 1)
        own = weekend_own if kind else own_sum - weekend_own
        tot = weekend_t if kind else t_sum - weekend_t
        n_kind = weekend_n if kind else t_cnt - weekend_n  # (S, 24)
        f_kind = (own + DAY_TYPE_PRIOR_DAYS * forecast) / (n_kind + DAY_TYPE_PRIOR_DAYS)[None]
        t_kind = (tot + DAY_TYPE_PRIOR_DAYS * t_all) / (n_kind + DAY_TYPE_PRIOR_DAYS)
        w = f_kind / np.maximum(t_kind, 1e-9)[None]  # (N, S, 24)
        tm = total * m
        te = _sums_from(tm * eg, 0, splits)  # (S, 24)
        tt = _sums_from(tm**2 * v, 0, splits)
        tr = _sums_from(r * tm[None], 1, splits)  # (N, S, 24)
        tq = _sums_from(tm[..., None] * qg, 0, splits)  # (S, 24, K)
        h_e = h_e + (w * te[None]).sum(axis=-1)
        h_h = h_h + (w**2 * tt[None]).sum(axis=-1) - 2.0 * (w * tr).sum(axis=-1)
        h_q = h_q + np.einsum("nsh,shk->nsk", w, tq)
    h_h = h_h - (h_q**2).sum(axis=-1)  # beyond the technical basis, as rho is
    gain = (2.0 * h_e - h_h) / sigma**2
    best = np.argmax(gain, axis=1)
    g = gain[np.arange(n), best]
    level: NDArray[np.float64] = np.sign(g) * np.sqrt(np.abs(g))

    # 2. the plain forecast scaled to the day's own readings: forecast(h)·R_d / Σ forecast
    day_kwh = g0.sum(axis=-1)  # (N, D)
    a = 1.0 / np.maximum(forecast.sum(axis=-1), 1e-9)  # (N, S)
    rd = day_kwh[:, :, None]
    s_e = a * (forecast * _sums_from(rd * eg[None], 1, splits)).sum(axis=-1) - re_after
    s_h = (
        a**2 * (forecast**2 * _sums_from(rd**2 * v[None], 1, splits)).sum(axis=-1)
        - 2.0 * a * (forecast * _sums_from(rd * r, 1, splits)).sum(axis=-1)
        + r2_after
    )
    s_q = np.empty_like(rq_after)
    for j in range(k):
        rq_j = _sums_from(rd * qg[None, :, :, j], 1, splits)  # (N, S, 24)
        s_q[..., j] = a * (forecast * rq_j).sum(axis=-1) - rq_after[..., j]
    s_h = s_h - (s_q**2).sum(axis=-1)
    shape_gain = ((2.0 * s_e - s_h) / sigma**2).max(axis=1)
    shape: NDArray[np.float64] = np.sign(shape_gain) * np.sqrt(np.abs(shape_gain))
    return level, splits[best].astype(np.intp), shape


def _hourly_match(
    subs: NDArray[np.float64],
    e: NDArray[np.float64],
    *,
    day: NDArray[np.intp],
    hod: NDArray[np.intp],
    onset: NDArray[np.intp],
    forecast: NDArray[np.float64],
    e_before: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per subscriber, after its change: regress the imbalance's excess on readings and forecast.

    Whatever a meter hides shows up in the imbalance hour by hour: a share of the readings
    (h1, under-registration), the forecast less the readings (h2, h4-h6, a magnet) or the whole
    forecast (a stuck register). Both regressors together cover all of these; the F statistic of
    the fit says how much of the excess they explain.
    """
    n = subs.shape[0]
    out = np.zeros(n)
    ok = np.isfinite(e)
    for i in range(n):
        after = (day >= onset[i]) & ok
        m = int(after.sum())
        if m < 24:
            continue
        h = hod[after]
        excess = e[after] - np.nan_to_num(e_before[i, h])
        x = np.column_stack([np.ones(m), subs[i, after], np.nan_to_num(forecast[i, h])])
        coef, *_ = np.linalg.lstsq(x, excess, rcond=None)
        fitted = x @ coef
        resid = excess - fitted
        rss = float(resid @ resid)
        centred = excess - excess.mean()
        ess = float(centred @ centred) - rss
        out[i] = (ess / 2.0) / max(rss / max(m - 3, 1), 1e-12)
    return out


def _robust_z(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Standardised by the group's median and MAD: the honest majority sets the scale."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) * _MAD_TO_SIGMA
    spread = mad if mad > 1e-12 else max(float(np.std(values)), 1e-12)
    out: NDArray[np.float64] = (values - med) / spread
    return out


def rank_suspects(
    input_kwh: NDArray[np.float64],
    subscribers_kwh: NDArray[np.float64],
    meter_ids: Sequence[str],
    hours: Sequence[datetime],
) -> list[Suspect]:
    """Every subscriber of the group, the most suspicious first, with the evidence."""
    subs = np.asarray(subscribers_kwh, dtype=np.float64)
    if subs.ndim != 2:
        msg = f"subscribers_kwh must be (N, T), got shape {subs.shape}"
        raise ValueError(msg)
    n = subs.shape[0]
    if len(meter_ids) != n:
        msg = f"{len(meter_ids)} meter ids given for {n} subscribers"
        raise ValueError(msg)
    if len(set(meter_ids)) != n:
        msg = "meter ids must be unique"
        raise ValueError(msg)
    if n == 0:
        return []
    inp = np.asarray(input_kwh, dtype=np.float64)
    honesty = honesty_coefficients(inp, subs)
    corr = imbalance_correlation(inp, subs, honesty.technical_kwh)
    change = forecast_change(inp, subs, hours, technical_kwh=honesty.technical_kwh)
    # a theft that began inside the window makes the readings fall just as the imbalance rises,
    # which the whole-window fits read as a negative relation; the recent part of the window
    # (where an ongoing theft is) sees it with the right sign
    cut = int(inp.size * (1.0 - RECENT_SHARE))
    recent = honesty_coefficients(inp[cut:], subs[:, cut:])
    corr_recent = imbalance_correlation(inp[cut:], subs[:, cut:], recent.technical_kwh)
    # both signs count: readings that move against the group meter (c < 1, or shifted in time
    # as h2, h4, h6 do) are as wrong as readings that are too small
    z_coef = np.maximum(np.abs(_robust_z(honesty.z)), np.abs(_robust_z(recent.z)))
    z_corr = np.maximum(np.abs(_robust_z(corr)), np.abs(_robust_z(corr_recent)))
    z_change = _robust_z(change.statistic)
    # the F statistic is heavy-tailed (one theft on a quiet feeder gives thousands): its log
    z_hourly = _robust_z(np.log1p(np.clip(change.hourly_statistic, 0.0, None)))
    # method 1 again, with each subscriber honest before its own change day and all of them
    # fitted together; and method 3's shortfall, hour by hour, at the best day
    piecewise = changepoint_coefficients(inp, subs, hours, change.onset_day)
    z_piecewise = _robust_z(np.log1p(piecewise.statistic))
    # the hourly shortfall against the forecast and against the day-scaled forecast: the larger
    z_shortfall = np.maximum(
        _robust_z(change.shortfall_statistic),
        SHAPE_SHORTFALL_WEIGHT * _robust_z(change.shape_shortfall_statistic),
    )
    # the correlations of shapes (method 2, method 3's hourly F and day-profile change) count
    # less: they fit free coefficients, which honest households with the feeder's evening rhythm
    # also satisfy when several meters hide use at once; the hourly shortfall, whose weight is
    # fixed at one, does not let them. Weights chosen on tuning seeds apart from the benchmark's
    # (docs/grid-analytics.md)
    combined = _combine(
        z_coef,
        SHAPE_WEIGHT * z_corr,
        CHANGE_WEIGHT * z_change,
        SHAPE_WEIGHT * z_hourly,
        PIECEWISE_WEIGHT * z_piecewise,
        z_shortfall,
    )
    # 0..1: ~0.5 at 7 units of combined evidence (the top 1 % of honest meters), saturating beyond
    score = 1.0 - np.exp(-np.clip(combined, 0.0, None) / SCORE_SCALE)
    _, subs_filled, _ = _prepare(inp, subs)
    energy = subs_filled.sum(axis=1)
    coefficient = np.where(
        np.abs(recent.z) > np.abs(honesty.z), recent.coefficients, honesty.coefficients
    )
    lost_coef = np.clip(coefficient - 1.0, 0.0, None) * energy
    out: list[Suspect] = []
    for i in np.argsort(-combined, kind="stable"):
        changed = change.onset_day[i] >= 0 and max(z_change[i], z_hourly[i]) >= CHANGE_Z
        onset = int(change.onset_day[i])
        since = _first_hour_of_day(hours, onset) if changed else None
        lost = float(change.kwh_lost[i]) if changed else float(lost_coef[i])
        out.append(
            Suspect(
                meter_id=meter_ids[i],
                score=float(score[i]),
                coefficient=float(coefficient[i]),
                correlation=float(corr[i]),
                since=since,
                kwh_lost=lost,
                evidence=_evidence(
                    float(coefficient[i]),
                    float(corr[i]),
                    since=since,
                    drop_pct=float(change.drop_pct[i]),
                    explained=float(change.explained[i]),
                    strength=float(combined[i]),
                    which=int(
                        np.argmax(
                            [
                                max(z_coef[i], z_piecewise[i]),
                                SHAPE_WEIGHT * z_corr[i],
                                max(z_change[i], SHAPE_WEIGHT * z_hourly[i], z_shortfall[i]),
                            ]
                        )
                    ),
                ),
            )
        )
    return out


def _first_hour_of_day(hours: Sequence[datetime], day_index: int) -> datetime | None:
    first = hours[0].replace(hour=0, minute=0, second=0, microsecond=0)
    target = first + timedelta(days=day_index)
    return next((h for h in hours if h >= target), None)


def _evidence(
    coefficient: float,
    correlation: float,
    *,
    since: datetime | None,
    drop_pct: float,
    explained: float,
    strength: float,
    which: int,
) -> str:
    if strength < NOTHING_BELOW:
        return (
            f"Nothing stands out: honesty coefficient {coefficient:.2f}, "
            f"correlation with the imbalance {correlation:.2f}."
        )
    if which == 2 and since is not None:
        change = f"fell by {drop_pct:.0f} %" if drop_pct >= 5 else "changed shape"
        return (
            f"Its readings {change} against its own forecast from {since:%Y-%m-%d} while the "
            f"group's imbalance rose in step ({100 * max(explained, 0):.0f} % of that rise "
            f"explained); honesty coefficient {coefficient:.2f}."
        )
    if which == 0:
        return (
            f"The group meter is best explained with this meter counting {coefficient:.2f}× "
            f"its readings (honest is 1.00); correlation with the imbalance {correlation:.2f}."
        )
    return (
        f"The imbalance beyond the technical loss follows this subscriber's profile "
        f"(correlation {correlation:.2f}); honesty coefficient {coefficient:.2f}."
    )


def _combine(*zs: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sum of the positive parts.

    The small thefts (a magnet on a quiet flat, 10 % under-registration) stand 1-2 robust SD
    above the group on several methods at once and on none by much; a root of the sum of squares
    lets one large statistic dominate and ranks them below honest meters with one lucky
    statistic, while a plain sum adds up their agreeing evidence (on the tuning seeds: top-3
    0.889 → 0.922, AUC 0.935 → 0.944). Negative parts are left out: a method that cannot see an
    attack kind (method 1 for h5) must not count against it.
    """
    stack = np.clip(np.vstack(zs), 0.0, None)
    out: NDArray[np.float64] = stack.sum(axis=0)
    return out
