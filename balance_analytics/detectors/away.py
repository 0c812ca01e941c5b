"""Away mode ("zero control", the "guests" case): the home is set to zero; anything more is news.

While armed, every meter may use no more than its allowance: nothing for water and gas (beyond the
meter's noise), the always-on baseline for electricity (fridge and standby do not stop when the
family leaves). Consumption above the allowance within any hour raises an alarm that stays until the
home is disarmed, so a short event is not lost between two looks at the phone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from balance_analytics.carriers import SECONDS_PER_HOUR, Carrier

from .base import DetectorKind, Finding, MeterContext
from .base import utc_datetime as _dt


@dataclass(frozen=True, slots=True)
class Allowance:
    """What a meter may use while nobody is home: ``per_hour`` (units/h) plus ``grace`` (units)
    within any hour. ``grace`` absorbs a single stray pulse (1 L of water, 10 L of gas)."""

    per_hour: float = 0.0
    grace: float = 0.0

    def __post_init__(self) -> None:
        if self.per_hour < 0 or self.grace < 0:
            raise ValueError("an allowance cannot be negative")

    @classmethod
    def default_for(cls, carrier: Carrier, baseline_per_hour: float | None = None) -> Allowance:
        """Noise allowances per carrier; electricity and heat allow their usual baseline.

        ``baseline_per_hour`` is the home's always-on consumption (the standby detector's baseline
        for electricity); half again on top covers a fridge cycle that falls inside one hour.
        """
        match carrier:
            case Carrier.WATER:
                return cls(grace=0.002)
            case Carrier.GAS:
                return cls(grace=0.011)
            case Carrier.ELECTRICITY | Carrier.HEAT:
                base = baseline_per_hour if baseline_per_hour is not None else 0.1
                return cls(per_hour=base * 1.5, grace=0.05)


class _MeterGuard:
    __slots__ = ("allowance", "context", "finding", "window")

    def __init__(self, context: MeterContext, allowance: Allowance) -> None:
        self.context = context
        self.allowance = allowance
        self.window: deque[tuple[float, float, float]] = deque()
        self.finding = Finding(DetectorKind.AWAY, context.carrier, active=False)


class ZeroControl:
    """Away mode for one home with several meters, identified by any hashable key."""

    kind = DetectorKind.AWAY

    def __init__(self, meters: Mapping[str, tuple[MeterContext, Allowance]]) -> None:
        self._meters = {
            key: _MeterGuard(ctx, allowance) for key, (ctx, allowance) in meters.items()
        }
        self._armed_at: float | None = None

    @property
    def armed(self) -> bool:
        return self._armed_at is not None

    def arm(self, t: float) -> None:
        """Set the home to zero from ``t``; consumption before ``t`` never counts."""
        self._armed_at = t
        for guard in self._meters.values():
            guard.window.clear()
            guard.finding = Finding(self.kind, guard.context.carrier, active=False)

    def disarm(self) -> None:
        self._armed_at = None
        for guard in self._meters.values():
            guard.window.clear()
            guard.finding = Finding(self.kind, guard.context.carrier, active=False)

    def set_allowance(self, meter: str, allowance: Allowance) -> None:
        self._meters[meter].allowance = allowance

    def finding(self, meter: str) -> Finding:
        return self._meters[meter].finding

    @property
    def findings(self) -> dict[str, Finding]:
        return {key: guard.finding for key, guard in self._meters.items()}

    @property
    def alarm(self) -> bool:
        return any(guard.finding.active for guard in self._meters.values())

    def update(self, meter: str, t0: float, t1: float, amount: float) -> Finding:
        guard = self._meters[meter]
        if self._armed_at is None or guard.finding.active:
            return guard.finding
        if t1 <= self._armed_at:
            return guard.finding
        if t0 < self._armed_at:
            amount *= (t1 - self._armed_at) / (t1 - t0)
            t0 = self._armed_at
        window = guard.window
        window.append((t0, t1, amount))
        while window and window[0][1] <= t1 - SECONDS_PER_HOUR:
            window.popleft()
        span_h = min(1.0, (t1 - window[0][0]) / SECONDS_PER_HOUR)
        used = sum(a for _, _, a in window)
        allowed = guard.allowance.per_hour * span_h + guard.allowance.grace
        if used <= allowed:
            return guard.finding
        first = next((s for s, _, a in window if a > 0), t0)
        excess_rate = (used - guard.allowance.per_hour * span_h) / max(span_h, 1 / 60)
        ctx = guard.context
        guard.finding = Finding(
            self.kind,
            ctx.carrier,
            active=True,
            rate_per_hour=excess_rate,
            since=_dt(first),
            detected_at=_dt(t1),
            price_per_unit=ctx.price_per_unit,
            reason=(
                f"{used:.3g} {ctx.carrier.unit} of {ctx.carrier.value} used since "
                f"{ctx.when(first)} while the home is set to zero "
                f"(allowed {allowed:.3g} {ctx.carrier.unit})."
            ),
            evidence={"used": used, "allowed": allowed},
        )
        return guard.finding
