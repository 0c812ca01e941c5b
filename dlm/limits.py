"""The limit in force: the lowest of the household's, tariff window's, contract's and DR's."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

MAX_DR_LEVEL = 3


class LimitSource(StrEnum):
    NONE = "none"
    HOUSEHOLD = "household"
    TARIFF_WINDOW = "tariff_window"
    CONTRACT = "contract"
    DEMAND_RESPONSE = "demand_response"


# Words a household reads in a decision's reason; keyed by source so that a translation layer can
# replace them without touching the engine.
LIMIT_SOURCE_WORDS: dict[LimitSource, str] = {
    LimitSource.NONE: "no",
    LimitSource.HOUSEHOLD: "",
    LimitSource.TARIFF_WINDOW: "tariff",
    LimitSource.CONTRACT: "contract",
    LimitSource.DEMAND_RESPONSE: "utility",
}


DR_SOURCE_UTILITY = "utility"
"""A request from outside the house: the utility, its aggregator, an OpenADR VEN."""
DR_SOURCE_HOUSEHOLD = "household"
"""The household's own "shed now": a DR level it asks for itself."""

# Who asked for a DR request, as a household reads it in a reason: the subject of "... asked
# for", and the word before "limit". A source not listed here is shown as it is (an
# aggregator's name, say).
DR_SOURCE_WORDS: dict[str, tuple[str, str]] = {
    DR_SOURCE_UTILITY: ("the utility", "utility"),
    DR_SOURCE_HOUSEHOLD: ("shed now", "shed now"),
}


def dr_source_words(source: str) -> tuple[str, str]:
    """(who asked, the word before "limit") for a DR request's source."""
    return DR_SOURCE_WORDS.get(source, (source, source))


@dataclass(frozen=True, slots=True)
class TariffWindow:
    """A daily window in local wall time; `end` before `start` means it runs past midnight."""

    name: str
    start: time
    end: time
    limit_w: float | None = None
    cheap: bool = False
    """Green runs wait for a cheap window when they can still finish by their deadline."""

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"tariff window {self.name!r} is empty: start == end")
        if self.limit_w is not None and not self.limit_w > 0:
            raise ValueError(f"tariff window {self.name!r}: limit must be positive")

    def contains(self, now: datetime) -> bool:
        wall = now.timetz().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def current_start(self, now: datetime) -> datetime:
        """Start of the occurrence that contains `now` (caller checks `contains` first)."""
        today = _at(now, self.start, 0)
        return today if today <= now else _at(now, self.start, -1)

    def next_start(self, now: datetime) -> datetime:
        today = _at(now, self.start, 0)
        return today if today > now else _at(now, self.start, 1)


def _at(now: datetime, wall: time, day_offset: int) -> datetime:
    day = now.date() + timedelta(days=day_offset)
    return datetime.combine(day, wall, tzinfo=now.tzinfo)


@dataclass(frozen=True, slots=True)
class DemandResponse:
    """A utility's request: a limit, a level, or both, until it expires.

    Level 1 turns green sockets off, 2 yellow too (within their comfort bound), 3 everything but
    red, comfort bounds included: it is the emergency tool.
    """

    expires_at: datetime
    level: int = 0
    limit_w: float | None = None
    source: str = DR_SOURCE_UTILITY
    """Who asked: `DR_SOURCE_UTILITY`, `DR_SOURCE_HOUSEHOLD` or a label of the caller's; the
    reasons name it."""

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("a DR request needs a source")
        if not 0 <= self.level <= MAX_DR_LEVEL:
            raise ValueError(f"DR level must be 0..{MAX_DR_LEVEL}, not {self.level}")
        if self.limit_w is not None and not self.limit_w > 0:
            raise ValueError("a DR limit must be positive")
        if self.level == 0 and self.limit_w is None:
            raise ValueError("a DR request needs a level or a limit")
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")

    def active(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class LimitInForce:
    watts: float
    """math.inf when no limit applies."""
    source: LimitSource
    until: datetime | None = None
    requested_by: str | None = None
    """For a DR limit: the request's source."""

    @property
    def words(self) -> str:
        if self.source is LimitSource.DEMAND_RESPONSE and self.requested_by is not None:
            return dr_source_words(self.requested_by)[1]
        return LIMIT_SOURCE_WORDS[self.source]


@dataclass(frozen=True, slots=True)
class LimitStack:
    """Everything that can cap the household; the lowest active cap wins."""

    household_limit_w: float | None = None
    contract_power_w: float | None = None
    tariff_windows: tuple[TariffWindow, ...] = ()
    demand_response: DemandResponse | None = field(default=None)

    def __post_init__(self) -> None:
        for label, value in (
            ("household limit", self.household_limit_w),
            ("contract power", self.contract_power_w),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number")

    def in_force(self, now: datetime) -> LimitInForce:
        best = LimitInForce(math.inf, LimitSource.NONE)
        candidates: list[LimitInForce] = []
        if self.household_limit_w is not None:
            candidates.append(LimitInForce(self.household_limit_w, LimitSource.HOUSEHOLD))
        for window in self.tariff_windows:
            if window.limit_w is not None and window.contains(now):
                candidates.append(LimitInForce(window.limit_w, LimitSource.TARIFF_WINDOW))
        if self.contract_power_w is not None:
            candidates.append(LimitInForce(self.contract_power_w, LimitSource.CONTRACT))
        dr = self.demand_response
        if dr is not None and dr.limit_w is not None and dr.active(now):
            candidates.append(
                LimitInForce(
                    dr.limit_w,
                    LimitSource.DEMAND_RESPONSE,
                    until=dr.expires_at,
                    requested_by=dr.source,
                )
            )
        # Ties keep the first (household before utility) so the reason names the household's own
        # choice when it is as strict as the utility's.
        for candidate in candidates:
            if candidate.watts < best.watts:
                best = candidate
        return best

    def dr_level(self, now: datetime) -> int:
        dr = self.demand_response
        return dr.level if dr is not None and dr.active(now) else 0

    def cheap_window_state(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(start of the cheap window now in force or None, start of the next one or None)."""
        current: datetime | None = None
        upcoming: datetime | None = None
        for window in self.tariff_windows:
            if not window.cheap:
                continue
            if window.contains(now):
                start = window.current_start(now)
                current = start if current is None else max(current, start)
            nxt = window.next_start(now)
            upcoming = nxt if upcoming is None else min(upcoming, nxt)
        return current, upcoming
