"""The link layer over lossy, one-byte-at-a-time, delayed and dead fake lines."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from dmesh_lib.framer import Frame
from dmesh_lib.link import Link, LinkClosed, LinkTimeout, RetransmitTimer
from dmesh_lib.messages import MeterReading


class Wire:
    """One direction of a fake serial line with configurable misbehaviour."""

    def __init__(
        self,
        *,
        loss: float = 0.0,
        corrupt: float = 0.0,
        delay: float = 0.0,
        byte_by_byte: bool = False,
        seed: int = 1,
    ) -> None:
        self.loss, self.corrupt, self.delay, self.byte_by_byte = loss, corrupt, delay, byte_by_byte
        self.random = random.Random(seed)
        self.receiver: Callable[[bytes], None] | None = None
        self.dead = False
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.dead or self.random.random() < self.loss:
            return
        if self.random.random() < self.corrupt:
            buf = bytearray(data)
            buf[self.random.randrange(len(buf) - 1)] ^= 0x20  # never the delimiter itself
            data = bytes(buf)
        chunks = [bytes([b]) for b in data] if self.byte_by_byte else [data]
        loop = asyncio.get_running_loop()
        for chunk in chunks:
            assert self.receiver is not None
            if self.delay:
                loop.call_later(self.delay, self.receiver, chunk)
            else:
                loop.call_soon(self.receiver, chunk)


def pair(a_to_b: Wire, b_to_a: Wire) -> tuple[Link, Link, list[Frame]]:
    delivered: list[Frame] = []
    a = Link(
        a_to_b.write, lambda f: None, timer=RetransmitTimer(initial=0.05, minimum=0.02, maximum=0.4)
    )
    b = Link(
        b_to_a.write,
        delivered.append,
        timer=RetransmitTimer(initial=0.05, minimum=0.02, maximum=0.4),
    )
    a_to_b.receiver = b.data_received
    b_to_a.receiver = a.data_received
    return a, b, delivered


def readings(n: int) -> list[Frame]:
    return [MeterReading(0x10000100, i, ((0, i),)).to_frame() for i in range(n)]


async def send_all(link: Link, frames: list[Frame]) -> None:
    await asyncio.gather(*(link.send(f) for f in frames))


async def test_clean_line_delivers_everything_once_in_order() -> None:
    a, b, got = pair(Wire(), Wire())
    await send_all(a, readings(50))
    assert [f.payload for f in got] == [f.payload for f in readings(50)]
    assert a.stats.retransmissions == 0
    a.close(), b.close()


@pytest.mark.parametrize("loss", [0.1, 0.25])
async def test_lossy_line_retransmits_and_never_duplicates(loss: float) -> None:
    a, b, got = pair(Wire(loss=loss, seed=2), Wire(loss=loss, seed=3))
    sent = readings(60)
    a._max_retries = 12
    await send_all(a, sent)
    assert sorted(f.payload for f in got) == sorted(f.payload for f in sent)
    assert a.stats.retransmissions > 0
    # ACKs were lost too, so some frames arrived twice and were recognised as duplicates.
    assert len(got) == len(sent)
    a.close(), b.close()


async def test_one_byte_at_a_time_with_delay() -> None:
    a, b, got = pair(Wire(byte_by_byte=True, delay=0.002), Wire(byte_by_byte=True, delay=0.002))
    await send_all(a, readings(10))
    assert len(got) == 10
    a.close(), b.close()


async def test_corruption_is_nakked_and_repaired() -> None:
    a, b, got = pair(Wire(corrupt=0.3, seed=5), Wire())
    a._max_retries = 10
    await send_all(a, readings(40))
    assert len(got) == 40
    assert b.stats.crc_errors > 0 or b.stats.garbage_bytes > 0
    assert b.stats.naks_sent > 0 and a.stats.naks_received > 0
    a.close(), b.close()


async def test_dead_peer_fails_with_link_timeout_and_reports() -> None:
    failures: list[Exception] = []
    wire = Wire()
    wire.dead = True
    link = Link(
        wire.write,
        lambda f: None,
        max_retries=2,
        timer=RetransmitTimer(initial=0.01, minimum=0.01),
        on_failure=failures.append,
    )
    with pytest.raises(LinkTimeout):
        await link.send(readings(1)[0])
    assert wire.writes == 3  # first attempt and two retries
    assert len(failures) == 1
    assert isinstance(failures[0], LinkTimeout) and failures[0].peer_silent
    link.close()


async def test_adaptive_timeout_follows_the_line() -> None:
    a, b, _ = pair(Wire(delay=0.03), Wire(delay=0.03))
    await send_all(a, readings(20))
    # Round trip ≈ 60 ms: the timeout settles above it, not at the 20 ms floor.
    assert a.timer.srtt is not None and a.timer.srtt >= 0.05
    assert a.timer.timeout > a.timer.srtt
    a.close(), b.close()


async def test_window_limits_frames_in_flight() -> None:
    wire = Wire()
    wire.dead = True
    link = Link(wire.write, lambda f: None, window=4, timer=RetransmitTimer(initial=5, minimum=5))
    futures = [link.send(f) for f in readings(10)]
    assert wire.writes == 4
    assert link.unacknowledged == 10
    link.close()
    for future in futures:
        with pytest.raises(LinkClosed):
            await future


async def test_errors_in_the_receiver_do_not_escape() -> None:
    wire_ab, wire_ba = Wire(), Wire()
    a = Link(wire_ab.write, lambda f: None)

    def explode(frame: Frame) -> None:
        raise RuntimeError("bug in a subscriber")

    b = Link(wire_ba.write, explode)
    wire_ab.receiver, wire_ba.receiver = b.data_received, a.data_received
    await a.send(readings(1)[0])  # still acknowledged: the link survives its user's bug
    a.close(), b.close()


async def test_lost_acks_from_a_talking_peer_are_not_a_dead_line() -> None:
    """The frame fails, but the failure says the peer was there: a lossy line, not a dead one."""
    failures: list[Exception] = []
    to_b, to_a = Wire(), Wire(loss=1.0)  # every ACK (and frame) from b is lost...
    a = Link(
        to_b.write,
        lambda f: None,
        max_retries=2,
        timer=RetransmitTimer(initial=0.02, minimum=0.02),
        on_failure=failures.append,
    )
    b = Link(to_a.write, lambda f: None)
    to_b.receiver = b.data_received
    to_a.receiver = a.data_received
    pending = a.send(readings(1)[0])
    # ...but b's other frames keep arriving by another path.
    other = Link(a.data_received, lambda f: None, timer=RetransmitTimer(initial=5, minimum=5))
    for _ in range(10):
        other.send(readings(1)[0])
        await asyncio.sleep(0.02)
    with pytest.raises(LinkTimeout) as err:
        await pending
    assert not err.value.peer_silent
    assert failures == [err.value]
    a.close(), b.close(), other.close()


async def test_nak_repeats_do_not_use_up_the_retry_budget() -> None:
    wire = Wire()
    wire.dead = True
    timer = RetransmitTimer(initial=0.05, minimum=0.01)
    link = Link(wire.write, lambda f: None, max_retries=1, timer=timer)
    pending = link.send(readings(1)[0])
    nak = Frame(msg_type=0x02).encode()
    for _ in range(6):
        await asyncio.sleep(0.03)
        link.data_received(nak)  # the peer is alive and asks again and again
    assert link.stats.retransmissions >= 5
    assert not pending.done()
    link.data_received(Frame(msg_type=0x01, seq=0).encode())
    await pending
    link.close()


async def test_nak_does_not_resend_what_was_just_sent() -> None:
    wire = Wire()
    wire.dead = True
    link = Link(wire.write, lambda f: None, timer=RetransmitTimer(initial=1.0, minimum=0.5))
    link.send(readings(1)[0])
    link.data_received(Frame(msg_type=0x02).encode())  # a NAK for something older
    assert link.stats.retransmissions == 0
    link.close()
