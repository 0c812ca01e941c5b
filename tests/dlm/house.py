"""A household in miniature for driving the real engine: relays that obey its decisions,
appliances with fixed draws, and a meter that adds them up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dlm import (
    DlmEngine,
    PowerReading,
    ShedCause,
    ShedDecision,
    SocketAction,
    SocketObservation,
)

START = datetime(2025, 1, 13, 18, 0, tzinfo=UTC)


@dataclass
class SimulatedHouse:
    engine: DlmEngine
    draws: Mapping[str, float]
    """What each socket's appliance draws while its relay is on."""
    base_w: float = 0.0
    now: datetime = START
    on: dict[str, bool] = field(default_factory=dict)
    decisions: list[ShedDecision] = field(default_factory=list)
    off_periods: dict[str, list[float]] = field(default_factory=dict)
    meter_period_s: float = 0.0
    """A meter that measures only this often (0: at every step); in between, the engine gets
    its last reading, measured before whatever was switched since."""
    _off_at: dict[str, datetime] = field(default_factory=dict)
    _meter: PowerReading | None = None

    def __post_init__(self) -> None:
        for config in self.engine.sockets:
            self.on.setdefault(config.socket_id, True)

    @property
    def total_w(self) -> float:
        return self.base_w + sum(w for s, w in self.draws.items() if self.on.get(s, True))

    def observations(self) -> dict[str, SocketObservation]:
        return {
            s: SocketObservation(self.on[s], self.draws.get(s, 0.0) if self.on[s] else 0.0)
            for s in self.on
        }

    def step(
        self,
        seconds: float = 60.0,
        base_w: float | None = None,
        reading: PowerReading | bool | None = True,
    ) -> list[ShedDecision]:
        """Advance the clock, read the meter (or not), let the engine decide, obey it."""
        self.now += timedelta(seconds=seconds)
        if base_w is not None:
            self.base_w = base_w
        meter: PowerReading | None
        if reading is True:
            last = self._meter
            if last is None or (self.now - last.measured_at).total_seconds() >= self.meter_period_s:
                self._meter = PowerReading(self.total_w, self.now)
            meter = self._meter
        elif reading is False:
            meter = None
        else:
            meter = reading
        decisions = self.engine.step(self.now, meter, self.observations())
        for decision in decisions:
            if decision.advisory:
                continue
            socket_id = decision.socket_id
            if decision.action is SocketAction.SWITCH_OFF:
                assert self.on[socket_id], f"{socket_id} switched off while off"
                self.on[socket_id] = False
                self._off_at[socket_id] = self.now
            else:
                if socket_id in self.on and decision.cause is not ShedCause.TURNED_ON_BY_HAND:
                    assert not self.on[socket_id], f"{socket_id} switched on while on"
                self.on[socket_id] = True
                since = self._off_at.pop(socket_id, None)
                if since is not None:
                    seconds_off = (self.now - since).total_seconds()
                    self.off_periods.setdefault(socket_id, []).append(seconds_off)
        self.decisions.extend(decisions)
        return decisions

    def is_on(self, socket_id: str) -> bool:
        return self.on[socket_id]

    def off_for(self, socket_id: str) -> float:
        """Seconds the socket has been off so far (0 if on)."""
        since = self._off_at.get(socket_id)
        return 0.0 if since is None else (self.now - since).total_seconds()
