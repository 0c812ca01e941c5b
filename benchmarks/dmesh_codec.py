"""Decode throughput of the DMesh framer + message codec, against what a serial line carries.

Prints one JSON object: frames_per_s, line_rate_multiple (decoding speed / frames a 115200-baud
line can carry), cpu_us_per_reading, bytes_per_frame. Medians of several runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dmesh_lib.framer import Frame, FrameReader
from dmesh_lib.messages import MeterReading, decode_message

BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


def build_stream(frames: int, seed: int = 1) -> tuple[bytes, int]:
    rng = random.Random(seed)
    parts = []
    for i in range(frames):
        reading = MeterReading(
            0x10000100 + rng.randrange(240),
            1_795_000_000 + 60 * i,
            tuple((ch, rng.getrandbits(32)) for ch in range(3)),
        )
        parts.append(
            reading.to_frame(
                seq=i % 256, src=reading.module, hops=rng.randrange(1, 8), flags=1
            ).encode()
        )
    return b"".join(parts), frames


def decode_all(stream: bytes, chunk: int) -> int:
    reader = FrameReader()
    readings = 0
    for offset in range(0, len(stream), chunk):
        for item in reader.feed(stream[offset : offset + chunk]):
            if isinstance(item, Frame) and isinstance(decode_message(item), MeterReading):
                readings += 1
    return readings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    frames = 20_000 if args.quick else 100_000
    runs = 3 if args.quick else 7
    stream, count = build_stream(frames)
    bytes_per_frame = len(stream) / count
    rates, cpu_per = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        decoded = decode_all(stream, 4096)  # what a serial read typically hands over
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert decoded == count, (decoded, count)
        rates.append(count / wall)
        cpu_per.append(cpu / count * 1e6)
    frames_per_s = statistics.median(rates)
    line_frames_per_s = BAUD / BITS_PER_BYTE / bytes_per_frame
    result = {
        "frames_per_s": round(frames_per_s),
        "line_rate_multiple": round(frames_per_s / line_frames_per_s, 1),
        "cpu_us_per_reading": round(statistics.median(cpu_per), 2),
        "bytes_per_frame": round(bytes_per_frame, 1),
        "line_frames_per_s_115200": round(line_frames_per_s, 1),
        "runs": runs,
        "frames": frames,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
