"""A simulated J100UC concentrator serving its sub-network to hosts over TCP.

It speaks exactly the protocol a real concentrator would (same codec, same link layer as the
client), adds the mesh's real-time latency to relayed commands, and can corrupt its own output
(``line_noise``) so that the client's NAK/retry path is exercised for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dmesh_lib.framer import Frame
from dmesh_lib.link import Link, LinkError
from dmesh_lib.messages import (
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
    Identity,
    InventoryPage,
    Message,
    PowerSource,
    ReadNow,
    RejectReason,
    RequestRejected,
    SetGroup,
    SetRelay,
    SetValve,
    Status,
    TimeSync,
    TimeSyncResult,
    TopologyPage,
    decode_message,
)

from .network import CommandOutcome, HomeRole, SimulatedNetwork

_LOGGER = logging.getLogger(__name__)

FIRMWARE = (1, 4, 2)


@dataclass(slots=True)
class SimClock:
    """Simulated time: ``start`` plus real elapsed time multiplied by ``speed``."""

    # Looked up at call time, not bound at class definition, so that a patched clock (freezegun
    # in Home Assistant's tests) drives start, origin and now() alike.
    start: float = field(default_factory=lambda: time.time())  # noqa: PLW0108
    speed: float = 1.0
    _origin: float = field(default_factory=lambda: time.monotonic())  # noqa: PLW0108

    def now(self) -> float:
        return self.start + (time.monotonic() - self._origin) * self.speed

    def set(self, unix_time: float) -> None:
        self.start = unix_time
        self._origin = time.monotonic()


class HostSession(asyncio.Protocol):
    """One connected host (the client): a link of its own and the requests it sends."""

    def __init__(self, concentrator: SimulatedConcentrator) -> None:
        self.concentrator = concentrator
        self.transport: asyncio.Transport | None = None
        self.link = Link(self._write, self._on_frame)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.concentrator.sessions.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.link.data_received(data)
        except Exception:
            _LOGGER.exception("Simulator failed on host data")

    def connection_lost(self, exc: Exception | None) -> None:
        self.concentrator.sessions.discard(self)
        self.link.close()
        for task in self._tasks:
            task.cancel()
        self.transport = None

    # ------------------------------------------------------------------ output

    def _write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        noise = self.concentrator.network.line_noise
        if noise and self.concentrator.random.random() < noise:
            corrupted = bytearray(data)
            corrupted[self.concentrator.random.randrange(len(corrupted))] ^= 0x5A
            data = bytes(corrupted)
        self.transport.write(data)

    def send(self, message: Message) -> asyncio.Future[None]:
        return self.link.send(message.to_frame(src=self.concentrator.network.serial))

    def drop(self) -> None:
        """Cut the connection abruptly, as an unplugged cable would."""
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------------ requests

    def _on_frame(self, frame: Frame) -> None:
        message = decode_message(frame)
        task = asyncio.get_running_loop().create_task(self._handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: object) -> None:
        try:
            await self._dispatch(message)
        except LinkError as err:
            _LOGGER.debug("Host went away while answering: %s", err)
        except Exception:
            _LOGGER.exception("Simulator failed handling %s", message)

    async def _dispatch(self, message: object) -> None:
        net = self.concentrator.network
        c = self.concentrator
        match message:
            case GetIdentity(request_id=rid):
                self.send(
                    Identity(rid, net.serial, *FIRMWARE, net.subnet_id, 240, PowerSource.MAINS)
                )
            case GetStatus(request_id=rid):
                online = sum(1 for m in net.modules.values() if m.online)
                self.send(
                    Status(
                        rid,
                        int(c.clock.now()),
                        int(time.monotonic() - c.started),
                        len(net.modules),
                        online,
                        0,
                    )
                )
            case TimeSync(request_id=rid, unix_time=t):
                previous = int(c.clock.now())
                # An accelerated demo keeps its own clock; at real speed the host's time wins.
                # Simulated time never runs backwards: a clock set into the past only pauses the
                # meters until it catches up, so no consumption is counted twice.
                if c.clock.speed == 1.0:
                    c.clock.set(float(t))
                self.send(TimeSyncResult(rid, previous, int(c.clock.now())))
            case GetInventory(request_id=rid):
                modules = net.inventory()
                per = InventoryPage.PER_PAGE
                pages = max(1, -(-len(modules) // per))
                for p in range(pages):
                    self.send(InventoryPage(rid, p, pages, tuple(modules[p * per : (p + 1) * per])))
                # Then the cached last state of every online module, so that a host that has just
                # (re)connected shows current values without waiting for the next reports.
                c.tick()
                for state in net.initial_state():
                    self.send(state)
            case GetTopology(request_id=rid):
                entries = net.topology()
                per = TopologyPage.PER_PAGE
                pages = max(1, -(-len(entries) // per))
                for p in range(pages):
                    self.send(TopologyPage(rid, p, pages, tuple(entries[p * per : (p + 1) * per])))
            case ReadNow(request_id=rid, module=serial):
                await self._relayed(rid, serial, lambda: self._read_now(serial))
            case FetchBacklog():
                request = message
                await self._relayed(
                    rid := request.request_id, request.module, lambda: self._backlog(request)
                )
            case SetRelay(request_id=rid, module=serial, on=on):
                await self._relayed(
                    rid, serial, lambda: self._outcome(net.set_relay(serial, on, rid))
                )
            case SetValve(request_id=rid, module=serial, open=open_):
                await self._relayed(
                    rid, serial, lambda: self._outcome(net.set_valve(serial, open_, rid))
                )
            case SetGroup(request_id=rid, module=serial, group=group):
                await self._relayed(
                    rid, serial, lambda: self._outcome(net.set_group(serial, group))
                )
            case BroadcastGroup():
                await self._broadcast(message)
            case _:
                _LOGGER.debug("Simulator ignores %s", message)

    async def _relayed(
        self, rid: int, serial: int, action: Callable[[], Awaitable[tuple[CommandStatus, int]]]
    ) -> None:
        """Accept, travel the mesh, act, travel back, report: what a relayed command costs."""
        net = self.concentrator.network
        if serial not in net.modules:
            self.send(RequestRejected(rid, RejectReason.UNKNOWN_MODULE))
            return
        hops = net.hops(serial)
        self.send(CommandAccepted(rid, serial, hops))
        await asyncio.sleep(hops * self.concentrator.hop_latency)
        if not net.reachable(serial):
            # The concentrator gives up after its own radio retries.
            await asyncio.sleep(hops * self.concentrator.hop_latency)
            self.send(CommandResult(rid, serial, CommandStatus.UNREACHABLE, hops, 0))
            return
        status, detail = await action()
        await asyncio.sleep(hops * self.concentrator.hop_latency)
        self.send(CommandResult(rid, serial, status, hops, detail))

    async def _read_now(self, serial: int) -> tuple[CommandStatus, int]:
        net = self.concentrator.network
        m = net.modules[serial]
        self.concentrator.tick()
        if m.role is HomeRole.METER:
            await self.send(net.reading(m, int(net.now)))
        else:
            for msg in net._module_state(m):
                await self.send(msg)
        return CommandStatus.DELIVERED, 1

    async def _backlog(self, request: FetchBacklog) -> tuple[CommandStatus, int]:
        net = self.concentrator.network
        sent: list[asyncio.Future[None]] = []
        records = 0
        for channel in range(3):
            if not request.channel_mask & (1 << channel):
                continue
            for first, counters in net.backlog(
                request.module, channel, request.first_hour, request.last_hour
            ):
                per = BacklogRecords.PER_PAGE
                for i in range(0, len(counters), per):
                    chunk = tuple(counters[i : i + per])
                    records += len(chunk)
                    sent.append(
                        self.send(
                            BacklogRecords(
                                request.request_id, request.module, channel, first + i, chunk
                            )
                        )
                    )
        # The result must not overtake a page that is still being retransmitted.
        await asyncio.gather(*sent)
        return CommandStatus.DELIVERED, min(records, 0xFFFF)

    async def _outcome(self, outcome: CommandOutcome) -> tuple[CommandStatus, int]:
        if not outcome.delivered:
            return CommandStatus.REFUSED, 0
        self.concentrator.fan_out(outcome.messages)
        if outcome.later:
            await asyncio.sleep(outcome.delay_s)
            self.concentrator.fan_out(outcome.later)
        return CommandStatus.DELIVERED, 0

    async def _broadcast(self, request: BroadcastGroup) -> None:
        c = self.concentrator
        answers = c.network.broadcast(
            request.group, request.action, request.level, request.duration_s
        )
        deepest = max((m.info.hop for m, _, _ in answers), default=1)
        started = time.monotonic()
        self.send(CommandAccepted(request.request_id, 0, deepest))
        # The broadcast floods outwards: each module acts as the wave reaches its hop level.
        for m, status, changes in sorted(answers, key=lambda a: a[0].info.hop):
            wait = m.info.hop * c.hop_latency - (time.monotonic() - started)
            if wait > 0:
                await asyncio.sleep(wait)
            self.send(BroadcastAck(request.request_id, request.group, m.serial, status))
            c.fan_out(changes)
        await asyncio.sleep(deepest * c.hop_latency)
        self.send(
            CommandResult(request.request_id, 0, CommandStatus.DELIVERED, deepest, len(answers))
        )


class SimulatedConcentrator:
    """Owns a :class:`SimulatedNetwork`, its clock, and the hosts connected to it."""

    def __init__(
        self,
        network: SimulatedNetwork,
        clock: SimClock,
        *,
        hop_latency: float = 0.05,
        tick_interval: float = 0.25,
        seed: int = 1,
    ) -> None:
        self.network = network
        self.clock = clock
        self.hop_latency = hop_latency
        self.tick_interval = tick_interval
        self.sessions: set[HostSession] = set()
        self.random = random.Random(seed)
        self.started = time.monotonic()
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.frames_out = 0

    async def start(self, host: str, port: int) -> int:
        """Listen; return the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: HostSession(self), host, port)
        self._ticker = loop.create_task(self._tick_forever(), name="dmesh-sim-ticker")
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for session in list(self.sessions):
            session.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                _LOGGER.exception("Simulator tick failed")
            await asyncio.sleep(self.tick_interval)

    def tick(self) -> None:
        self.fan_out(self.network.advance(self.clock.now()))

    def fan_out(self, messages: list[Message] | tuple[Message, ...]) -> None:
        """Pass module messages on to every connected host."""
        for message in messages:
            for session in list(self.sessions):
                self.frames_out += 1
                session.send(message)

    def drop_hosts(self) -> None:
        for session in list(self.sessions):
            session.drop()
