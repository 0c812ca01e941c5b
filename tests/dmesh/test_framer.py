"""The framer: COBS + CRC-16/CCITT-FALSE, bounded, resynchronising, never raising."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmesh_lib.framer import (
    MAX_ENCODED,
    MAX_PAYLOAD,
    DecodeError,
    DroppedBytes,
    Frame,
    FrameFlag,
    FrameReader,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    decode,
)
from dmesh_lib.messages import MeterReading

frames = st.builds(
    Frame,
    msg_type=st.integers(0, 255),
    seq=st.integers(0, 255),
    src=st.integers(0, 2**32 - 1),
    dst=st.integers(0, 2**32 - 1),
    hops=st.integers(0, 30),
    flags=st.sampled_from(list(FrameFlag)),
    payload=st.binary(max_size=MAX_PAYLOAD),
)


def test_crc_check_value() -> None:
    # The catalogue check value of CRC-16/CCITT-FALSE; firmware authors test against it.
    assert crc16_ccitt_false(b"123456789") == 0x29B1


@given(st.binary(max_size=1200))
def test_cobs_round_trip_and_no_zero(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(encoded) == data


@given(frames)
def test_frame_round_trip(frame: Frame) -> None:
    wire = frame.encode()
    assert len(wire) <= MAX_ENCODED
    assert wire.count(0) == 1 and wire.endswith(b"\x00")
    assert decode(wire) == (len(wire), frame)


def test_oversized_payload_is_refused_on_encode() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        Frame(msg_type=1, payload=bytes(MAX_PAYLOAD + 1)).encode()


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=700), max_size=20))
def test_any_bytes_never_raise_and_buffer_stays_bounded(chunks: list[bytes]) -> None:
    reader = FrameReader()
    for chunk in chunks:
        reader.feed(chunk)
        # Whatever arrives, the reader never holds more than one maximal frame in waiting.
        assert reader.pending <= MAX_ENCODED


@settings(max_examples=150)
@given(
    st.lists(frames, min_size=1, max_size=8),
    st.lists(st.binary(max_size=40), min_size=9, max_size=9),
    st.data(),
)
def test_frames_survive_any_chunking_and_garbage_between(
    sent: list[Frame], garbage: list[bytes], data: st.DataObject
) -> None:
    # Garbage ends with a delimiter so that it cannot glue itself onto the next frame's start —
    # exactly what a real line gives after noise: the next delimiter resynchronises.
    stream = b""
    for frame, junk in zip(sent, garbage, strict=False):
        stream += junk + b"\x00" + frame.encode()
    stream += garbage[-1]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    reader = FrameReader()
    received: list[Frame] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        received += [r for r in reader.feed(stream[last:cut]) if isinstance(r, Frame)]
        last = cut
    # Garbage may by chance contain a valid frame only with a CRC collision; the real frames all
    # arrive, in order.
    assert [f for f in received if f in sent] == sent


def test_one_byte_at_a_time() -> None:
    frame = MeterReading(0x10000100, 1_700_000_000, ((0, 5), (1, 2**32 - 1))).to_frame(seq=9)
    reader = FrameReader()
    out = []
    for byte in frame.encode() * 3:
        out += reader.feed(bytes([byte]))
    assert out == [frame, frame, frame]


def test_long_run_without_delimiter_is_dropped_as_garbage() -> None:
    consumed, result = decode(b"\x01" * (MAX_ENCODED + 50))
    assert consumed == MAX_ENCODED + 1
    assert isinstance(result, DroppedBytes) and result.reason is DecodeError.GARBAGE


def test_bad_crc_is_reported_as_such() -> None:
    wire = bytearray(Frame(msg_type=0x42, payload=b"\x01\x02\x03").encode())
    wire[-5] ^= 0x40  # a payload byte, not a stuffing code
    consumed, result = decode(bytes(wire))
    assert consumed == len(wire)
    assert isinstance(result, DroppedBytes) and result.reason is DecodeError.BAD_CRC


@settings(max_examples=400)
@given(
    module=st.integers(0, 2**32 - 1),
    counters=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=3),
    position=st.integers(0, 10_000),
    value=st.integers(0, 255),
)
def test_a_corrupted_byte_never_yields_a_wrong_reading(
    module: int, counters: list[int], position: int, value: int
) -> None:
    reading = MeterReading(module, 1_800_000_000, tuple(enumerate(counters)))
    frame = reading.to_frame(seq=3, src=module)
    wire = bytearray(frame.encode())
    index = position % len(wire)
    if wire[index] == value:
        return
    wire[index] = value
    # A stuffing byte, a data byte, the delimiter: whatever is hit, the frame is dropped, never
    # delivered with other contents (CRC + explicit length).
    for result in FrameReader().feed(bytes(wire) + b"\x00"):
        if isinstance(result, Frame):
            assert result == frame


def test_exhaustive_single_byte_corruption_of_a_reading() -> None:
    frame = MeterReading(0x10000100, 1_795_000_000, ((0, 4_294_962_296), (1, 0), (2, 77))).to_frame(
        seq=200, src=0x10000100, hops=4
    )
    wire = frame.encode()
    wrong = 0
    for index in range(len(wire)):
        for value in range(256):
            if value == wire[index]:
                continue
            corrupted = bytearray(wire)
            corrupted[index] = value
            results = FrameReader().feed(bytes(corrupted) + b"\x00")
            wrong += sum(1 for r in results if isinstance(r, Frame) and r != frame)
    assert wrong == 0


@settings(max_examples=300)
@given(
    junk=st.binary(min_size=1, max_size=63).map(lambda b: b.replace(b"\x00", b"\x01")),
    frame=frames,
)
def test_junk_glued_before_a_frame_costs_the_junk_not_the_frame(junk: bytes, frame: Frame) -> None:
    # Noise that ends without a delimiter runs into the next frame; the frame is still intact.
    results = FrameReader().feed(junk + frame.encode())
    assert results[-1] == frame
    assert all(isinstance(r, DroppedBytes) for r in results[:-1])
    assert all(r.reason is DecodeError.GARBAGE for r in results[:-1] if isinstance(r, DroppedBytes))


def test_junk_inside_a_frame_is_still_a_crc_failure() -> None:
    wire = MeterReading(0x10000100, 1_800_000_000, ((0, 5),)).to_frame(seq=1).encode()
    results = FrameReader().feed(wire[:9] + b"\x13\x37junk" + wire[9:])
    assert not any(isinstance(r, Frame) for r in results)
    assert any(isinstance(r, DroppedBytes) and r.reason is DecodeError.BAD_CRC for r in results)
