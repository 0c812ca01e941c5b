"""The utility entry at run time: an OpenADR 3 VEN that obeys DR events and reports meter usage.

Events arrive by the VTN's MQTT notifier when it has one, and by polling otherwise and as a safety
net. What they ask (`balance_openadr.events`) goes to every load manager as a DR request
until the interval ends; an event that ends or is cancelled ends it. Each new event is
acknowledged once with a report. Hourly usage is queued in a Store before it is sent
(`ven_reports.UsageReporter`), so a VTN outage or a restart loses nothing and adds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_point_in_utc_time, async_track_time_interval
from homeassistant.util import dt as dt_util

from balance_openadr.client import VenClient, VtnError
from balance_openadr.events import EventSlots, Signal, applies_to, read_event, signal_at
from dlm import DR_SOURCE_UTILITY

from ..common.listeners import Listeners
from ..const import CONF_URL, DOMAIN
from ..load_manager.manager import LoadManager
from ..load_manager.setup import is_load_manager
from .const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    OPEN_ENDED_DR,
    POLL_INTERVAL,
    POLL_INTERVAL_WITH_PUSH,
    REPORT_INTERVAL,
)
from .push import MqttEndpoint, async_mqtt_endpoint, async_run_push
from .reports import UsageReporter

_LOGGER = logging.getLogger(__name__)

type UtilityConfigEntry = ConfigEntry[UtilityVen]
type DrRequest = tuple[int, float | None, datetime]

CONNECTION_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, ValueError, KeyError, TypeError)
"""What a VTN that is down, restarting or answering garbage raises: all mean "try later"."""


def load_managers(hass: HomeAssistant) -> list[LoadManager]:
    """Every running load manager: DR goes to all of them."""
    return [
        entry.runtime_data
        for entry in hass.config_entries.async_entries(DOMAIN)
        if is_load_manager(entry)
        and entry.state is ConfigEntryState.LOADED
        and isinstance(entry.runtime_data, LoadManager)
    ]


class AuthFailed(Exception):
    """The VTN refuses this client's secret: the entry needs reauthentication."""


class UtilityVen:
    def __init__(self, hass: HomeAssistant, entry: UtilityConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.client = VenClient(
            entry.data[CONF_URL],
            entry.data[CONF_CLIENT_ID],
            entry.data[CONF_CLIENT_SECRET],
            session=async_get_clientsession(hass),
        )
        self.ven_id: str | None = None
        self.own_targets: set[str] = set()
        self.events: dict[str, dict[str, Any]] = {}
        self.slots: dict[str, EventSlots] = {}
        self.signal = Signal()
        self.connected = False
        self.push: MqttEndpoint | None = None
        self.push_connected = False
        self.last_poll: datetime | None = None
        self.reporter = UsageReporter(hass, entry, self.client)
        self._received: dict[str, tuple[float, str]] = {}
        self._applied: dict[str, DrRequest | None] = {}
        self._listeners = Listeners[()]()
        self._unsubs: list[CALLBACK_TYPE] = []
        self._next_change: CALLBACK_TYPE | None = None
        self._push_task: asyncio.Task[None] | None = None
        self._poll_lock = asyncio.Lock()
        self._active_filter = True
        self._opt_reported: dict[str, bool] = {}
        """What the VTN was last told about each event: True = opted out."""

    # -- lifecycle ---------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Raises AuthFailed, or a connection error for ConfigEntryNotReady."""
        await self.reporter.async_load()
        await self._call(self._find_ven)
        self.push = await self._call(lambda: async_mqtt_endpoint(self.client, self._ven()))
        await self.async_poll("POLL")
        interval = POLL_INTERVAL_WITH_PUSH if self.push is not None else POLL_INTERVAL
        self._unsubs.append(async_track_time_interval(self.hass, self._on_poll_timer, interval))
        self._unsubs.append(
            async_track_time_interval(self.hass, self._on_report_timer, REPORT_INTERVAL)
        )
        if self.push is not None:
            self._push_task = self.entry.async_create_background_task(
                self.hass,
                async_run_push(self.client, self.push, self._on_push_connected, self._on_push),
                f"{DOMAIN} VEN MQTT {self.entry.entry_id}",
            )
        self.entry.async_create_background_task(
            self.hass, self.reporter.async_collect_and_flush(self.events), "VEN first report"
        )

    async def async_stop(self) -> None:
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        if self._next_change is not None:
            self._next_change()
            self._next_change = None
        if self._push_task is not None:
            self._push_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._push_task
            self._push_task = None
            # paho hands the socket's clean-up (aiomqtt's housekeeping task) to the loop with
            # call_soon_threadsafe: let it run so that nothing of the connection outlives us
            for _ in range(3):
                await asyncio.sleep(0)
        # What it imposed stays until its own end (open-ended requests are imposed for at most
        # OPEN_ENDED_DR): a reload must not switch sockets on and off again. A deleted entry
        # ends its requests (utility.setup.async_remove_utility).

    async def _call[T](self, job: Callable[[], Any]) -> T:
        """A VTN call; a token the VTN refuses to issue is an authentication failure."""
        try:
            await self.client.token()
        except VtnError as err:
            if err.status in (400, 401, 403):
                raise AuthFailed from err
            raise
        result: T = await job()
        return result

    def _ven(self) -> str:
        assert self.ven_id is not None
        return self.ven_id

    async def _find_ven(self) -> None:
        """The ven object BL provisioned for this client, else one of the VEN's own making."""
        vens: list[dict[str, Any]] = await self.client.my_vens()
        if not vens:
            vens = [await self.client.create_ven(self.client.client_id)]
        ven = vens[0]
        self.ven_id = str(ven["id"])
        self.own_targets = {t for t in ven.get("targets") or () if isinstance(t, str)}
        self.own_targets.add(str(ven.get("venName", "")))
        with contextlib.suppress(VtnError, *CONNECTION_ERRORS):
            resources = await self.client.request(
                "GET", "/resources", params=[("venID", self.ven_id)]
            )
            for resource in resources:
                self.own_targets.update(
                    t for t in resource.get("targets") or () if isinstance(t, str)
                )
        self.own_targets.discard("")

    # -- listeners (entities) -----------------------------------------------------------------

    @callback
    def async_add_listener(self, update: Callable[[], None]) -> CALLBACK_TYPE:
        return self._listeners.add(update)

    def notify(self) -> None:
        self._listeners.notify()

    # -- events ------------------------------------------------------------------------------

    async def _on_poll_timer(self, _now: datetime) -> None:
        await self.async_poll("POLL")

    async def _on_report_timer(self, _now: datetime) -> None:
        await self.reporter.async_collect_and_flush(self.events)

    async def _on_push_connected(self) -> None:
        self.push_connected = True
        await self.async_poll("POLL")

    async def _on_push(self, notification: dict[str, Any]) -> None:
        if notification.get("objectType") != "EVENT":
            return
        event = notification.get("object")
        if not isinstance(event, dict) or "id" not in event:
            return
        event_id = str(event["id"])
        if notification.get("operation") == "DELETE":
            self.events.pop(event_id, None)
        else:
            self.events[event_id] = event
            self._received.setdefault(event_id, (time.time(), "MQTT"))
        self.connected = True
        self._refresh_slots()
        await self._acknowledge_new()

    async def async_poll(self, channel: str) -> None:
        async with self._poll_lock:
            try:
                events: list[dict[str, Any]] = await self._call(self._fetch_events)
            except AuthFailed:
                self.connected = False
                self.entry.async_start_reauth(self.hass)
                self.notify()
                return
            except (VtnError, *CONNECTION_ERRORS) as err:
                if self.connected:
                    _LOGGER.warning("VTN %s unreachable: %s", self.client.base_url, err)
                self.connected = False
                self.notify()  # what is in force stays in force until its own end
                return
            self.connected = True
            self.last_poll = dt_util.utcnow()
            now = time.time()
            self.events = {str(e["id"]): e for e in events if isinstance(e, dict) and "id" in e}
            for event_id in self.events:
                self._received.setdefault(event_id, (now, channel))
            for gone in set(self._received) - set(self.events):
                del self._received[gone]
            self._refresh_slots()
        await self._acknowledge_new()

    async def _fetch_events(self) -> list[dict[str, Any]]:
        """Every event the VTN lets this VEN see that has not ended, page by page (the spec's
        limit is 50). ``active`` is 3.1's filter; a VTN that refuses it (3.0.1) gets none, and
        ended events are then read and left aside here."""
        found: list[dict[str, Any]] = []
        while True:
            params = [("skip", str(len(found))), ("limit", "50")]
            if self._active_filter:
                params.append(("active", "true"))
            try:
                page: list[dict[str, Any]] = await self.client.request(
                    "GET", "/events", params=params
                )
            except VtnError as err:
                if err.status != 400 or not self._active_filter:
                    raise
                self._active_filter = False
                continue
            found.extend(page)
            if len(page) < 50 or len(found) >= 5000:
                return found

    def _refresh_slots(self) -> None:
        slots: dict[str, EventSlots] = {}
        for event_id, event in self.events.items():
            if not applies_to(event, self.own_targets):
                continue
            received = dt_util.utc_from_timestamp(self._received.get(event_id, (time.time(),))[0])
            read = read_event(event, received)
            if read.problems and self.slots.get(event_id) != read:
                _LOGGER.warning("Event %s: parts ignored: %s", event_id, "; ".join(read.problems))
            slots[event_id] = read
        self.slots = slots
        self._evaluate()

    async def _acknowledge_new(self) -> None:
        """One ACKNOWLEDGED report per event, with when and how it arrived (the VTN measures
        DR latency from it), carrying OPT_OUT while the household has opted out; an OPT_OUT
        report when the household changes its mind about an event already acknowledged. A
        failed one is tried again on the next poll."""
        now = dt_util.utcnow()
        opted_out = self.reporter.opted_out
        for event_id, slots in list(self.slots.items()):
            if slots.end is not None and slots.end <= now:
                continue  # over before the VEN saw it, or over: nothing to hold
            try:
                if not self.reporter.acknowledged(event_id):
                    received, channel = self._received.get(event_id, (time.time(), "POLL"))
                    await self.client.acknowledge(
                        {"id": event_id}, received_at=received, channel=channel, opt_out=opted_out
                    )
                    await self.reporter.async_mark_acknowledged(event_id)
                elif self._opt_reported.get(event_id, False) != opted_out:
                    await self.client.send_report(self._opt_report(event_id, opted_out))
            except (VtnError, *CONNECTION_ERRORS) as err:
                _LOGGER.debug("Answer to event %s not sent yet: %s", event_id, err)
                return
            self._opt_reported[event_id] = opted_out

    def _opt_report(self, event_id: str, opted_out: bool) -> dict[str, Any]:
        return {
            "eventID": event_id,
            "clientName": self.client.client_id,
            "reportName": f"{'opt-out' if opted_out else 'opt-in'}-{event_id}",
            "resources": [
                {
                    "resourceName": "AGGREGATED_REPORT",
                    "intervals": [
                        {"id": 0, "payloads": [{"type": "OPT_OUT", "values": [opted_out]}]}
                    ],
                }
            ],
        }

    async def async_set_opt_out(self, opted_out: bool) -> None:
        """The household opts out of the utility's events (or back in): what they ask is lifted
        (or imposed again) at once, and the VTN is told for every event in force or to come."""
        await self.reporter.async_set_opted_out(opted_out)
        self._evaluate()
        await self._acknowledge_new()

    @callback
    def _evaluate(self) -> None:
        now = dt_util.utcnow()
        self.signal = signal_at(list(self.slots.values()), now)
        self._apply_dr(now)
        if self._next_change is not None:
            self._next_change()
            self._next_change = None
        if self.signal.next_change is not None:
            self._next_change = async_track_point_in_utc_time(
                self.hass, self._on_next_change, self.signal.next_change
            )
        self.notify()

    @callback
    def _on_next_change(self, _now: datetime) -> None:
        self._next_change = None
        self._evaluate()

    def _request(self, now: datetime) -> DrRequest | None:
        signal = self.signal
        if not signal.dr_active or self.reporter.opted_out:
            return None
        level, limit = signal.level, signal.limit_w
        if limit is not None and limit <= 0:
            level, limit = 3, None  # a zero limit: everything that may go off goes off
        until = signal.dr_until or now + OPEN_ENDED_DR
        return level, limit, until

    def _apply_dr(self, now: datetime) -> None:
        request = self._request(now)
        for manager in load_managers(self.hass):
            key = manager.entry.entry_id
            current = manager.engine.limits.demand_response
            ours = current is not None and current.source == DR_SOURCE_UTILITY
            if request is None:
                if ours and self._applied.get(key) is not None:
                    manager.async_demand_response(expires_at=now, level=0, limit_w=None)
                self._applied[key] = None
                continue
            # open-ended requests are renewed as time passes; others only when they change
            if self._applied.get(key) == request and ours:
                continue
            level, limit, until = request
            manager.async_demand_response(
                expires_at=until, level=level, limit_w=limit, source=DR_SOURCE_UTILITY
            )
            self._applied[key] = request

    @property
    def next_event_start(self) -> datetime | None:
        return self.signal.next_start

    def diagnostics(self) -> dict[str, Any]:
        return {
            "ven_id": self.ven_id,
            "connected": self.connected,
            "push": None if self.push is None else self.push.topic,
            "push_connected": self.push_connected,
            "events": sorted(self.slots),
            "level": self.signal.level,
            "limit_w": self.signal.limit_w,
            "queued_reports": self.reporter.queued,
        }
