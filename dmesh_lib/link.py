"""The DMesh link layer: sequence numbers, ACK/NAK, retransmission with an adaptive timeout.

One class serves both ends of the serial line (the client and the simulated concentrator), so the
two cannot drift apart. It is transport-agnostic: bytes come in through :meth:`Link.data_received`
and go out through the ``write`` callable; whole frames go up through ``deliver``.

Reliability rules (docs/dmesh-protocol.md §3):

* every frame except ACK/NAK carries ``ACK_REQUESTED`` and a sequence number 0–255;
* at most ``window`` frames are unacknowledged at once; more wait in order;
* the retransmission timeout follows RFC 6298 (smoothed RTT + 4 × variance, Karn's rule, doubled on
  every retry); after ``max_retries`` the frame fails with :class:`LinkTimeout`;
* a CRC failure is answered with a NAK, which makes the peer resend its unacknowledged frames now
  rather than after a timeout;
* a retransmitted frame whose first copy already arrived is acknowledged again but not delivered
  twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .framer import DecodeError, DroppedBytes, Frame, FrameFlag, FrameReader
from .messages import MsgType

_LOGGER = logging.getLogger(__name__)

SEQ_MODULO = 256
RECENT_SEQS = 32
"""How many received sequence numbers are remembered to spot duplicates (≫ window)."""


class LinkError(Exception):
    """Base class for link failures."""


class LinkTimeout(LinkError):
    """A frame was not acknowledged after every retry: the peer is gone or the line is dead.

    ``peer_silent`` tells the two apart: True when not one valid frame arrived from the peer
    since this frame was first sent (a dead line), False when the peer kept talking and only
    this frame's acknowledgements were lost to noise (a lossy line, which costs the frame).
    """

    def __init__(self, message: str, *, peer_silent: bool = True) -> None:
        super().__init__(message)
        self.peer_silent = peer_silent


class LinkClosed(LinkError):
    """The link was closed while the frame waited for its acknowledgement."""


@dataclass(slots=True)
class LinkStats:
    frames_sent: int = 0
    frames_received: int = 0
    retransmissions: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    crc_errors: int = 0
    garbage_bytes: int = 0
    duplicates: int = 0
    failures: int = 0


@dataclass(slots=True)
class _Outstanding:
    frame: Frame
    future: asyncio.Future[None]
    sent_at: float = 0.0
    first_sent: float | None = None
    retries: int = 0
    """Retransmissions after a timeout; the budget ``max_retries`` counts these only."""
    repeated: bool = False
    """Sent more than once (after a timeout or a NAK): its ACK is no clean RTT sample (Karn)."""
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class RetransmitTimer:
    """RFC 6298 retransmission timeout estimator."""

    minimum: float = 0.05
    maximum: float = 3.2
    initial: float = 0.5
    srtt: float | None = None
    rttvar: float = 0.0
    samples: int = field(default=0)
    backoff: int = 0
    """Doublings kept after a timeout until a clean sample arrives (RFC 6298 §5.5, Karn)."""

    def back_off(self) -> None:
        self.backoff = min(self.backoff + 1, 6)

    def observe(self, rtt: float) -> None:
        self.backoff = 0
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.samples += 1

    @property
    def timeout(self) -> float:
        base = self.initial if self.srtt is None else self.srtt + 4 * self.rttvar
        return min(self.maximum, max(self.minimum, base) * (1 << self.backoff))


class Link:
    """Reliable, ordered-enough delivery of frames over an unreliable byte stream."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        deliver: Callable[[Frame], None],
        *,
        window: int = 8,
        max_retries: int = 3,
        timer: RetransmitTimer | None = None,
        on_failure: Callable[[LinkError], None] | None = None,
    ) -> None:
        self._write = write
        self._deliver = deliver
        self._on_failure = on_failure
        self._window = window
        self._max_retries = max_retries
        self.timer = timer or RetransmitTimer()
        self.stats = LinkStats()
        self._reader = FrameReader()
        self._next_seq = 0
        self._outstanding: dict[int, _Outstanding] = {}
        self._waiting: deque[_Outstanding] = deque()
        self._recent: deque[int] = deque(maxlen=RECENT_SEQS)
        self._last_nak = -1.0
        self._closed = False
        self.last_heard: float | None = None
        """Loop time of the last valid frame from the peer (data, ACK or NAK)."""

    # ------------------------------------------------------------------ sending

    def send(self, frame: Frame) -> asyncio.Future[None]:
        """Queue a frame; the future resolves when the peer acknowledges it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        # Events are often sent fire-and-forget: mark a failure as seen so that asyncio does not
        # warn about it. A caller that awaits the future still gets the exception.
        future.add_done_callback(_mark_retrieved)
        if self._closed:
            future.set_exception(LinkClosed("link is closed"))
            return future
        entry = _Outstanding(frame=frame, future=future)
        if not self._waiting and self._window_open():
            self._transmit_new(entry)
        else:
            self._waiting.append(entry)
        return future

    def send_unacknowledged(self, frame: Frame) -> None:
        """Fire-and-forget (used only for ACK and NAK, which are never acknowledged)."""
        if not self._closed:
            self._write(frame.encode())

    def _transmit_new(self, entry: _Outstanding) -> None:
        seq = self._next_seq
        self._next_seq = (seq + 1) % SEQ_MODULO
        entry.frame = replace(entry.frame, seq=seq, flags=FrameFlag.ACK_REQUESTED)
        self._outstanding[seq] = entry
        self._transmit(entry)

    def _transmit(self, entry: _Outstanding) -> None:
        loop = asyncio.get_running_loop()
        entry.sent_at = loop.time()
        if entry.first_sent is None:
            entry.first_sent = entry.sent_at
        self.stats.frames_sent += 1
        self._write(entry.frame.encode())
        entry.timer = loop.call_later(self.timer.timeout, self._on_timeout, entry)

    def _retransmit(self, entry: _Outstanding, *, timed_out: bool = False) -> None:
        if timed_out:
            self.timer.back_off()
            entry.retries += 1
        if entry.timer is not None:
            entry.timer.cancel()
        entry.repeated = True
        self.stats.retransmissions += 1
        entry.frame = replace(entry.frame, flags=FrameFlag.ACK_REQUESTED | FrameFlag.RETRANSMISSION)
        self._transmit(entry)

    def _on_timeout(self, entry: _Outstanding) -> None:
        if self._outstanding.get(entry.frame.seq) is not entry:
            return
        if entry.retries >= self._max_retries:
            del self._outstanding[entry.frame.seq]
            self.stats.failures += 1
            first = entry.first_sent if entry.first_sent is not None else entry.sent_at
            silent = self.last_heard is None or self.last_heard < first
            err = LinkTimeout(
                f"no acknowledgement for frame 0x{entry.frame.msg_type:02x} seq {entry.frame.seq}"
                f" after {entry.retries + 1} attempts"
                + ("" if silent else " (the peer is still talking: a lossy line)"),
                peer_silent=silent,
            )
            if not entry.future.done():
                entry.future.set_exception(err)
            self._fill_window()
            if self._on_failure is not None:
                self._on_failure(err)
            return
        self._retransmit(entry, timed_out=True)

    def _window_open(self) -> bool:
        # The window is a range of sequence numbers, not a count: a frame stuck in retries holds
        # it, so the receiver's memory of RECENT_SEQS numbers always covers every frame that can
        # still be retransmitted.
        if not self._outstanding:
            return True
        oldest = next(iter(self._outstanding))
        return (self._next_seq - oldest) % SEQ_MODULO < self._window

    def _fill_window(self) -> None:
        while self._waiting and self._window_open():
            self._transmit_new(self._waiting.popleft())

    # ------------------------------------------------------------------ receiving

    def data_received(self, data: bytes | bytearray | memoryview) -> None:
        """Feed raw bytes; never raises (errors in ``deliver`` are logged and dropped)."""
        for item in self._reader.feed(data):
            if isinstance(item, DroppedBytes):
                self._on_dropped(item)
            else:
                self._on_frame(item)

    def _on_dropped(self, dropped: DroppedBytes) -> None:
        if dropped.reason is DecodeError.BAD_CRC:
            self.stats.crc_errors += 1
            now = asyncio.get_running_loop().time()
            # One NAK per half timeout is enough: it already makes the peer resend everything.
            if now - self._last_nak >= self.timer.minimum / 2:
                self._last_nak = now
                self.stats.naks_sent += 1
                self.send_unacknowledged(Frame(msg_type=MsgType.NAK))
        else:
            self.stats.garbage_bytes += dropped.size

    def _on_frame(self, frame: Frame) -> None:
        now = asyncio.get_running_loop().time()
        self.last_heard = now
        if frame.msg_type == MsgType.ACK:
            self._on_ack(frame.seq)
            return
        if frame.msg_type == MsgType.NAK:
            self.stats.naks_received += 1
            # The corrupted frame left here at least a round trip ago; frames sent since may
            # still be on their way, and resending them would only feed more bytes to the noise.
            # A NAK'd repeat does not use up the retry budget: the peer is plainly there.
            recent = now - min(self.timer.timeout, max(self.timer.minimum, self.timer.srtt or 0))
            for entry in list(self._outstanding.values()):
                if entry.sent_at <= recent:
                    self._retransmit(entry)
            return
        if frame.flags & FrameFlag.ACK_REQUESTED:
            self.send_unacknowledged(Frame(msg_type=MsgType.ACK, seq=frame.seq))
        if frame.flags & FrameFlag.RETRANSMISSION and frame.seq in self._recent:
            self.stats.duplicates += 1
            return
        if frame.flags & FrameFlag.ACK_REQUESTED:
            if frame.seq in self._recent:
                # A fresh frame reusing a remembered number: forget the old one so that its own
                # retransmission is still recognised.
                self._recent.remove(frame.seq)
            self._recent.append(frame.seq)
        self.stats.frames_received += 1
        try:
            self._deliver(frame)
        except Exception:
            _LOGGER.exception("Error handling DMesh frame 0x%02x", frame.msg_type)

    def _on_ack(self, seq: int) -> None:
        entry = self._outstanding.pop(seq, None)
        if entry is None:
            return  # late ACK of a frame already failed or acknowledged
        if entry.timer is not None:
            entry.timer.cancel()
        if not entry.repeated:  # Karn: only unambiguous samples
            self.timer.observe(asyncio.get_running_loop().time() - entry.sent_at)
        if not entry.future.done():
            entry.future.set_result(None)
        self._fill_window()

    # ------------------------------------------------------------------ lifecycle

    @property
    def unacknowledged(self) -> int:
        return len(self._outstanding) + len(self._waiting)

    def close(self, reason: str = "link closed") -> None:
        self._closed = True
        entries = list(self._outstanding.values()) + list(self._waiting)
        self._outstanding.clear()
        self._waiting.clear()
        for entry in entries:
            if entry.timer is not None:
                entry.timer.cancel()
            if not entry.future.done():
                entry.future.set_exception(LinkClosed(reason))


def _mark_retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
