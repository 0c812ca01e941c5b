"""Loaded by ``make test-clock`` only (PYTHONPATH=tests/clock): time.sleep under libfaketime.

libfaketime 0.9.10 (Debian 12) with FAKETIME_DONT_FAKE_MONOTONIC=1 shifts the absolute
CLOCK_MONOTONIC deadline of clock_nanosleep, which Python's time.sleep uses, and the call fails
with EINVAL. select() takes a relative timeout, which libfaketime passes through unchanged.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if seconds > 0:
        select.select([], [], [], seconds)


time.sleep = _sleep
