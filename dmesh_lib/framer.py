"""DMesh framing: COBS-stuffed frames between 0x00 delimiters, protected by CRC-16/CCITT-FALSE.

The framer knows bytes, not messages. Its contract is the one bellows and pymodbus use:
``decode(buffer) -> (consumed, frame | None)``; the caller drops ``consumed`` bytes and calls
again. Garbage, truncated frames and CRC failures are consumed and reported, never raised, so a
noisy serial line costs frames, not the connection.

Wire format (see docs/dmesh-protocol.md §2)::

    COBS( header(14) | payload(0..MAX_PAYLOAD) | crc16-be(2) ) 0x00
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

PROTOCOL_VERSION = 1
DELIMITER = 0x00
HEADER = struct.Struct(">BBBBIIBB")
HEADER_SIZE = HEADER.size  # 14
CRC_SIZE = 2
MAX_FRAME = 256
"""Largest frame before stuffing: header + payload + CRC."""
MAX_PAYLOAD = MAX_FRAME - HEADER_SIZE - CRC_SIZE  # 240
MAX_ENCODED = MAX_FRAME + MAX_FRAME // 254 + 2
"""Largest frame on the wire, COBS overhead and delimiter included (259 bytes)."""

ADDRESS_HOST = 0
"""Source/destination address of the host (the client) and of "the concentrator itself"."""
ADDRESS_BROADCAST = 0xFFFFFFFF


def crc16_ccitt_false(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR; check 0x29B1.

    ``binascii.crc_hqx`` is exactly this polynomial, unreflected, with a caller-chosen init, and
    runs in C.
    """
    return binascii.crc_hqx(data, crc)


def cobs_encode(data: bytes | bytearray) -> bytes:
    """Consistent Overhead Byte Stuffing: output has no 0x00 byte, overhead ≤ 1 + len/254."""
    out = bytearray()
    for run in bytes(data).split(b"\x00"):
        # Each zero-free run becomes one or more chunks of at most 254 bytes; a full chunk (code
        # 0xFF) implies no zero after it, which is why a run is split at 254 bytes.
        start = 0
        while len(run) - start >= 254:
            out.append(0xFF)
            out += run[start : start + 254]
            start += 254
        out.append(len(run) - start + 1)
        out += run[start:]
    return bytes(out)


def cobs_decode(data: bytes | bytearray | memoryview) -> bytes | None:
    """Inverse of :func:`cobs_encode`; ``None`` for input no encoder could have produced."""
    out = bytearray()
    src = bytes(data)
    i = 0
    n = len(src)
    while i < n:
        code = src[i]
        end = i + code
        if code == 0 or end > n:
            return None
        chunk = src[i + 1 : end]
        if 0 in chunk:
            return None
        out += chunk
        i = end
        # A full block (0xFF) carries no implied zero; the last block's implied zero is the
        # delimiter itself.
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


class FrameFlag(IntFlag):
    NONE = 0
    ACK_REQUESTED = 0x01
    """The receiver must answer with an ACK carrying this frame's sequence number."""
    RETRANSMISSION = 0x02
    """This is a repeat of a frame sent before; the receiver may already have it."""


class DecodeError(IntEnum):
    """Why bytes were dropped; reported to the link layer, which answers CRC failures with a NAK."""

    GARBAGE = 1
    """Bytes that cannot be a frame: bad stuffing, too short, or longer than MAX_ENCODED."""
    BAD_CRC = 2
    BAD_VERSION = 3


@dataclass(frozen=True, slots=True)
class Frame:
    """One link-layer frame. ``msg_type`` and ``payload`` are interpreted by :mod:`messages`."""

    msg_type: int
    seq: int = 0
    src: int = ADDRESS_HOST
    dst: int = ADDRESS_HOST
    hops: int = 0
    flags: FrameFlag = FrameFlag.NONE
    payload: bytes = b""
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")
        raw = (
            HEADER.pack(
                self.version,
                self.msg_type,
                int(self.flags),
                self.seq,
                self.src,
                self.dst,
                self.hops,
                len(self.payload),
            )
            + self.payload
        )
        raw += crc16_ccitt_false(raw).to_bytes(2, "big")
        return cobs_encode(raw) + b"\x00"


@dataclass(frozen=True, slots=True)
class DroppedBytes:
    """What :func:`decode` reports when it consumed bytes that were not a valid frame."""

    reason: DecodeError
    size: int


def decode(buffer: bytes | bytearray | memoryview) -> tuple[int, Frame | DroppedBytes | None]:
    """Take at most one frame off the front of ``buffer``.

    Returns ``(consumed, result)``: ``(0, None)`` when more bytes are needed; otherwise the caller
    drops ``consumed`` bytes and gets a :class:`Frame` or, for rejected bytes,
    :class:`DroppedBytes`.
    Never raises on any input, and never asks the caller to hold more than MAX_ENCODED bytes for
    one frame: an over-long run without a delimiter is dropped as garbage.
    """
    view = bytes(buffer[: MAX_ENCODED + 1]) if len(buffer) > MAX_ENCODED else bytes(buffer)
    end = view.find(b"\x00")
    if end < 0:
        if len(view) > MAX_ENCODED:
            return len(view), DroppedBytes(DecodeError.GARBAGE, len(view))
        return 0, None
    consumed = end + 1
    if end == 0:
        # Back-to-back delimiters are legal idle fill; skip them silently.
        return consumed, DroppedBytes(DecodeError.GARBAGE, 0)
    result = _parse(view[:end])
    if isinstance(result, Frame):
        return consumed, result
    # Noise on a line arrives as junk *before* a frame as often as inside one: a burst that ends
    # without a 0x00 glues itself to the next frame. Look for an intact frame at the end of the
    # run and give up only the junk in front of it (the next call decodes the frame).
    start = _intact_tail(view, end)
    if start:
        return start, DroppedBytes(DecodeError.GARBAGE, start)
    return consumed, DroppedBytes(result, consumed)


def _parse(stuffed: bytes) -> Frame | DecodeError:
    raw = cobs_decode(stuffed)
    if raw is None or len(raw) < HEADER_SIZE + CRC_SIZE:
        return DecodeError.GARBAGE
    body, crc = raw[:-CRC_SIZE], raw[-CRC_SIZE:]
    if crc16_ccitt_false(body) != int.from_bytes(crc, "big"):
        return DecodeError.BAD_CRC
    version, msg_type, flags, seq, src, dst, hops, length = HEADER.unpack_from(body)
    if length != len(body) - HEADER_SIZE:
        # The explicit length makes a corrupted stuffing byte, which shifts the frame's zeros,
        # fail twice over instead of trusting the CRC alone.
        return DecodeError.BAD_CRC
    if version != PROTOCOL_VERSION:
        return DecodeError.BAD_VERSION
    return Frame(
        msg_type=msg_type,
        seq=seq,
        src=src,
        dst=dst,
        hops=hops,
        flags=FrameFlag(flags & 0x03),
        payload=body[HEADER_SIZE:],
        version=version,
    )


_MIN_STUFFED = HEADER_SIZE + CRC_SIZE + 1
"""The shortest stuffed frame: the smallest raw frame plus one COBS code byte."""


def _intact_tail(view: bytes, end: int) -> int:
    """The offset after which ``view[:end]`` holds a whole valid frame, or 0 if none does.

    A COBS frame is a chain of code bytes, each pointing to the next, that lands exactly on the
    delimiter; only offsets whose chain lands there are decoded, so the search costs a walk of
    code bytes per offset and a full decode only for the rare candidate. A candidate must pass
    the same CRC, length and version checks as any frame, so nothing weaker is ever accepted.
    """
    for start in range(1, end - _MIN_STUFFED + 1):
        i = start
        while i < end:
            i += view[i]
        if i == end and isinstance(_parse(view[start:end]), Frame):
            return start
    return 0


class FrameReader:
    """A bounded receive buffer: feed it whatever the transport delivers, iterate the results.

    Holds at most MAX_ENCODED + one chunk of bytes, whatever the peer sends.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | DroppedBytes]:
        self._buffer += data
        results: list[Frame | DroppedBytes] = []
        while self._buffer:
            consumed, result = decode(self._buffer)
            if consumed == 0:
                break
            del self._buffer[:consumed]
            if result is not None and not (isinstance(result, DroppedBytes) and result.size == 0):
                results.append(result)
        return results

    @property
    def pending(self) -> int:
        return len(self._buffer)
