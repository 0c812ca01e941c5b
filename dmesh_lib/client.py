"""The asyncio client of a DMesh concentrator (J100UC).

Layers, bottom up (as in bellows): transport (serial or TCP) → framer (``FrameReader``) →
link (``Link``: ACK/retry) → request ids matched to futures here → typed events to subscribers.
Nothing here blocks the event loop, and no exception escapes ``data_received``.

Typical use::

    client = ConcentratorClient("socket://127.0.0.1:7700")
    await client.connect()                  # identity, clock, inventory
    client.configure_meter(0x1001, 0, MeterConfig(MeterKind.GAS, pulses_per_unit=100))
    unsubscribe = client.subscribe(print)   # MeterValue, SensorReport, RelayState, ...
    await client.set_relay(0x2001, output=0, on=False)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from .framer import ADDRESS_HOST, Frame
from .link import Link, LinkError, LinkTimeout
from .messages import (
    BacklogRecords,
    BroadcastAck,
    BroadcastGroup,
    CommandAccepted,
    CommandResult,
    CommandStatus,
    FetchBacklog,
    GetIdentity,
    GetInventory,
    GetStatus,
    GetTopology,
    GroupAction,
    Identity,
    InventoryPage,
    Message,
    MeterReading,
    ModuleAnnounce,
    ModuleHealth,
    ModuleInfo,
    ModuleLeave,
    ReadNow,
    RejectReason,
    RelayState,
    RequestRejected,
    Response,
    SetGroup,
    SetRelay,
    SetValve,
    Status,
    TimeSync,
    TimeSyncResult,
    TopologyEntry,
    TopologyPage,
    UnknownFrame,
    ValveState,
    decode_message,
)
from .transport import ConnectError, open_transport
from .units import MeterConfig, MeterKind, MeterTotalizer, Unit
from .validation import GuardLimits, ReadingGuard

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT = 3.0
PER_HOP_TIMEOUT = 0.6
"""Allowance per radio hop, each way, for commands relayed through the mesh."""
VALVE_TRAVEL_TIME = 20.0
"""A motorised ball valve takes seconds to turn; its result comes only when it is there."""
RECONNECT_MIN = 1.0
RECONNECT_MAX = 60.0
HANDSHAKE_ATTEMPTS = 4
"""How often each connect step (identity, clock, inventory) is asked again while the peer answers
at all: on a noisy line one lost reply must not cost the connection."""


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class ConcentratorNotResponding(ConnectError):
    """The port opened but nothing answered like a DMesh concentrator."""


class CommandError(Exception):
    """A command reached the concentrator but did not take effect."""


class CommandRejected(CommandError):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(f"concentrator rejected the request: {reason.name.lower()}")
        self.reason = reason


class CommandFailed(CommandError):
    def __init__(self, module: int, status: CommandStatus) -> None:
        super().__init__(f"command for module {module:08X} failed: {status.name.lower()}")
        self.module = module
        self.status = status


class CommandTimeout(CommandError):
    pass


class NotConnected(CommandError):
    pass


@dataclass(frozen=True, slots=True)
class MeterValue:
    """A meter reading in engineering units, derived from a counter and the meter's config."""

    module: int
    channel: int
    timestamp: int
    counter: int
    total: float
    unit: Unit
    kind: MeterKind


@dataclass(frozen=True, slots=True)
class HourlyCounter:
    """The counter of one channel at a whole hour (unix hour index = seconds // 3600)."""

    hour: int
    counter: int


@dataclass(frozen=True, slots=True)
class BroadcastOutcome:
    group: int
    reached: int
    acks: tuple[BroadcastAck, ...]
    latency_s: float
    """From sending the command to the concentrator reporting it done."""


Event = Message | UnknownFrame | MeterValue


@dataclass(slots=True)
class _Pending:
    done: asyncio.Future[list[Message]]
    is_final: Callable[[Message, list[Message]], bool]
    responses: list[Message] = field(default_factory=list)
    on_progress: Callable[[float], None] | None = None


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, client: ConcentratorClient) -> None:
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._client._connection_made(transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._client._link_data(data)
        except Exception:  # the transport would close on any escaping error
            _LOGGER.exception("Unexpected error decoding DMesh data")

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._connection_lost(exc)


class ConcentratorClient:
    """Talks to one concentrator; survives unplugging, garbage and a lossy line."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 115200,
        request_timeout: float = REQUEST_TIMEOUT,
        per_hop_timeout: float = PER_HOP_TIMEOUT,
        auto_reconnect: bool = True,
        sync_time: bool = True,
        reconnect_min: float = RECONNECT_MIN,
        reconnect_max: float = RECONNECT_MAX,
        clock: Callable[[], float] = time.time,
        limits: GuardLimits | None = None,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.request_timeout = request_timeout
        self.per_hop_timeout = per_hop_timeout
        self.auto_reconnect = auto_reconnect
        self.sync_time = sync_time
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self._clock = clock
        self.identity: Identity | None = None
        self.modules: dict[int, ModuleInfo] = {}
        self.state = ConnectionState.DISCONNECTED
        self._transport: asyncio.BaseTransport | None = None
        self._link: Link | None = None
        self._pending: dict[int, _Pending] = {}
        self._request_ids = itertools.cycle(range(1, 0x10000))
        self._subscribers: list[Callable[[Event], None]] = []
        self._state_listeners: list[Callable[[ConnectionState], None]] = []
        self._meters: dict[tuple[int, int], MeterTotalizer] = {}
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0
        self.guard = ReadingGuard(self.modules_get, clock=clock, limits=limits)
        """Checks every module event before subscribers see it; its ``stats`` count rejections."""

    def modules_get(self, serial: int) -> ModuleInfo | None:
        """The module in the inventory, or None (the guard's view of ``modules``)."""
        return self.modules.get(serial)

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> Identity:
        """Open the port, check that a concentrator answers, set its clock, read its inventory."""
        self._closing = False
        self._set_state(ConnectionState.CONNECTING)
        try:
            await self._open()
        except BaseException:
            self._set_state(ConnectionState.DISCONNECTED)
            raise
        assert self.identity is not None
        return self.identity

    async def _open(self) -> None:
        await open_transport(self.url, lambda: _StreamProtocol(self), baudrate=self.baudrate)
        try:
            self.identity = await self._handshake(self.get_identity)
        except (CommandError, LinkError) as err:
            self._drop_transport()
            raise ConcentratorNotResponding(
                f"{self.url}: the port opened but no DMesh concentrator answered ({err})"
            ) from err
        try:
            if self.sync_time:
                await self._handshake(self.time_sync)
            await self._handshake(self.get_inventory)
        except (CommandError, LinkError) as err:
            self._drop_transport()
            raise ConcentratorNotResponding(f"{self.url}: concentrator stopped answering") from err
        self._set_state(ConnectionState.CONNECTED)

    async def _handshake[T](self, step: Callable[[], Awaitable[T]]) -> T:
        """One connect step, asked again while the peer answers at all (a lossy line).

        A peer that never sent one valid frame is not a concentrator, or the line is dead: that
        fails at once. A refusal is an answer and is not retried.
        """
        for attempt in range(1, HANDSHAKE_ATTEMPTS + 1):
            try:
                return await step()
            except (CommandTimeout, NotConnected) as err:
                link = self._link
                if attempt == HANDSHAKE_ATTEMPTS or link is None or link.last_heard is None:
                    raise
                _LOGGER.debug("Connect step failed on a line that answers, again: %s", err)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect_task
            self._reconnect_task = None
        self._drop_transport()
        self._set_state(ConnectionState.DISCONNECTED)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    def _drop_transport(self) -> None:
        if self._link is not None:
            self._link.close("connection closed")
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(NotConnected("connection to the concentrator lost"))
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._link = None

    def _connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._link = Link(self._write, self._on_frame, on_failure=self._on_link_failure)

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)  # type: ignore[attr-defined]

    def _link_data(self, data: bytes) -> None:
        if self._link is not None:
            self._link.data_received(data)

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return  # we closed it ourselves
        self._drop_transport()
        # During a (re)connect attempt the attempt itself reports the failure and retries.
        if self._closing or self.state is not ConnectionState.CONNECTED:
            return
        _LOGGER.warning("Lost connection to DMesh concentrator at %s: %s", self.url, exc)
        self._set_state(ConnectionState.DISCONNECTED)
        self._schedule_reconnect()

    def _on_link_failure(self, err: LinkError) -> None:
        # A frame that exhausted its retries means the line is dead even if the port is still
        # open (a TCP bridge that lost its serial side): start over.
        # A frame lost while the peer keeps talking costs that frame (its request fails), not the
        # connection.
        if isinstance(err, LinkTimeout) and err.peer_silent and self._transport is not None:
            _LOGGER.warning("DMesh link to %s stopped acknowledging: %s", self.url, err)
            self._transport.close()

    def _schedule_reconnect(self) -> None:
        if not self.auto_reconnect or self._closing:
            return
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(
                self._reconnect_loop(), name=f"dmesh-reconnect {self.url}"
            )

    async def _reconnect_loop(self) -> None:
        delay = self.reconnect_min
        while not self._closing:
            # Jitter keeps a fleet of bridges from reconnecting in lockstep after a power cut.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            self._set_state(ConnectionState.CONNECTING)
            try:
                await self._open()
            except (ConnectError, OSError) as err:
                _LOGGER.debug("Reconnect to %s failed: %s", self.url, err)
                self._set_state(ConnectionState.DISCONNECTED)
                delay = min(self.reconnect_max, delay * 2)
                continue
            self.reconnects += 1
            _LOGGER.info("Reconnected to DMesh concentrator at %s", self.url)
            return

    def _set_state(self, state: ConnectionState) -> None:
        if state is self.state:
            return
        self.state = state
        for listener in list(self._state_listeners):
            try:
                listener(state)
            except Exception:
                _LOGGER.exception("Error in connection state listener")

    def on_connection_state(
        self, listener: Callable[[ConnectionState], None]
    ) -> Callable[[], None]:
        self._state_listeners.append(listener)
        return lambda: self._state_listeners.remove(listener)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Receive every event (module announce/leave, readings, sensors, relays, valves...)."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    # ------------------------------------------------------------------ receiving

    def _on_frame(self, frame: Frame) -> None:
        message = decode_message(frame)
        if isinstance(message, UnknownFrame):
            self._emit(message)
            return
        if isinstance(message, Response):
            self._on_response(message)
            return
        # Nothing a module says reaches the inventory, a totalizer or a subscriber unchecked.
        admitted = self.guard.admit(message)
        if admitted is None:
            return
        message = admitted
        if isinstance(message, ModuleAnnounce):
            self.modules[message.module.serial] = message.module
        elif isinstance(message, ModuleLeave):
            if (known := self.modules.get(message.module)) is not None:
                self.modules[message.module] = _replace_module(known, online=False)
        elif isinstance(message, ModuleHealth):
            info = self.modules.get(message.module)
            if info is not None and (info.hop, info.parent) != (message.hop, message.parent):
                self.modules[message.module] = _replace_module(
                    info, hop=message.hop, parent=message.parent
                )
        self._emit(message)
        if isinstance(message, MeterReading):
            for value in self._meter_values(message):
                self._emit(value)

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                _LOGGER.exception("Error in DMesh event subscriber")

    def _on_response(self, message: Message) -> None:
        request_id: int = getattr(message, "request_id")  # noqa: B009
        pending = self._pending.get(request_id)
        if pending is None or pending.done.done():
            _LOGGER.debug("Response to unknown or finished request %s: %s", request_id, message)
            return
        if isinstance(message, RequestRejected):
            pending.done.set_exception(CommandRejected(message.reason))
            return
        pending.responses.append(message)
        if pending.on_progress is not None:
            hops = message.hops if isinstance(message, CommandAccepted) else 0
            pending.on_progress(hops)
        if pending.is_final(message, pending.responses):
            if isinstance(message, InventoryPage):
                # The cached module states follow the last page at once; subscribers must find
                # the modules already known when those events arrive.
                self._store_inventory(pending.responses)
            pending.done.set_result(pending.responses)

    # ------------------------------------------------------------------ meters

    def configure_meter(
        self,
        module: int,
        channel: int,
        config: MeterConfig,
        *,
        last_counter: int | None = None,
        pulses: int = 0,
        last_timestamp: int | None = None,
    ) -> MeterTotalizer:
        """Turn this channel's counters into ``MeterValue`` events; restore saved state if any.

        ``last_timestamp`` is when ``last_counter`` was read: it bounds what the next reading
        may add (without it the guard allows for the module's whole 45-day memory).
        """
        totalizer = MeterTotalizer(config, last_counter=last_counter, pulses=pulses)
        self._meters[(module, channel)] = totalizer
        self.guard.configure(
            module, channel, config, counter=last_counter, timestamp=last_timestamp
        )
        return totalizer

    def replace_meter(self, module: int, channel: int, reading: float | None = None) -> None:
        """The module or its counter was replaced: the next counter is the new reference.

        The total continues from ``reading`` (default: the total so far); a counter below the
        old one is otherwise refused as ``backwards``.
        """
        self.guard.reset(module, channel)
        totalizer = self._meters.get((module, channel))
        if totalizer is not None:
            total = totalizer.total if reading is None else reading
            totalizer.config = _replace_config(
                totalizer.config, initial_reading=total, initial_counter=None
            )
            totalizer.pulses = 0
            totalizer.last_counter = None

    def meter(self, module: int, channel: int) -> MeterTotalizer | None:
        return self._meters.get((module, channel))

    def _meter_values(self, reading: MeterReading) -> Iterable[MeterValue]:
        for channel, counter in reading.counters:
            totalizer = self._meters.get((reading.module, channel))
            if totalizer is None:
                continue
            total = totalizer.update(counter)
            yield MeterValue(
                reading.module,
                channel,
                reading.timestamp,
                counter,
                total,
                totalizer.config.unit,
                totalizer.config.kind,
            )

    # ------------------------------------------------------------------ requests

    async def _request(
        self,
        build: Callable[[int], Message],
        is_final: Callable[[Message, list[Message]], bool],
        *,
        dst: int = ADDRESS_HOST,
        extra_time: float = 0.0,
    ) -> list[Message]:
        link = self._link
        if link is None:
            raise NotConnected("not connected to the concentrator")
        loop = asyncio.get_running_loop()
        request_id = next(self._request_ids)
        while request_id in self._pending:
            request_id = next(self._request_ids)
        message = build(request_id)
        pending = _Pending(done=loop.create_future(), is_final=is_final)
        self._pending[request_id] = pending
        try:
            async with asyncio.timeout(self.request_timeout + extra_time) as deadline:

                def progress(hops: float) -> None:
                    # Each page or acceptance proves the request is alive; a relayed command
                    # gets time for its hops there and back.
                    budget = self.request_timeout + extra_time + 2 * hops * self.per_hop_timeout
                    deadline.reschedule(loop.time() + budget)

                pending.on_progress = progress
                await link.send(message.to_frame(dst=dst))
                return await pending.done
        except TimeoutError as err:
            raise CommandTimeout(
                f"no answer to {type(message).__name__} within the time allowed"
            ) from err
        except LinkError as err:
            raise NotConnected(f"concentrator did not acknowledge: {err}") from err
        finally:
            del self._pending[request_id]

    @staticmethod
    def _single(kind: type[Message]) -> Callable[[Message, list[Message]], bool]:
        return lambda m, _: isinstance(m, kind)

    @staticmethod
    def _all_pages(
        kind: type[InventoryPage | TopologyPage],
    ) -> Callable[[Message, list[Message]], bool]:
        # Pages may arrive out of order after a retransmission: count them, don't trust the last.
        def final(message: Message, responses: list[Message]) -> bool:
            if not isinstance(message, kind):
                return False
            return len({r.page for r in responses if isinstance(r, kind)}) >= message.pages

        return final

    @staticmethod
    def _result(responses: list[Message]) -> CommandResult:
        result = responses[-1]
        assert isinstance(result, CommandResult)
        if result.status is not CommandStatus.DELIVERED:
            raise CommandFailed(result.module, result.status)
        return result

    async def get_identity(self) -> Identity:
        responses = await self._request(GetIdentity, self._single(Identity))
        identity = responses[-1]
        assert isinstance(identity, Identity)
        return identity

    async def get_status(self) -> Status:
        responses = await self._request(GetStatus, self._single(Status))
        status = responses[-1]
        assert isinstance(status, Status)
        return status

    async def time_sync(self, unix_time: int | None = None) -> TimeSyncResult:
        now = int(self._clock()) if unix_time is None else unix_time
        responses = await self._request(
            lambda rid: TimeSync(rid, now), self._single(TimeSyncResult)
        )
        result = responses[-1]
        assert isinstance(result, TimeSyncResult)
        return result

    async def get_inventory(self) -> list[ModuleInfo]:
        """Every module the concentrator knows, online or not; also refreshes ``modules``."""
        responses = await self._request(GetInventory, self._all_pages(InventoryPage))
        return list(self._store_inventory(responses).values())

    def _store_inventory(self, responses: list[Message]) -> dict[int, ModuleInfo]:
        pages = sorted((r for r in responses if isinstance(r, InventoryPage)), key=lambda p: p.page)
        self.modules = {info.serial: info for page in pages for info in page.modules}
        return self.modules

    async def get_topology(self) -> list[TopologyEntry]:
        responses = await self._request(GetTopology, self._all_pages(TopologyPage))
        return [e for page in responses if isinstance(page, TopologyPage) for e in page.entries]

    async def read_now(self, module: int) -> CommandResult:
        """Ask a module for fresh readings; they arrive as events before this returns."""
        responses = await self._request(
            lambda rid: ReadNow(rid, module), self._single(CommandResult), dst=module
        )
        return self._result(responses)

    async def fetch_backlog(
        self, module: int, first_hour: int, last_hour: int, channels: Iterable[int] = (0, 1, 2)
    ) -> dict[int, list[HourlyCounter]]:
        """Hourly counters the module kept, per channel, for hours first..last (inclusive)."""
        mask = sum(1 << ch for ch in channels)
        requests: list[FetchBacklog] = []

        def build(rid: int) -> FetchBacklog:
            requests.append(FetchBacklog(rid, module, mask, first_hour, last_hour))
            return requests[-1]

        responses = await self._request(build, self._single(CommandResult), dst=module)
        self._result(responses)
        # Only the module, channels and hours asked for; anything else is counted and dropped.
        pages = self.guard.admit_backlog(
            requests[-1], (p for p in responses if isinstance(p, BacklogRecords))
        )
        return {
            channel: [HourlyCounter(hour, hours[hour]) for hour in sorted(hours)]
            for channel, hours in pages.items()
        }

    async def set_relay(self, module: int, on: bool, output: int = 0) -> RelayState | None:
        """Switch an AD220 output; returns once the module confirmed (or raises)."""
        confirmations: list[RelayState] = []
        remove = self.subscribe(
            lambda e: (
                confirmations.append(e)
                if isinstance(e, RelayState) and e.module == module
                else None
            )
        )
        try:
            responses = await self._request(
                lambda rid: SetRelay(rid, module, output, on),
                self._single(CommandResult),
                dst=module,
            )
            self._result(responses)
        finally:
            remove()
        return confirmations[-1] if confirmations else None

    async def set_valve(self, module: int, open_: bool) -> ValveState | None:
        confirmations: list[ValveState] = []
        remove = self.subscribe(
            lambda e: (
                confirmations.append(e)
                if isinstance(e, ValveState) and e.module == module
                else None
            )
        )
        try:
            responses = await self._request(
                lambda rid: SetValve(rid, module, open_),
                self._single(CommandResult),
                dst=module,
                extra_time=VALVE_TRAVEL_TIME,
            )
            self._result(responses)
        finally:
            remove()
        return confirmations[-1] if confirmations else None

    async def broadcast(
        self, group: int, action: GroupAction, level: int = 1, duration_s: int = 0
    ) -> BroadcastOutcome:
        """A DR command to every module of ``group``; returns each module's acknowledgement."""
        started = asyncio.get_running_loop().time()
        responses = await self._request(
            lambda rid: BroadcastGroup(rid, group, action, level, duration_s),
            self._single(CommandResult),
            extra_time=self.per_hop_timeout * 30 * 2,  # a broadcast floods the deepest branch
        )
        result = self._result(responses)
        acks = tuple(r for r in responses if isinstance(r, BroadcastAck))
        return BroadcastOutcome(
            group, result.detail, acks, asyncio.get_running_loop().time() - started
        )

    async def set_group(self, module: int, group: int) -> None:
        responses = await self._request(
            lambda rid: SetGroup(rid, module, group), self._single(CommandResult), dst=module
        )
        self._result(responses)

    # ------------------------------------------------------------------ introspection

    @property
    def link_stats(self) -> dict[str, Any]:
        from dataclasses import asdict

        if self._link is None:
            return {}
        stats = asdict(self._link.stats)
        stats["timeout_s"] = round(self._link.timer.timeout, 4)
        return stats


def _replace_config(config: MeterConfig, **changes: Any) -> MeterConfig:
    from dataclasses import replace

    return replace(config, **changes)


def _replace_module(info: ModuleInfo, **changes: Any) -> ModuleInfo:
    from dataclasses import replace

    return replace(info, **changes)


def meter_config_hint(info: ModuleInfo, channel: int) -> MeterConfig | None:
    """The meter config the installer stored in the module, if it stored one."""
    ch = info.channels[channel]
    if ch.meter_kind is MeterKind.UNKNOWN or ch.pulses_per_unit == 0:
        return None
    return MeterConfig(kind=ch.meter_kind, pulses_per_unit=ch.pulses_per_unit)
