"""Per-phase load and loss in an in-house network, and moves of subscribers between phases.

The network is a three-phase riser with a neutral; each subscriber hangs on one phase. With unity
power factor and equal phase voltages, the hourly loss is

    L = k * (R * (Ia² + Ib² + Ic²) + Rn * |Ia + a·Ib + a²·Ic|²),   a = exp(j·2π/3)

where ``|…|²`` is the neutral current squared, ``Ia² + Ib² + Ic² - Ia·Ib - Ib·Ic - Ia·Ic``. Because
the loss is quadratic in the phase loads, moving subscriber ``i`` with hourly use ``x`` from phase
``p`` to ``q`` changes the window's loss by exactly ``c·Σ x·(P_q − P_p + x)`` with
``c = k·(2R + 3Rn)``: every candidate move is priced with one matrix product, which makes the
greedy search fast enough for a 500-subscriber house over months. A brute-force solver over all
assignments with at most ``max_moves`` changes checks the greedy plan on small houses (tests).

Each subscriber's share of the losses is its marginal contribution ``Σ x·∂L/∂P`` over ``2L``; for
a quadratic loss these shares add up to one (Euler's theorem), and a subscriber that balances the
others (its load cuts the neutral current) gets a negative share.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

PHASES: Final = ("A", "B", "C")
VOLTAGE_V: Final = 230.0
RISER_OHM: Final = 0.05
"""Resistance of one phase conductor of an in-house riser, ohm (tens of metres of 16-25 mm² Cu)."""
NEUTRAL_OHM: Final = 0.05
MULTI_PHASE_PEAK_KW: Final = 5.0
"""Hourly mean load above which one phase is the bottleneck (a 32 A breaker is 7.4 kW)."""
MULTI_PHASE_MIN_SHARE: Final = 0.02
"""Splitting a subscriber over three phases must cut the losses by at least this share."""


@dataclass(frozen=True)
class PhaseMove:
    """Move one subscriber from one phase to another."""

    meter_id: str
    from_phase: str
    to_phase: str


@dataclass(frozen=True)
class PhasePlan:
    """Recommended moves and what they change, over the analysed window."""

    moves: list[PhaseMove]
    loss_before_kwh: float
    loss_after_kwh: float
    reduction_pct: float
    phase_kwh_before: dict[str, float]
    phase_kwh_after: dict[str, float]
    loss_share: dict[str, float]
    """meter_id -> share of the losses before the moves (adds up to 1; may be negative)."""
    multi_phase_candidates: list[str]
    """Subscribers that should get two or three phases, the most useful first."""


def _phase_index(phases: Sequence[str], n: int) -> NDArray[np.intp]:
    if len(phases) != n:
        msg = f"{len(phases)} phases given for {n} subscribers"
        raise ValueError(msg)
    bad = sorted({p for p in phases if p not in PHASES})
    if bad:
        msg = f"unknown phase(s) {bad}; expected one of {list(PHASES)}"
        raise ValueError(msg)
    return np.array([PHASES.index(p) for p in phases], dtype=np.intp)


def _clean(subscribers_kwh: NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.asarray(subscribers_kwh, dtype=np.float64)
    if x.ndim != 2:
        msg = f"subscribers_kwh must be (N, T), got shape {x.shape}"
        raise ValueError(msg)
    if np.any(x[np.isfinite(x)] < 0):
        msg = "subscribers_kwh has negative hourly consumption"
        raise ValueError(msg)
    # a missing hour carries no known load: it neither adds to nor relieves a phase
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def _k(voltage_v: float) -> float:
    """kWh lost per hour per (ohm · kW²): I = P·1000/V amperes, loss = R·I² watts over one hour."""
    return 1000.0 / voltage_v**2


def phase_loads(x: NDArray[np.float64], idx: NDArray[np.intp]) -> NDArray[np.float64]:
    """(3, T) hourly kWh on each phase."""
    loads = np.zeros((3, x.shape[1]))
    for p in range(3):
        loads[p] = x[idx == p].sum(axis=0)
    return loads


def _loss_from_loads(
    loads: NDArray[np.float64], resistance_ohm: float, neutral_ohm: float, voltage_v: float
) -> NDArray[np.float64]:
    a, b, c = loads
    squares = a * a + b * b + c * c
    neutral = squares - a * b - b * c - a * c
    out: NDArray[np.float64] = _k(voltage_v) * (resistance_ohm * squares + neutral_ohm * neutral)
    return out


def phase_loss_kwh(
    subscribers_kwh: NDArray[np.float64],
    phases: Sequence[str],
    *,
    resistance_ohm: float = RISER_OHM,
    neutral_ohm: float = NEUTRAL_OHM,
    voltage_v: float = VOLTAGE_V,
) -> NDArray[np.float64]:
    """(T,) hourly I²R loss of the riser (phases and neutral) for the given assignment."""
    x = _clean(subscribers_kwh)
    return _loss_from_loads(
        phase_loads(x, _phase_index(phases, x.shape[0])), resistance_ohm, neutral_ohm, voltage_v
    )


def loss_by_phase(
    subscribers_kwh: NDArray[np.float64],
    phases: Sequence[str],
    *,
    resistance_ohm: float = RISER_OHM,
    neutral_ohm: float = NEUTRAL_OHM,
    voltage_v: float = VOLTAGE_V,
) -> dict[str, float]:
    """Window loss in kWh in each phase conductor and in the neutral ("N")."""
    x = _clean(subscribers_kwh)
    loads = phase_loads(x, _phase_index(phases, x.shape[0]))
    k = _k(voltage_v)
    out = {p: float(k * resistance_ohm * np.sum(loads[j] ** 2)) for j, p in enumerate(PHASES)}
    a, b, c = loads
    out["N"] = float(k * neutral_ohm * np.sum(a * a + b * b + c * c - a * b - b * c - a * c))
    return out


def _objective(x: NDArray[np.float64], idx: NDArray[np.intp]) -> float:
    """Σ_t Σ_p P_p²: with the day's total fixed, the loss is an increasing affine function of it.

    ``N = 1.5·ΣP² − total²/2``, so ``L = k·((R + 1.5·Rn)·ΣP² − Rn·total²/2)`` and the best
    assignment does not depend on the resistances.
    """
    return float(np.sum(phase_loads(x, idx) ** 2))


def _move_deltas(
    x: NDArray[np.float64], idx: NDArray[np.intp], loads: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(N, 3) change of the objective if subscriber i moved to phase q (0 for its own phase)."""
    cross = x @ loads.T  # Σ_t x_i,t · P_q,t
    rows = np.arange(x.shape[0])
    own = cross[rows, idx]
    sq = np.einsum("it,it->i", x, x)
    delta: NDArray[np.float64] = 2.0 * (cross - own[:, None] + sq[:, None])
    delta[rows, idx] = 0.0
    return delta


def _best_move(
    x: NDArray[np.float64], idx: NDArray[np.intp], loads: NDArray[np.float64], frozen: list[int]
) -> tuple[int, int, float]:
    delta = _move_deltas(x, idx, loads)
    delta[frozen] = 0.0
    i, q = np.unravel_index(int(np.argmin(delta)), delta.shape)
    return int(i), int(q), float(delta[i, q])


def _best_swap(
    x: NDArray[np.float64], idx: NDArray[np.intp], loads: NDArray[np.float64], frozen: list[int]
) -> tuple[int, int, float]:
    """The pair on different phases whose exchange lowers the objective most.

    For i on p and j on q, with u = x_j − x_i: ΔΣP² = 2·u·(P_p − P_q) + 2·u·u.
    """
    n = x.shape[0]
    cross = x @ loads.T  # (N, 3): x_i · P_q
    gram = x @ x.T
    sq = np.diag(gram)
    own = cross[np.arange(n), idx]  # x_i · P_{p_i}
    # x_j · (P_{p_i} − P_{p_j}) − x_i · (P_{p_i} − P_{p_j}) for every pair (i, j)
    xj_on_pi = cross.T[idx]  # [i, j] = x_j · P_{p_i}
    xi_on_pj = cross[:, idx]  # [i, j] = x_i · P_{p_j}
    linear = xj_on_pi - own[None, :] - own[:, None] + xi_on_pj
    delta = 2.0 * linear + 2.0 * (sq[:, None] + sq[None, :] - 2.0 * gram)
    delta[idx[:, None] == idx[None, :]] = 0.0
    delta[frozen, :] = 0.0
    delta[:, frozen] = 0.0
    i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
    return int(i), int(j), float(delta[i, j])


GREEDY_STARTS: Final = 3
"""The greedy search is rerun from this many different first moves; the best plan is kept."""


def greedy_assignment(
    x: NDArray[np.float64], idx: NDArray[np.intp], max_moves: int
) -> NDArray[np.intp]:
    """Best single move at a time (or a swap when none helps), then undo-and-redo each move.

    Each subscriber is moved at most once. A greedy first move can lead into a worse plan, so
    the search also starts from the next-best first moves. Checked against ``exact_assignment``.
    """
    if max_moves <= 0 or x.shape[0] == 0:
        return idx.copy()
    delta = _move_deltas(x, idx, phase_loads(x, idx))
    firsts = np.argsort(delta, axis=None)[:GREEDY_STARTS]
    # from the start itself too: when no single move helps, a swap still may
    best = _greedy_from(x, idx, idx.copy(), [], max_moves)
    best_value = _objective(x, best)
    for flat in firsts[1:]:
        i, q = np.unravel_index(int(flat), delta.shape)
        if delta[i, q] >= 0:
            continue
        start = idx.copy()
        start[i] = q
        plan = _greedy_from(x, idx, start, [int(i)], max_moves)
        value = _objective(x, plan)
        if value < best_value:
            best, best_value = plan, value
    return best


def _greedy_from(
    x: NDArray[np.float64],
    idx: NDArray[np.intp],
    new: NDArray[np.intp],
    moved: list[int],
    max_moves: int,
) -> NDArray[np.intp]:
    loads = phase_loads(x, new)
    tol = 1e-9 * max(float(np.sum(loads**2)), 1e-12)
    while len(moved) < max_moves:
        i, q, gain = _best_move(x, new, loads, moved)
        if gain < -tol:
            loads[new[i]] -= x[i]
            loads[q] += x[i]
            new[i] = q
            moved.append(i)
            continue
        # no single move helps, but two subscribers may trade phases (a swap costs two moves)
        if len(moved) + 2 > max_moves:
            break
        i, j, gain = _best_swap(x, new, loads, moved)
        if gain >= -tol:
            break
        p, q = int(new[i]), int(new[j])
        loads[p] += x[j] - x[i]
        loads[q] += x[i] - x[j]
        new[i], new[j] = q, p
        moved += [i, j]
    # a greedy first choice can block a better pair: undo each move and redo the best one
    current = _objective(x, new)
    improved = True
    while improved:
        improved = False
        for m in moved:
            trial = new.copy()
            trial[m] = idx[m]
            trial_loads = phase_loads(x, trial)
            others = [o for o in moved if o != m]
            i, q, gain = _best_move(x, trial, trial_loads, others)
            if gain < -tol:
                trial[i] = q
            value = _objective(x, trial)
            if value < current - tol:
                new, current = trial, value
                moved = [*others, i] if trial[i] != idx[i] else others
                improved = True
                break
    return new


def exact_assignment(
    x: NDArray[np.float64], idx: NDArray[np.intp], max_moves: int
) -> NDArray[np.intp]:
    """The best assignment with at most ``max_moves`` changes, by enumeration (small houses)."""
    n = x.shape[0]
    if n > 12:
        msg = f"the exact solver enumerates assignments; {n} subscribers are too many (max 12)"
        raise ValueError(msg)
    best, best_value = idx.copy(), _objective(x, idx)
    for m in range(1, min(max_moves, n) + 1):
        for who in itertools.combinations(range(n), m):
            for shifts in itertools.product((1, 2), repeat=m):
                trial = idx.copy()
                for i, s in zip(who, shifts, strict=True):
                    trial[i] = (idx[i] + s) % 3
                value = _objective(x, trial)
                if value < best_value - 1e-12:
                    best, best_value = trial, value
    return best


def _loss_share(
    x: NDArray[np.float64],
    idx: NDArray[np.intp],
    resistance_ohm: float,
    neutral_ohm: float,
    voltage_v: float,
) -> NDArray[np.float64]:
    loads = phase_loads(x, idx)
    total_loss = float(np.sum(_loss_from_loads(loads, resistance_ohm, neutral_ohm, voltage_v)))
    if total_loss <= 0.0:
        return np.zeros(x.shape[0])
    a, b, c = loads
    k = _k(voltage_v)
    # ∂L/∂P_p = k·(2R·P_p + Rn·(2P_p − P_q − P_r))
    grad = k * (2.0 * resistance_ohm * loads + neutral_ohm * (3.0 * loads - (a + b + c)))
    marginal = np.einsum("it,it->i", x, grad[idx])
    out: NDArray[np.float64] = marginal / (2.0 * total_loss)
    return out


def _split_gain(
    x: NDArray[np.float64],
    idx: NDArray[np.intp],
    resistance_ohm: float,
    neutral_ohm: float,
    voltage_v: float,
) -> NDArray[np.float64]:
    """(N,) kWh saved over the window if subscriber i were spread evenly over three phases."""
    loads = phase_loads(x, idx)
    base = float(np.sum(_loss_from_loads(loads, resistance_ohm, neutral_ohm, voltage_v)))
    gains = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        trial = loads.copy()
        trial[idx[i]] -= x[i]
        trial += x[i] / 3.0
        loss = float(np.sum(_loss_from_loads(trial, resistance_ohm, neutral_ohm, voltage_v)))
        gains[i] = base - loss
    return gains


def recommend_phase_moves(
    subscribers_kwh: NDArray[np.float64],
    phases: Sequence[str],
    meter_ids: Sequence[str],
    max_moves: int = 5,
    *,
    resistance_ohm: float = RISER_OHM,
    neutral_ohm: float = NEUTRAL_OHM,
    voltage_v: float = VOLTAGE_V,
) -> PhasePlan:
    """Up to ``max_moves`` moves between phases that cut the riser's losses, and what they give.

    Missing hours (NaN) count as no load. The loss figures are estimates from the nominal
    resistances; the moves themselves do not depend on them (see the module docstring).
    """
    x = _clean(subscribers_kwh)
    n = x.shape[0]
    if len(meter_ids) != n:
        msg = f"{len(meter_ids)} meter ids given for {n} subscribers"
        raise ValueError(msg)
    if len(set(meter_ids)) != n:
        msg = "meter ids must be unique"
        raise ValueError(msg)
    if max_moves < 0:
        msg = f"max_moves must be 0 or more, got {max_moves}"
        raise ValueError(msg)
    idx = _phase_index(phases, n)
    new = greedy_assignment(x, idx, max_moves) if n else idx

    def loss(assign: NDArray[np.intp]) -> float:
        loads = phase_loads(x, assign)
        return float(np.sum(_loss_from_loads(loads, resistance_ohm, neutral_ohm, voltage_v)))

    before, after = loss(idx), loss(new)
    moves = [
        PhaseMove(meter_ids[i], PHASES[idx[i]], PHASES[new[i]])
        for i in range(n)
        if new[i] != idx[i]
    ]
    share = _loss_share(x, idx, resistance_ohm, neutral_ohm, voltage_v)
    gains = _split_gain(x, new, resistance_ohm, neutral_ohm, voltage_v)
    peak = x.max(axis=1) if x.shape[1] else np.zeros(n)
    wanted = (peak >= MULTI_PHASE_PEAK_KW) | (gains >= MULTI_PHASE_MIN_SHARE * max(after, 1e-12))
    wanted &= gains > 0.0
    candidates = [meter_ids[i] for i in np.argsort(-gains) if wanted[i]]
    loads_before, loads_after = phase_loads(x, idx), phase_loads(x, new)
    return PhasePlan(
        moves=moves,
        loss_before_kwh=before,
        loss_after_kwh=after,
        reduction_pct=100.0 * (before - after) / before if before > 0 else 0.0,
        phase_kwh_before={p: float(loads_before[j].sum()) for j, p in enumerate(PHASES)},
        phase_kwh_after={p: float(loads_after[j].sum()) for j, p in enumerate(PHASES)},
        loss_share={meter_ids[i]: float(share[i]) for i in range(n)},
        multi_phase_candidates=candidates,
    )
