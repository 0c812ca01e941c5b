"""Constants of the utility (OpenADR 3 VEN) entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

CONF_CLIENT_ID: Final = "client_id"
CONF_CLIENT_SECRET: Final = "client_secret"
CONF_METER_ENTITIES: Final = "meter_entities"

POLL_INTERVAL: Final = timedelta(seconds=60)
"""Polling is the fallback without MQTT and a safety net with it (a push can be lost)."""
POLL_INTERVAL_WITH_PUSH: Final = timedelta(minutes=5)
REPORT_INTERVAL: Final = timedelta(minutes=15)
"""How often finished hours are looked for and the queue is flushed; an hour is reported once
the recorder has compiled it, so at most about this long after STATISTICS_SETTLE."""
FIRST_REPORT_LOOKBACK: Final = timedelta(hours=24)
"""A new entry reports the last day's hours first, not the whole history."""
MAX_QUEUE_BATCHES: Final = 24 * 45
"""A VTN gone for 45 days (the DMesh backlog's depth) still loses nothing of that time."""
OPEN_ENDED_DR: Final = timedelta(hours=1)
"""An open-ended request is imposed this far ahead and renewed on every poll, so a VEN that
loses its VTN for good does not hold sockets off forever."""
