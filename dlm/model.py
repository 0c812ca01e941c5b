"""What the DLM engine is told about sockets, and what it answers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

# The brief's comfort bound for yellow sockets: "may be off for short periods, 7-15 min".
YELLOW_MAX_OFF_RANGE_S = (7 * 60.0, 15 * 60.0)


class SocketColour(IntEnum):
    """How a socket may be treated; the values are the kernel's encoding."""

    RED = 0
    """Never switched off (clock, required lighting, computer)."""
    YELLOW = 1
    """May be off for a few minutes (fridge, boiler, kettle, air conditioner)."""
    GREEN = 2
    """May be off for long periods and ideally runs at the night tariff (washing machine, EV)."""


class EngineMode(StrEnum):
    OFF = "off"
    """No decisions; anything the engine held off is given back."""
    ADVISE = "advise"
    """Decisions are made and explained, but marked advisory: nothing is switched."""
    ACTIVE = "active"
    """Decisions are meant to be carried out by the caller."""


class SocketAction(StrEnum):
    SWITCH_OFF = "switch_off"
    SWITCH_ON = "switch_on"


class ShedCause(IntEnum):
    """Why a socket changes state; the values are the kernel's encoding."""

    NONE = 0
    OVER_LIMIT = 1
    DEMAND_RESPONSE = 2
    DR_EMERGENCY = 3
    WAIT_FOR_NIGHT = 4
    ROOM_AGAIN = 5
    MAX_OFF_REACHED = 6
    DEADLINE = 7
    NIGHT_TARIFF = 8
    RUN_NOW = 9
    MODE_OFF = 10
    READING_STALE = 11
    TURNED_ON_BY_HAND = 12
    NOW_RED = 13
    NO_LONGER_MANAGED = 14

    @property
    def switches_off(self) -> bool:
        return self in _OFF_CAUSES


_OFF_CAUSES = frozenset(
    {
        ShedCause.OVER_LIMIT,
        ShedCause.DEMAND_RESPONSE,
        ShedCause.DR_EMERGENCY,
        ShedCause.WAIT_FOR_NIGHT,
    }
)


@dataclass(frozen=True, slots=True)
class SocketConfig:
    """One switchable socket and what is known about it before anything is measured.

    `power_w` is the configured draw; the engine prefers a live measurement while the socket is
    on and a learnt value after that, so a wrong configuration only matters until first use.
    """

    socket_id: str
    name: str
    colour: SocketColour
    power_w: float | None = None
    max_off_s: float | None = None
    """Yellow: the comfort bound, 7-15 min (default 15). Green: optional, unbounded if None."""
    min_on_s: float | None = None
    """Shortest time on between two sheds (default 10 min yellow, 0 green)."""
    priority: int = 0
    """Lower sheds first within its colour; restore goes the other way."""
    night_start_delay_s: float = 0.0
    """Start a green run this long after the cheap window opens, so that a street of EV chargers
    does not switch on in the same minute."""

    def __post_init__(self) -> None:
        if not self.socket_id:
            raise ValueError("socket_id must not be empty")
        if self.power_w is not None and not (math.isfinite(self.power_w) and self.power_w >= 0):
            raise ValueError(f"{self.socket_id}: power_w must be a finite number >= 0")
        if self.colour is SocketColour.YELLOW and self.max_off_s is not None:
            low, high = YELLOW_MAX_OFF_RANGE_S
            if not low <= self.max_off_s <= high:
                raise ValueError(
                    f"{self.socket_id}: a yellow socket may be off 7-15 min, not "
                    f"{self.max_off_s / 60:g} min"
                )
        if self.max_off_s is not None and self.max_off_s <= 0:
            raise ValueError(f"{self.socket_id}: max_off_s must be positive")
        if self.min_on_s is not None and self.min_on_s < 0:
            raise ValueError(f"{self.socket_id}: min_on_s must be >= 0")
        if self.night_start_delay_s < 0:
            raise ValueError(f"{self.socket_id}: night_start_delay_s must be >= 0")

    @property
    def effective_max_off_s(self) -> float:
        if self.max_off_s is not None:
            return self.max_off_s
        return YELLOW_MAX_OFF_RANGE_S[1] if self.colour is SocketColour.YELLOW else math.inf

    @property
    def effective_min_on_s(self) -> float:
        if self.min_on_s is not None:
            return self.min_on_s
        return 600.0 if self.colour is SocketColour.YELLOW else 0.0


@dataclass(frozen=True, slots=True)
class SocketObservation:
    """What the caller sees of a socket right now: relay state and, if metered, its draw."""

    is_on: bool
    power_w: float | None = None


@dataclass(frozen=True, slots=True)
class PowerReading:
    """The household's total power and when the meter or sensor measured it."""

    watts: float
    measured_at: datetime


@dataclass(frozen=True, slots=True)
class GreenRun:
    """A deferrable run: so much time or energy, finished by the deadline."""

    deadline: datetime
    run_s: float | None = None
    energy_wh: float | None = None

    def __post_init__(self) -> None:
        if (self.run_s is None) == (self.energy_wh is None):
            raise ValueError("a green run needs exactly one of run_s or energy_wh")
        amount = self.run_s if self.run_s is not None else self.energy_wh
        if amount is None or not (math.isfinite(amount) and amount > 0):
            raise ValueError("a green run needs a positive amount")
        if self.deadline.tzinfo is None:
            raise ValueError("deadline must be timezone-aware")


@dataclass(frozen=True, slots=True)
class ShedDecision:
    """One socket to switch, and why, in words the household understands."""

    socket_id: str
    name: str
    action: SocketAction
    cause: ShedCause
    reason: str
    at: datetime
    advisory: bool
    total_w: float | None
    limit_w: float | None
