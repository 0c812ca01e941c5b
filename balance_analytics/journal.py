"""A cumulative meter's readings → intervals for the detectors and an hourly log to replay.

Home Assistant shows a meter as a growing total (kWh, m³). The journal turns successive totals
into consumption intervals, keeps the complete hours (NaN where unknown) for forecasts and for
rebuilding the detectors after a restart, and saves all of it as plain JSON. What it refuses to
guess is left unknown: a total that goes down (a meter swapped or reset) or a silence longer than
``max_gap_s`` (Home Assistant was off) starts a new base instead of inventing consumption, and
so does a rise faster than ``max_rate_per_h`` allows (a meter reading entered by hand).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .carriers import SECONDS_PER_HOUR
from .detectors.base import Binner
from .detectors.monitor import MeterMonitor
from .series import HourlySeries

DEFAULT_KEEP_HOURS = 400 * 24
"""Enough for the same month last year and a year-long savings baseline."""
FINE_S = 300
"""The continuous-flow rule works on 5-minute slots; the journal keeps the last hours at that grain
so that a restart does not forget a flow the hourly log cannot show."""
FINE_HOURS = 6
DEFAULT_MAX_GAP_S = 2 * SECONDS_PER_HOUR
"""Longer silences are not spread evenly: a shower spread over a day looks like a leak. Two hours
cover a quick restart and the recorder's last compiled hour at a fresh set-up."""
JUMP_WINDOW_S = 900
"""A step is judged against at least this long at the maximum rate: pulse meters report in whole
pulses, so a single pulse a second apart must not look like a jump."""

Interval = tuple[float, float, float]


class MeterJournal:
    """Readings of one cumulative meter, kept as hours."""

    def __init__(
        self,
        *,
        keep_hours: int = DEFAULT_KEEP_HOURS,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
        max_rate_per_h: float = math.inf,
    ) -> None:
        if keep_hours <= 0 or not max_gap_s > 0 or not max_rate_per_h > 0:
            raise ValueError("keep_hours, max_gap_s and max_rate_per_h must be positive")
        self.keep_hours = keep_hours
        self.max_gap_s = max_gap_s
        self.max_rate_per_h = max_rate_per_h
        self.last_time: float | None = None
        self.last_total: float | None = None
        self.first_hour: int | None = None
        self._values: list[float] = []
        self._hours = Binner(SECONDS_PER_HOUR)
        self._fine = Binner(FINE_S)
        self.fine_first: int | None = None
        """Start (a whole hour) of the 5-minute slots kept in ``_fine_values``."""
        self._fine_values: list[float] = []
        self.first_reading: tuple[float, float] | None = None
        """(time, total) of the first reading, kept until an hour is complete: a seed from the
        recorder after a restart bridges from its last total to here."""

    # -- readings

    def reading(self, t: float, total: float) -> Interval | None:
        """Take the meter's total at ``t``; return the interval it closes, if it closes one."""
        if not (math.isfinite(t) and math.isfinite(total)):
            raise ValueError(f"a reading needs a finite time and total, got {t}, {total}")
        if self.last_time is None or self.last_total is None:
            self._rebase(t, total)
            return None
        if t <= self.last_time:
            return None  # late or repeated: already counted
        if (
            total < self.last_total
            or t - self.last_time > self.max_gap_s
            or self._jump(t - self.last_time, total - self.last_total)
        ):
            self._rebase(t, total)
            return None
        interval = (self.last_time, t, total - self.last_total)
        self.last_time, self.last_total = t, total
        self._record(*interval)
        return interval

    def _jump(self, dt_s: float, amount: float) -> bool:
        return amount > self.max_rate_per_h * max(dt_s, JUMP_WINDOW_S) / SECONDS_PER_HOUR

    def restart(self, t: float, total: float) -> None:
        """Continue from ``total`` at ``t``; what happened since the last reading stays unknown."""
        if not (math.isfinite(t) and math.isfinite(total)):
            raise ValueError(f"a reading needs a finite time and total, got {t}, {total}")
        if self.last_time is None or t > self.last_time:
            self._rebase(t, total)

    def _rebase(self, t: float, total: float) -> None:
        if self.first_reading is None and self._hours.last_time is None and not self._values:
            self.first_reading = (t, total)
        self.last_time, self.last_total = t, total

    def _record(self, t0: float, t1: float, amount: float) -> None:
        for hour, value in self._hours.add(t0, t1, amount):
            self._append(hour, value)
        for start, value in self._fine.add(t0, t1, amount):
            self._append_fine(start, value)

    def _append_fine(self, start: int, value: float) -> None:
        if self.fine_first is None:
            # pad back to the whole hour, so the fine slots replace whole hours of the log
            self.fine_first = start - start % SECONDS_PER_HOUR
        end = self.fine_first + len(self._fine_values) * FINE_S
        if start < end:
            return
        self._fine_values.extend([math.nan] * ((start - end) // FINE_S))
        self._fine_values.append(value)
        per_hour = SECONDS_PER_HOUR // FINE_S
        while len(self._fine_values) > (FINE_HOURS + 1) * per_hour:
            del self._fine_values[:per_hour]
            self.fine_first += SECONDS_PER_HOUR

    def _append(self, hour: int, value: float) -> None:
        self.first_reading = None
        if self.first_hour is None:
            self.first_hour = hour
        end = self.first_hour + len(self._values) * SECONDS_PER_HOUR
        if hour < end:
            return
        self._values.extend([math.nan] * ((hour - end) // SECONDS_PER_HOUR))
        self._values.append(value)
        extra = len(self._values) - self.keep_hours
        if extra > 0:
            del self._values[:extra]
            self.first_hour += extra * SECONDS_PER_HOUR

    # -- history

    @property
    def has_hours(self) -> bool:
        return bool(self._values)

    def seed(self, first_hour: int, values: npt.ArrayLike, end_total: float | None = None) -> None:
        """Start from hours the recorder already has, then continue with the readings taken.

        ``end_total``: the meter's total at the end of the last hour, so that the next reading
        continues from there.

        A journal with no complete hour yet may still hold readings: Home Assistant restarted
        within the entry's first hour, before the recorder had the hours it has now. The
        recorder's hours come first and the readings continue after them as if they had come
        after the seed: what they saw before the end of the recorder's hours is dropped (the
        recorder counted it), the stretch from ``end_total`` to the first reading is counted
        once under the same rules as a reading (a gap, a reset or a jump leaves it unknown), and
        the running hour and the last reading are kept. A journal with complete hours of its
        own cannot be seeded.
        """
        if self._values:
            raise ValueError("only a journal without complete hours can be seeded")
        if first_hour % SECONDS_PER_HOUR:
            raise ValueError(f"history must start on a whole hour, got {first_hour}")
        arr = np.asarray(values, dtype=np.float64)
        if np.any(arr[np.isfinite(arr)] < 0):
            raise ValueError("consumption cannot be negative")
        taken, first_reading = self._hours, self.first_reading
        last = None
        if self.last_time is not None and self.last_total is not None:
            last = (self.last_time, self.last_total)
        self.first_hour, self.last_time, self.last_total = None, None, None
        for i, v in enumerate(arr.tolist()):
            self._append(first_hour + i * SECONDS_PER_HOUR, v)
        end = first_hour + len(arr) * SECONDS_PER_HOUR
        self._hours = Binner.from_dict({"width": SECONDS_PER_HOUR, "bin": end, "last": end})
        self.first_reading = None
        if end_total is not None and math.isfinite(end_total):
            self._rebase(float(end), end_total)
        if last is None:
            return
        running = taken.open_bin
        if running is None or running[0] < end:
            # nothing the journal counted is newer than the recorder's hours
            self._fine, self.fine_first, self._fine_values = Binner(FINE_S), None, []
            self.reading(*last)
            return
        if first_reading is not None:
            self.reading(*first_reading)
        for hour, value in self._hours.join(taken):
            self._append(hour, value)
        self.last_time, self.last_total = last

    @property
    def running_hour(self) -> tuple[int, float] | None:
        """(start, amount so far) of the hour still running, if readings reached into it."""
        if (part := self._hours.open_bin) is None:
            return None
        return part[0], part[1]

    def series(self) -> HourlySeries:
        """The complete hours; the hour still running is not in it."""
        if self.first_hour is None:
            return HourlySeries.from_values(0, [])
        return HourlySeries.from_values(self.first_hour, self._values)

    def replay_into(self, monitor: MeterMonitor, hours: int | None = None) -> None:
        """Rebuild a fresh monitor: the last ``hours`` complete hours, then the last few hours
        at 5-minute grain, then the part of a slot already seen."""
        fine_first = self.fine_first
        if self.first_hour is not None and self._values:
            values = self._values if hours is None else self._values[-hours:]
            first = self.first_hour + (len(self._values) - len(values)) * SECONDS_PER_HOUR
            if fine_first is not None:
                values = values[: max(0, (fine_first - first) // SECONDS_PER_HOUR)]
            monitor.replay_hourly(first, values)
        if fine_first is None:
            part = self._hours.open_bin
        else:
            for i, value in enumerate(self._fine_values):
                if math.isfinite(value):
                    t0 = fine_first + i * FINE_S
                    monitor.update(t0, t0 + FINE_S, value)
            part = self._fine.open_bin
        if part is not None:
            start, amount, covered = part
            monitor.update(start, start + covered, amount)

    # -- persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "last_time": self.last_time,
            "last_total": self.last_total,
            "first_hour": self.first_hour,
            # JSON has no NaN: an unknown hour is null
            "values": [v if math.isfinite(v) else None for v in self._values],
            "hours": self._hours.to_dict(),
            "fine_first": self.fine_first,
            "fine": [v if math.isfinite(v) else None for v in self._fine_values],
            "fine_bin": self._fine.to_dict(),
            "first_reading": None if self.first_reading is None else list(self.first_reading),
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        keep_hours: int = DEFAULT_KEEP_HOURS,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
        max_rate_per_h: float = math.inf,
    ) -> MeterJournal:
        if data.get("version") != 1:
            raise ValueError(f"unknown journal version {data.get('version')!r}")
        journal = cls(keep_hours=keep_hours, max_gap_s=max_gap_s, max_rate_per_h=max_rate_per_h)
        values = [math.nan if v is None else float(v) for v in data["values"]]
        if any(v < 0 for v in values if math.isfinite(v)):
            raise ValueError("consumption cannot be negative")
        first = data["first_hour"]
        if values and first is None:
            raise ValueError("hours without a first hour")
        journal.first_hour = None if first is None else int(first)
        journal._values = values[-keep_hours:]
        if journal.first_hour is not None:
            journal.first_hour += (len(values) - len(journal._values)) * SECONDS_PER_HOUR
        journal._hours = Binner.from_dict(data["hours"])
        if data.get("fine_first") is not None:
            fine = [math.nan if v is None else float(v) for v in data["fine"]]
            if any(v < 0 for v in fine if math.isfinite(v)):
                raise ValueError("consumption cannot be negative")
            journal.fine_first = int(data["fine_first"])
            journal._fine_values = fine
            journal._fine = Binner.from_dict(data["fine_bin"])
        last_time, last_total = data["last_time"], data["last_total"]
        if last_time is not None and last_total is not None:
            journal._rebase(float(last_time), float(last_total))
        first_reading = data.get("first_reading")
        journal.first_reading = (
            None
            if first_reading is None or journal._values
            else (float(first_reading[0]), float(first_reading[1]))
        )
        return journal
