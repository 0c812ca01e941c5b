"""The metering head-end: the utility's concentrators read by the aggregator itself.

``worker.py`` serves one concentrator (inventory, live values, backlog, alarms), ``vee.py`` holds
the validation rules applied before anything is stored, ``service.py`` shares the concentrators
among head-end processes by leases. Storage is :mod:`balance_aggregator.storage.headend`.
"""

from __future__ import annotations

from .service import HeadendService, HeadendSettings, estimate_gaps, new_process_id, settings_of
from .worker import ConcentratorWorker, WorkerSettings, meters_of

__all__ = [
    "ConcentratorWorker",
    "HeadendService",
    "HeadendSettings",
    "WorkerSettings",
    "estimate_gaps",
    "meters_of",
    "new_process_id",
    "settings_of",
]
