"""Meter kinds, meter constants and the pulse-counter arithmetic that turns counters into units.

A D100FC module counts pulses; it knows nothing of kWh or m³. The installer's meter constant
(1000 imp/kWh, 0.01 m³/imp, ...) and the meter's reading when the module was fitted turn the
counter into the figure printed on the meter. That conversion lives on the client side so that a
wrong constant is fixed in Home Assistant, not by re-flashing a battery module on a cold pipe.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum

COUNTER_MODULO = 1 << 32
"""Pulse counters are unsigned 32-bit and wrap to 0."""

_HALF_RANGE = COUNTER_MODULO // 2


class MeterKind(IntEnum):
    """What a pulse input is connected to; the wire value of the channel's meter-kind hint."""

    UNKNOWN = 0
    ELECTRICITY = 1
    WATER = 2
    GAS = 3
    HEAT = 4

    @property
    def unit(self) -> Unit:
        return _DEFAULT_UNIT[self]


class Unit(StrEnum):
    KWH = "kWh"
    CUBIC_METERS = "m³"
    PULSES = "imp"


_DEFAULT_UNIT: dict[MeterKind, Unit] = {
    MeterKind.UNKNOWN: Unit.PULSES,
    MeterKind.ELECTRICITY: Unit.KWH,
    MeterKind.WATER: Unit.CUBIC_METERS,
    MeterKind.GAS: Unit.CUBIC_METERS,
    MeterKind.HEAT: Unit.KWH,
}

DEFAULT_PULSES_PER_UNIT: dict[MeterKind, int] = {
    MeterKind.UNKNOWN: 1,
    MeterKind.ELECTRICITY: 1000,  # 1000 imp/kWh, the common S0 constant
    MeterKind.WATER: 1000,  # 1 L/imp
    MeterKind.GAS: 100,  # 0.01 m³/imp, the usual reed contact on a diaphragm gas meter
    MeterKind.HEAT: 1000,  # 1 Wh/imp
}


def counter_delta(previous: int, current: int) -> int:
    """Pulses between two readings of a wrapping 32-bit counter.

    A counter that went "backwards" by less than half the range is treated as a forward step across
    the wrap; counters advance by far less than 2**31 pulses between two reports.
    """
    return (current - previous) % COUNTER_MODULO


def is_plausible_forward(previous: int, current: int) -> bool:
    """False when ``current`` looks like a reset (a replaced module), not progress or a wrap."""
    return counter_delta(previous, current) < _HALF_RANGE


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """How one pulse channel maps to a meter's reading.

    ``initial_reading`` is what the meter showed when the counter read ``initial_counter``;
    without ``initial_counter``, when the first counter was seen.
    """

    kind: MeterKind
    pulses_per_unit: float
    initial_reading: float = 0.0
    initial_counter: int | None = None

    def __post_init__(self) -> None:
        if not self.pulses_per_unit > 0:
            raise ValueError(f"meter constant must be positive, got {self.pulses_per_unit}")
        if self.initial_counter is not None and not 0 <= self.initial_counter < COUNTER_MODULO:
            raise ValueError(f"counter out of range: {self.initial_counter}")

    @classmethod
    def default_for(cls, kind: MeterKind) -> MeterConfig:
        return cls(kind=kind, pulses_per_unit=DEFAULT_PULSES_PER_UNIT[kind])

    @property
    def unit(self) -> Unit:
        return self.kind.unit


@dataclass(slots=True)
class MeterTotalizer:
    """Accumulates a wrapping counter into a meter total that never goes backwards.

    The state (``last_counter``, ``pulses``) is plain data so that Home Assistant can restore it
    after a restart. ``pulses`` counts everything since ``config.initial_counter``, across wraps.
    """

    config: MeterConfig
    last_counter: int | None = None
    pulses: int = 0

    def update(self, counter: int) -> float:
        """Feed a counter value; return the meter total in engineering units.

        A counter that jumps backwards (a replaced module, or an out-of-order old frame) does not
        subtract: the total holds and the new counter becomes the reference, so the total can
        neither fall nor spike.
        """
        reference = self.config.initial_counter
        if self.last_counter is None:
            plausible = reference is not None and is_plausible_forward(reference, counter)
            self.pulses = (
                counter_delta(reference, counter) if reference is not None and plausible else 0
            )
        elif is_plausible_forward(self.last_counter, counter):
            self.pulses += counter_delta(self.last_counter, counter)
        self.last_counter = counter
        return self.total

    @property
    def total(self) -> float:
        return self.config.initial_reading + self.pulses / self.config.pulses_per_unit

    def set_reading(self, reading: float, counter: int | None = None) -> None:
        """The user typed the meter's current reading (e.g. after replacing the meter)."""
        ref = self.last_counter if counter is None else counter
        self.config = replace(self.config, initial_reading=reading, initial_counter=ref)
        self.pulses = 0
        self.last_counter = ref

    def value_at(self, counter: int) -> float:
        """The total a past counter value corresponds to (for hourly backlog), without updating."""
        if self.last_counter is None:
            reference = self.config.initial_counter
            if reference is None:
                return self.config.initial_reading
            return self.config.initial_reading + (
                counter_delta(reference, counter) / self.config.pulses_per_unit
            )
        back = counter_delta(counter, self.last_counter)
        if back < _HALF_RANGE:
            return self.total - back / self.config.pulses_per_unit
        return self.total + counter_delta(self.last_counter, counter) / self.config.pulses_per_unit
