"""Utility-side loss analytics for BALANCE: group balances, who is losing energy, phase balancing.

Pure Python and numpy with a typed API, no Home Assistant and no database: the aggregator feeds it
arrays read from PostgreSQL and shows the results to operators. Energies are kWh per hour, one row
per meter; missing readings are NaN.
"""

from balance_grid.balances import GroupBalance, combine, daily, group_balance
from balance_grid.hierarchy import GridMeter, GridNode, HierarchyError, parse_csv, parse_json
from balance_grid.losses import (
    ChangeFit,
    ChangePointFit,
    HonestyFit,
    Suspect,
    changepoint_coefficients,
    forecast_change,
    honesty_coefficients,
    imbalance_correlation,
    rank_suspects,
)
from balance_grid.phases import (
    PHASES,
    PhaseMove,
    PhasePlan,
    loss_by_phase,
    phase_loss_kwh,
    recommend_phase_moves,
)
from balance_grid.synthetic import SyntheticFeeder, make_feeder

__all__ = [
    "PHASES",
    "ChangeFit",
    "ChangePointFit",
    "GridMeter",
    "GridNode",
    "GroupBalance",
    "HierarchyError",
    "HonestyFit",
    "PhaseMove",
    "PhasePlan",
    "Suspect",
    "SyntheticFeeder",
    "changepoint_coefficients",
    "combine",
    "daily",
    "forecast_change",
    "group_balance",
    "honesty_coefficients",
    "imbalance_correlation",
    "loss_by_phase",
    "make_feeder",
    "parse_csv",
    "parse_json",
    "phase_loss_kwh",
    "rank_suspects",
    "recommend_phase_moves",
]
