"""Hourly usage reports through a persistent queue: nothing lost in an outage, nothing doubled.

A batch is built from the recorder's hourly statistics and saved in the Store together with the
advanced per-meter cursors, in one write, before it is sent; it leaves the queue only when the
VTN has answered 2xx. After an outage or a restart the very same body is sent again, with the
same reportName: the BALANCE VTN recognises the content and stores it once, and no hour is ever
put into two batches because the cursors moved when it was queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from balance_openadr.client import VenClient, VtnError
from balance_openadr.events import usage_event
from balance_openadr.usage import HOUR_S, PAYLOAD_TYPES, usage_batch, with_event

from ..const import DOMAIN, STATISTICS_SETTLE
from .const import CONF_METER_ENTITIES, FIRST_REPORT_LOOKBACK
from .meters import async_hourly_usage, default_meter_entities, hour_floor, meter_kind

_LOGGER = logging.getLogger(__name__)
STORAGE_VERSION = 1
KEEP_ACKNOWLEDGED = 500
SEND_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, ValueError)


def storage_key(entry_id: str) -> str:
    return f"{DOMAIN}.utility.{entry_id}"


class UsageReporter:
    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any], client: VenClient) -> None:
        self.hass = hass
        self.entry = entry
        self.client = client
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, storage_key(entry.entry_id)
        )
        self.cursors: dict[str, int] = {}
        """Per meter: the first hour not yet queued (epoch seconds)."""
        self.queue: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self._acknowledged: list[str] = []
        self.sent = 0
        self.waiting_for_event = False
        self.last_error: str | None = None
        self.opted_out = False
        """The household's opt-out of utility events; kept here, in the VEN's one Store."""
        self._lock = asyncio.Lock()

    async def async_load(self) -> None:
        try:
            data = await self._store.async_load() or {}
            self.cursors = {str(k): int(v) for k, v in data.get("cursors", {}).items()}
            self.queue = list(data.get("queue", []))
            self.rejected = list(data.get("rejected", []))
            self._acknowledged = list(data.get("acknowledged", []))
            self.opted_out = bool(data.get("opted_out", False))
        except (
            AttributeError,
            HomeAssistantError,
            NotImplementedError,
            TypeError,
            ValueError,
        ) as err:
            # Damaged or from another version: the reports are rebuilt from the recorder (the
            # VTN stores a resent hour once), but the household's opt-out is a choice it must
            # confirm, so it is told rather than left opted in without knowing.
            _LOGGER.warning("%s: saved utility state unreadable (%s)", self.entry.title, err)
            self.cursors, self.queue, self.rejected, self._acknowledged = {}, [], [], []
            self.opted_out = False
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="utility_state_lost",
                translation_placeholders={"title": self.entry.title},
            )

    @property
    def _issue_id(self) -> str:
        return f"utility_state_lost_{self.entry.entry_id}"

    async def _async_save(self) -> None:
        # saved at once, not delayed: a batch must be on disk before it is sent
        await self._store.async_save(
            {
                "cursors": self.cursors,
                "queue": self.queue,
                "rejected": self.rejected,
                "acknowledged": self._acknowledged[-KEEP_ACKNOWLEDGED:],
                "opted_out": self.opted_out,
            }
        )

    @property
    def queued(self) -> int:
        return len(self.queue)

    def acknowledged(self, event_id: str) -> bool:
        return event_id in self._acknowledged

    async def async_mark_acknowledged(self, event_id: str) -> None:
        self._acknowledged.append(event_id)
        await self._async_save()

    async def async_set_opted_out(self, opted_out: bool) -> None:
        self.opted_out = opted_out
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
        await self._async_save()

    def meters(self) -> dict[str, str]:
        chosen = self.entry.options.get(CONF_METER_ENTITIES)
        entity_ids = default_meter_entities(self.hass) if chosen is None else list(chosen)
        found: dict[str, str] = {}
        for entity_id in entity_ids:
            if (kind := meter_kind(self.hass, entity_id)) is not None:
                found[entity_id] = kind
        return found

    async def async_collect(self) -> int:
        """Queue every settled hour not queued before; returns the hours queued."""
        if "recorder" not in self.hass.config.components:
            return 0
        meters = self.meters()
        end = hour_floor(dt_util.utcnow() - STATISTICS_SETTLE)
        default_start = int((end - FIRST_REPORT_LOOKBACK).timestamp())
        starts = {m: self.cursors.get(m, default_start) for m in meters}
        if not starts:
            return 0
        first = dt_util.utc_from_timestamp(min(starts.values()))
        readings = [
            r
            for r in await async_hourly_usage(self.hass, meters, first, end)
            if r.hour >= starts[r.meter]
        ]
        batch = usage_batch(self.client.client_id, readings)
        if batch is None:
            return 0
        for reading in readings:
            self.cursors[reading.meter] = max(
                self.cursors.get(reading.meter, 0), reading.hour + HOUR_S
            )
        self.queue.append(batch)
        await self._async_save()
        return len(readings)

    async def async_flush(self, events: Mapping[str, Mapping[str, Any]]) -> int:
        """Send the queue in order; stops at the first batch the VTN could not take now."""
        event_id = usage_event(events.values(), PAYLOAD_TYPES.values())
        self.waiting_for_event = event_id is None
        if event_id is None:
            return 0
        sent = 0
        while self.queue:
            batch = self.queue[0]
            try:
                await self.client.send_report(with_event(batch, event_id))
            except VtnError as err:
                if err.status == 400:
                    # the VTN will never take this body: keep it aside for diagnostics, go on
                    _LOGGER.error("VTN rejected usage report %s: %s", batch["reportName"], err)
                    self.rejected.append(self.queue.pop(0))
                    await self._async_save()
                    continue
                self.last_error = f"HTTP {err.status}"
                break
            except SEND_ERRORS as err:
                self.last_error = type(err).__name__
                break
            self.queue.pop(0)
            self.last_error = None
            await self._async_save()
            sent += 1
        self.sent += sent
        return sent

    async def async_collect_and_flush(self, events: Mapping[str, Mapping[str, Any]]) -> None:
        async with self._lock:
            await self.async_collect()
            await self.async_flush(events)


__all__ = ["UsageReporter", "storage_key"]
