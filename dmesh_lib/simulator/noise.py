"""A noisy line on demand: a TCP proxy that puts random garbage before the simulator's chunks.

Field serial lines and cheap TCP bridges do not flip one bit now and then; they drop bursts of
junk between the bytes (a bridge that reconnects its serial side, a radio modem, EMI on an
unshielded RS-485 run). :class:`GarbageProxy` reproduces that between a simulated concentrator
and a host: before a chosen share of the chunks it forwards from the concentrator it writes
1–63 random bytes (seeded, so a run can be repeated).

:func:`measure_noise` is the one harness for the test and for ``benchmarks/dmesh_noise.py``: it
runs a real simulator behind the proxy, a real :class:`~dmesh_lib.client.ConcentratorClient` in
front of it, and compares the readings the client passed to its subscribers with the readings the
simulated modules produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

from dmesh_lib.client import ConcentratorClient, Event
from dmesh_lib.messages import Message, MeterReading
from dmesh_lib.transport import ConnectError

from .concentrator import SimClock, SimulatedConcentrator
from .network import SimModule, SimulatedNetwork


@dataclass(slots=True)
class ProxyStats:
    chunks: int = 0
    garbled_chunks: int = 0
    garbage_bytes: int = 0
    connections: int = 0


class GarbageProxy:
    """Forwards TCP both ways; prefixes ``share`` of the upstream → host chunks with junk."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        share: float,
        seed: int = 1,
        min_garbage: int = 1,
        max_garbage: int = 63,
    ) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be within 0..1, got {share}")
        self.upstream = (upstream_host, upstream_port)
        self.share = share
        self.random = random.Random(seed)
        self.min_garbage = min_garbage
        self.max_garbage = max_garbage
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def garble(self, chunk: bytes) -> bytes:
        self.stats.chunks += 1
        if self.share and self.random.random() < self.share:
            n = self.random.randint(self.min_garbage, self.max_garbage)
            self.stats.garbled_chunks += 1
            self.stats.garbage_bytes += n
            return self.random.randbytes(n) + chunk
        return chunk

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, noisy: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(4096):
                    dst.write(self.garble(data) if noisy else data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))
        finally:
            self._writers.difference_update((writer, up_writer))


@dataclass(slots=True)
class NoiseRun:
    """What one run through the proxy delivered, against what the simulated modules sent."""

    share: float
    sent: int = 0
    """Distinct readings the simulated modules reported during the window, host connected or not
    (a clean connection gets all of them but those of its first fraction of a second)."""
    decoded: int = 0
    """Of those, how many reached the client's subscribers."""
    wrong: int = 0
    """Readings passed to subscribers that no simulated module produced."""
    connect_failures: int = 0
    connect_s: float = 0.0
    reconnects: int = 0
    link: dict[str, object] = field(default_factory=dict)
    proxy: ProxyStats = field(default_factory=ProxyStats)

    @property
    def decoded_share(self) -> float:
        return self.decoded / self.sent if self.sent else 0.0


class _RecordingNetwork(SimulatedNetwork):
    """Remembers every reading its modules produced: the truth a received reading must be."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.produced: set[MeterReading] = set()

    def reading(self, m: SimModule, ts: int) -> MeterReading:
        message = super().reading(m, ts)
        self.produced.add(message)
        return message


class _RecordingConcentrator(SimulatedConcentrator):
    """Notes the readings its modules report while ``recording``, host connected or not."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recording = False
        self.sent: set[tuple[int, int]] = set()

    def fan_out(self, messages: list[Message] | tuple[Message, ...]) -> None:
        if self.recording:
            self.sent.update(
                (m.module, m.timestamp) for m in messages if isinstance(m, MeterReading)
            )
        super().fan_out(messages)


async def measure_noise(
    share: float,
    *,
    seed: int = 1,
    meter_modules: int = 20,
    window_s: float = 10.0,
    report_interval: float = 1.0,
    drain_s: float = 15.0,
) -> NoiseRun:
    """Run a simulator at real speed behind a :class:`GarbageProxy` and count what arrives.

    Modules report every ``report_interval`` seconds for ``window_s`` seconds; then the run waits
    (at most ``drain_s``) until the simulator's link has nothing left to retransmit.
    """
    start = time.time()
    network = _RecordingNetwork(
        meter_modules=meter_modules,
        home=True,
        seed=seed,
        start=start,
        report_interval=report_interval,
    )
    concentrator = _RecordingConcentrator(
        network, SimClock(start=start, speed=1.0), hop_latency=0.01, seed=seed, tick_interval=0.1
    )
    produced = network.produced
    sent = concentrator.sent
    port = await concentrator.start("127.0.0.1", 0)
    proxy = GarbageProxy("127.0.0.1", port, share=share, seed=seed)
    proxy_port = await proxy.start()
    run = NoiseRun(share)
    received: set[tuple[int, int]] = set()

    def on_event(event: Event) -> None:
        if isinstance(event, MeterReading):
            if event in produced:
                received.add((event.module, event.timestamp))
            else:
                run.wrong += 1

    client = ConcentratorClient(f"socket://127.0.0.1:{proxy_port}", reconnect_min=0.2)
    client.subscribe(on_event)
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + window_s
        concentrator.recording = True
        while True:
            try:
                await client.connect()
                break
            except ConnectError:
                run.connect_failures += 1
                if loop.time() > deadline:
                    break
                await asyncio.sleep(0.2)
        run.connect_s = loop.time() - (deadline - window_s)
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        concentrator.recording = False
        drain_until = loop.time() + drain_s
        quiet_since: float | None = None
        while loop.time() < drain_until and not sent <= received:
            busy = any(s.link.unacknowledged for s in concentrator.sessions)
            now = loop.time()
            quiet_since = None if busy else (quiet_since or now)
            if quiet_since is not None and now - quiet_since > 1.0:
                break
            await asyncio.sleep(0.05)
        run.sent = len(sent)
        run.decoded = len(sent & received)
        run.reconnects = client.reconnects
        run.link = dict(client.link_stats)
        run.proxy = proxy.stats
    finally:
        await client.close()
        await proxy.stop()
        await concentrator.stop()
    return run
