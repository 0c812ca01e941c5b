"""Tariffs: time-of-use zones, progressive ("social norm") price steps, contract power with a
penalty tariff, and an accumulator of consumption and cost per zone whose state is plain JSON.

The model, in the household's words:

* the day is split into named zones by local time windows ("night 23:00-07:00", "peak Mon-Fri
  17:00-20:00"); one zone without windows takes every other hour;
* each zone's price may rise with the volume used so far this month (first 100 kWh at the social
  price, the rest dearer); the monthly volume counts every zone together and restarts each month;
* with a contract power, whatever an hour uses beyond ``limit_kw * 1 h`` is billed in a separate
  penalty zone at the penalty price (and still counts towards the monthly volume).

Consumption between two readings is taken as evenly spread over the interval, which is all a meter
can say; an interval crossing a zone edge, an hour or a month is split in proportion to time.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from .carriers import SECONDS_PER_HOUR
from .series import hour_floor, month_bounds

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ALL_DAYS: frozenset[int] = frozenset(range(7))

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


def _parse_time(text: str, *, end: bool) -> time:
    m = _TIME_RE.match(text.strip())
    if not m:
        raise ValueError(f"expected HH:MM, got {text!r}")
    hh, mm = int(m[1]), int(m[2])
    if end and (hh, mm) == (24, 0):
        return time(0, 0)
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise ValueError(f"not a time of day: {text!r}")
    return time(hh, mm)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, sep, last = part.partition("-")
        try:
            a = WEEKDAYS.index(first.strip().title())
            b = WEEKDAYS.index(last.strip().title()) if sep else a
        except ValueError:
            raise ValueError(f"unknown weekday in {part!r}; use {', '.join(WEEKDAYS)}") from None
        if b < a:
            raise ValueError(f"weekday range must run forward (Mon-Fri), got {part!r}")
        days.update(range(a, b + 1))
    if not days:
        raise ValueError("no weekdays given")
    return frozenset(days)


def _format_days(days: frozenset[int]) -> str:
    parts: list[str] = []
    ordered = sorted(days)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        a, b = ordered[i], ordered[j]
        parts.append(WEEKDAYS[a] if a == b else f"{WEEKDAYS[a]}-{WEEKDAYS[b]}")
        i = j + 1
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A daily local-time window ``[start, end)`` on the given weekdays.

    ``end <= start`` wraps past midnight; the weekday is the one the window starts on, so
    "Mon-Fri 23:00-07:00" covers Friday night into Saturday morning but not Sunday night.
    ``start == end`` is the whole day. Written as ``"[Mon-Fri ]HH:MM-HH:MM"``; ``24:00`` ends at
    midnight.
    """

    start: time
    end: time
    weekdays: frozenset[int] = ALL_DAYS

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= ALL_DAYS:
            raise ValueError(f"weekdays must be a non-empty subset of 0-6, got {self.weekdays}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall-clock times without a zone")
        if self.start.second or self.end.second or self.start.microsecond or self.end.microsecond:
            raise ValueError("window times are whole minutes")

    @property
    def wraps(self) -> bool:
        return self.end <= self.start

    def contains(self, moment: datetime) -> bool:
        """Whether a local wall-clock moment lies in the window."""
        t = moment.time().replace(tzinfo=None)
        day = moment.weekday()
        if self.start == self.end:
            return day in self.weekdays
        if not self.wraps:
            return day in self.weekdays and self.start <= t < self.end
        return (day in self.weekdays and t >= self.start) or (
            (day - 1) % 7 in self.weekdays and t < self.end
        )

    def edges(self, first: date, last: date, tz: tzinfo) -> Iterable[float]:
        """Unix times at which the window opens or closes on local days ``first..last``."""
        day = first
        while day <= last:
            for clock in (self.start, self.end):
                yield datetime.combine(day, clock, tzinfo=tz).timestamp()
            day += timedelta(days=1)

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """``"23:00-07:00"``, ``"Mon-Fri 17:00-20:00"``, ``"Sat,Sun 00:00-24:00"``."""
        body = text.strip()
        days = ALL_DAYS
        if " " in body:
            day_part, _, body = body.rpartition(" ")
            days = _parse_days(day_part)
        start_text, sep, end_text = body.partition("-")
        if not sep:
            raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
        return cls(_parse_time(start_text, end=False), _parse_time(end_text, end=True), days)

    def __str__(self) -> str:
        end = "24:00" if self.end == time(0, 0) else f"{self.end:%H:%M}"
        clock = f"{self.start:%H:%M}-{end}"
        return clock if self.weekdays == ALL_DAYS else f"{_format_days(self.weekdays)} {clock}"


@dataclass(frozen=True, slots=True)
class PriceStep:
    """The price per unit for monthly volume up to ``up_to`` (``None``: without end)."""

    up_to: float | None
    price: float


@dataclass(frozen=True, slots=True)
class PriceSchedule:
    """Price per unit by monthly volume: one step for a flat price, several for a progressive one.

    Written as ``"100:1.20, 200:1.80, *:2.50"`` (up to 100 units at 1.20, up to 200 at 1.80, the
    rest at 2.50) or just ``"1.50"``.
    """

    steps: tuple[PriceStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a price schedule needs at least one step")
        previous = 0.0
        for i, step in enumerate(self.steps):
            if not (math.isfinite(step.price) and step.price >= 0):
                raise ValueError(f"price must be a non-negative number, got {step.price}")
            last = i == len(self.steps) - 1
            if last != (step.up_to is None):
                raise ValueError("only the last step is open-ended, and it must be")
            if step.up_to is not None:
                if not (math.isfinite(step.up_to) and step.up_to > previous):
                    raise ValueError("step limits must be increasing and positive")
                previous = step.up_to

    @classmethod
    def flat(cls, price: float) -> PriceSchedule:
        return cls((PriceStep(None, price),))

    @property
    def is_progressive(self) -> bool:
        return len(self.steps) > 1

    def price_at(self, volume: float) -> float:
        """The price of the next unit once ``volume`` has been used this month."""
        for step in self.steps:
            if step.up_to is None or volume < step.up_to:
                return step.price
        raise AssertionError("unreachable: the last step is open-ended")

    def cost(self, volume_before: float, amount: float) -> float:
        """What ``amount`` costs when ``volume_before`` was already used this month."""
        cost = 0.0
        remaining = amount
        position = volume_before
        for step in self.steps:
            hi = math.inf if step.up_to is None else step.up_to
            if position < hi and remaining > 0:
                take = min(remaining, hi - position)
                cost += take * step.price
                remaining -= take
                position += take
        return cost

    @classmethod
    def parse(cls, text: str) -> PriceSchedule:
        body = text.strip()
        if ":" not in body:
            return cls.flat(_parse_number(body))
        steps: list[PriceStep] = []
        for part in filter(None, (p.strip() for p in body.split(","))):
            limit, sep, price = part.partition(":")
            if not sep:
                raise ValueError(f"expected volume:price, got {part!r}")
            up_to = None if limit.strip() == "*" else _parse_number(limit)
            steps.append(PriceStep(up_to, _parse_number(price)))
        return cls(tuple(steps))

    def __str__(self) -> str:
        if not self.is_progressive:
            return _format_number(self.steps[0].price)
        return ", ".join(
            f"{'*' if s.up_to is None else _format_number(s.up_to)}:{_format_number(s.price)}"
            for s in self.steps
        )


def _parse_number(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _format_number(value: float) -> str:
    return repr(float(value)).removesuffix(".0")


@dataclass(frozen=True, slots=True)
class TariffZone:
    """A named zone ("day", "night", "peak"); no windows makes it the zone for all other hours."""

    name: str
    prices: PriceSchedule
    windows: tuple[TimeWindow, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise ValueError(f"zone name must be non-empty and trimmed, got {self.name!r}")


@dataclass(frozen=True, slots=True)
class ContractPower:
    """Energy beyond ``limit_kw`` within a clock hour goes to zone ``zone`` at ``penalty_price``."""

    limit_kw: float
    penalty_price: float
    zone: str = "penalty"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit_kw) and self.limit_kw > 0):
            raise ValueError(f"contract power must be positive, got {self.limit_kw}")
        if not (math.isfinite(self.penalty_price) and self.penalty_price >= 0):
            raise ValueError(f"penalty price must not be negative, got {self.penalty_price}")


@dataclass(frozen=True, slots=True)
class TariffPlan:
    """Zones (the first whose window matches wins, else the one without windows) in local time."""

    zones: tuple[TariffZone, ...]
    tz: tzinfo = UTC
    contract: ContractPower | None = None

    def __post_init__(self) -> None:
        names = [z.name for z in self.zones]
        if self.contract is not None:
            names.append(self.contract.zone)
        if len(set(names)) != len(names):
            raise ValueError(f"zone names must be unique, got {names}")
        defaults = [z for z in self.zones if not z.windows]
        if len(defaults) != 1:
            raise ValueError("exactly one zone must have no windows: it takes the other hours")

    @classmethod
    def flat(cls, price: float | PriceSchedule, tz: tzinfo = UTC, name: str = "base") -> TariffPlan:
        prices = price if isinstance(price, PriceSchedule) else PriceSchedule.flat(price)
        return cls((TariffZone(name, prices),), tz)

    @classmethod
    def day_night(
        cls,
        day_price: float,
        night_price: float,
        tz: tzinfo = UTC,
        night: str = "23:00-07:00",
    ) -> TariffPlan:
        return cls(
            (
                TariffZone("night", PriceSchedule.flat(night_price), (TimeWindow.parse(night),)),
                TariffZone("day", PriceSchedule.flat(day_price)),
            ),
            tz,
        )

    @property
    def zone_names(self) -> tuple[str, ...]:
        names = tuple(z.name for z in self.zones)
        return (*names, self.contract.zone) if self.contract else names

    def zone_at(self, t: float) -> TariffZone:
        moment = datetime.fromtimestamp(t, self.tz)
        default: TariffZone | None = None
        for zone in self.zones:
            if not zone.windows:
                default = zone
            elif any(w.contains(moment) for w in zone.windows):
                return zone
        assert default is not None
        return default

    def edges_between(self, t0: float, t1: float) -> list[float]:
        """Every zone edge and month start strictly inside ``(t0, t1)``, sorted."""
        first = datetime.fromtimestamp(t0, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(t1, self.tz).date()
        cuts: set[float] = set()
        for zone in self.zones:
            for window in zone.windows:
                cuts.update(e for e in window.edges(first, last, self.tz) if t0 < e < t1)
        month_end = month_bounds(t0, self.tz)[1]
        while month_end < t1:
            cuts.add(float(month_end))
            month_end = month_bounds(month_end, self.tz)[1]
        return sorted(cuts)


@dataclass(slots=True)
class ZoneTotal:
    consumption: float = 0.0
    cost: float = 0.0


@dataclass(slots=True)
class TariffAccumulator:
    """Consumption and cost per zone since the accumulator was created; totals never decrease.

    ``to_dict``/``from_dict`` give a JSON-safe state so that Home Assistant can restore the totals
    (and the month's volume, which prices the next unit) after a restart. Data ending before what
    was already counted is ignored, so re-sent or late readings are never counted twice.
    """

    plan: TariffPlan
    totals: dict[str, ZoneTotal] = field(default_factory=dict)
    month_start: int | None = None
    month_volume: float = 0.0
    hour_start: int | None = None
    hour_energy: float = 0.0
    last_time: float | None = None

    def __post_init__(self) -> None:
        for name in self.plan.zone_names:
            self.totals.setdefault(name, ZoneTotal())

    @property
    def total_consumption(self) -> float:
        return sum(z.consumption for z in self.totals.values())

    @property
    def total_cost(self) -> float:
        return sum(z.cost for z in self.totals.values())

    def price_now(self, t: float) -> float:
        """The price of the next unit at ``t``, given this month's volume (for loss estimates)."""
        zone = self.plan.zone_at(t)
        volume = self.month_volume if self.month_start == month_bounds(t, self.plan.tz)[0] else 0.0
        return zone.prices.price_at(volume)

    def add(self, t0: float, t1: float, amount: float) -> float:
        """Count ``amount`` used evenly over ``[t0, t1)``; returns the cost added."""
        if not t1 > t0:
            raise ValueError(f"empty or reversed interval [{t0}, {t1})")
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"consumption must be a non-negative number, got {amount}")
        if self.last_time is not None:
            if t1 <= self.last_time:
                return 0.0
            if t0 < self.last_time:
                amount *= (t1 - self.last_time) / (t1 - t0)
                t0 = self.last_time
        self.last_time = t1
        cuts = [t0, *self.plan.edges_between(t0, t1), t1]
        if self.plan.contract is not None:
            hours = range(hour_floor(t0) + SECONDS_PER_HOUR, math.ceil(t1), SECONDS_PER_HOUR)
            cuts = sorted({*cuts, *(float(h) for h in hours if t0 < h < t1)})
        added = 0.0
        span = t1 - t0
        for a, b in itertools.pairwise(cuts):
            added += self._add_piece(a, b, amount * (b - a) / span)
        return added

    def _add_piece(self, a: float, b: float, amount: float) -> float:
        month = month_bounds(a, self.plan.tz)[0]
        if month != self.month_start:
            self.month_start, self.month_volume = month, 0.0
        hour = hour_floor(a)
        if hour != self.hour_start:
            self.hour_start, self.hour_energy = hour, 0.0
        zone = self.plan.zone_at((a + b) / 2)
        normal, penalty = amount, 0.0
        contract = self.plan.contract
        if contract is not None:
            # kW over one clock hour is the same number in kWh
            room = max(0.0, contract.limit_kw - self.hour_energy)
            normal = min(amount, room)
            penalty = amount - normal
        cost = zone.prices.cost(self.month_volume, normal)
        self.month_volume += normal
        total = self.totals[zone.name]
        total.consumption += normal
        total.cost += cost
        if penalty > 0 and contract is not None:
            penalty_cost = penalty * contract.penalty_price
            self.month_volume += penalty
            over = self.totals[contract.zone]
            over.consumption += penalty
            over.cost += penalty_cost
            cost += penalty_cost
        self.hour_energy += amount
        return cost

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "zones": {
                name: {"consumption": z.consumption, "cost": z.cost}
                for name, z in self.totals.items()
            },
            "month_start": self.month_start,
            "month_volume": self.month_volume,
            "hour_start": self.hour_start,
            "hour_energy": self.hour_energy,
            "last_time": self.last_time,
        }

    @classmethod
    def from_dict(cls, plan: TariffPlan, data: Mapping[str, Any]) -> TariffAccumulator:
        """Restore a saved state; zones the plan no longer has keep their totals."""
        if data.get("version") != 1:
            raise ValueError(f"unknown tariff state version {data.get('version')!r}")
        zones = data["zones"]
        return cls(
            plan,
            totals={
                str(name): ZoneTotal(float(z["consumption"]), float(z["cost"]))
                for name, z in zones.items()
            },
            month_start=None if data["month_start"] is None else int(data["month_start"]),
            month_volume=float(data["month_volume"]),
            hour_start=None if data["hour_start"] is None else int(data["hour_start"]),
            hour_energy=float(data["hour_energy"]),
            last_time=None if data["last_time"] is None else float(data["last_time"]),
        )
