"""The roll-up loop of ``serve``: store the balances of hours whose sums changed.

A region's month is then read from a few hundred stored rows instead of millions of per-house
sums. Until an hour is rolled up again, balances read it live: the loop only makes reads cheaper,
never different.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from balance_aggregator.config import Settings
from balance_aggregator.metrics import Metrics
from balance_aggregator.storage import Storage

_LOGGER = logging.getLogger(__name__)

ROLLUP_SETTLE_HOURS = 2
"""The current and the previous hour are left to live reads by the roll-up loop."""


class RollupLoop:
    """One background task per VTN process; replicas take turns through the database's locks."""

    def __init__(self, settings: Settings, storage: Storage, metrics: Metrics) -> None:
        self._settings = settings
        self._storage = storage
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop unless the settings turn it off (interval 0)."""
        if self._settings.grid_rollup_interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="vtn-grid-rollup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        settings = self._settings
        grid = self._storage.grid()
        while True:
            try:
                # the last two hours are still being reported: they are read live (two hours
                # of sums are cheap) rather than rolled up again at every turn
                settled = (int(time.time()) // 3600 - ROLLUP_SETTLE_HOURS + 1) * 3600
                kept_from = settled - settings.grid_rollup_keep_days * 86400
                await grid.prune_rollup(kept_from)
                done = await grid.rollup_pending(settings.grid_rollup_max_hours, settled, kept_from)
            except Exception:
                # a database restart or a lock timeout: the marks stay, the next turn retries
                _LOGGER.exception("grid roll-up failed")
                self._metrics.inc("vtn_grid_rollup_failed_total")
                done = 0
            self._metrics.inc("vtn_grid_rollup_hours_total", done)
            if done < settings.grid_rollup_max_hours:
                # ingest marks the current hour dirty again and again: roll it at the pace set
                await asyncio.sleep(settings.grid_rollup_interval_s)
            # a full turn means a backlog (a bulk load, a hierarchy change): go on at once
