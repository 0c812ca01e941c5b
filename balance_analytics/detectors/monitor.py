"""All the detectors that fit one meter, behind one call: what Home Assistant wraps per meter."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from balance_analytics.carriers import SECONDS_PER_HOUR, Carrier

from .base import Detector, DetectorKind, Finding, MeterContext, Sensitivity
from .electricity import StandbyDetector, StandbySettings
from .gas import NightFlowDetector, NightFlowSettings
from .heat import HeatWithoutDemandDetector, HeatWithoutDemandSettings
from .water import (
    BurstDetector,
    BurstSettings,
    ContinuousFlowDetector,
    ContinuousFlowSettings,
    NoZeroHourDetector,
    NoZeroHourSettings,
)

GAS_HEATING_LIMIT_C = 18.0
"""Heating temperature below which a gas boiler may run all night and hide a small leak.

European buildings stop heating at 14-17 °C of the day's mean temperature, but a live detector
knows the day only up to now, and a cold morning in a warm spell still heats; 18 °C, the usual
base of heating degree days, leaves that margin."""


class MeterMonitor:
    """The carrier's detectors at one sensitivity.

    ``gas_heats_home``: the gas meter also feeds a heating boiler, so nights in the heating season
    cannot show a leak; telling the season needs ``outdoor_temp_c`` with the readings.
    ``standby_limit_w``: an absolute standby limit the household chose, on top of the rise
    detection.
    """

    def __init__(
        self,
        context: MeterContext,
        sensitivity: Sensitivity = Sensitivity.NORMAL,
        *,
        gas_heats_home: bool = False,
        standby_limit_w: float | None = None,
    ) -> None:
        self.context = context
        self.sensitivity = sensitivity
        detectors: list[Detector]
        match context.carrier:
            case Carrier.WATER:
                detectors = [
                    NoZeroHourDetector(context, NoZeroHourSettings.for_sensitivity(sensitivity)),
                    ContinuousFlowDetector(
                        context, ContinuousFlowSettings.for_sensitivity(sensitivity)
                    ),
                    BurstDetector(context, BurstSettings.for_sensitivity(sensitivity)),
                ]
            case Carrier.GAS:
                limit = GAS_HEATING_LIMIT_C if gas_heats_home else None
                detectors = [
                    NightFlowDetector(
                        context, NightFlowSettings.for_sensitivity(sensitivity, limit)
                    )
                ]
            case Carrier.ELECTRICITY:
                detectors = [
                    StandbyDetector(
                        context, StandbySettings.for_sensitivity(sensitivity, standby_limit_w)
                    )
                ]
            case Carrier.HEAT:
                detectors = [
                    HeatWithoutDemandDetector(
                        context, HeatWithoutDemandSettings.for_sensitivity(sensitivity)
                    )
                ]
        self.detectors: tuple[Detector, ...] = tuple(detectors)

    def update(
        self,
        t0: float,
        t1: float,
        amount: float,
        *,
        outdoor_temp_c: float | None = None,
        demand: bool | None = None,
    ) -> dict[DetectorKind, Finding]:
        """Feed one interval to every detector; ``demand`` only matters for heat meters."""
        for detector in self.detectors:
            if isinstance(detector, HeatWithoutDemandDetector):
                detector.update(t0, t1, amount, outdoor_temp_c=outdoor_temp_c, demand=demand)
            elif isinstance(detector, NightFlowDetector):
                detector.update(t0, t1, amount, outdoor_temp_c=outdoor_temp_c)
            else:
                detector.update(t0, t1, amount)
        return self.findings

    def replay_hourly(
        self,
        first_hour: int,
        values: npt.ArrayLike,
        outdoor_temps: npt.ArrayLike | None = None,
        demand: npt.ArrayLike | None = None,
    ) -> dict[DetectorKind, Finding]:
        """Feed an hourly history (NaN = unknown hour) through :meth:`update`, in time order.

        The same path as live data, so a restart or a fresh set-up on a house with history reaches
        the verdict it would have reached live. ``outdoor_temps`` (°C) and ``demand`` (1/0, NaN
        unknown) line up with ``values``.
        """
        if first_hour % SECONDS_PER_HOUR:
            raise ValueError(f"history must start on a whole hour, got {first_hour}")
        arr = np.asarray(values, dtype=np.float64)
        temps = _aligned(outdoor_temps, len(arr), "outdoor_temps")
        wants = _aligned(demand, len(arr), "demand")
        for i, v in enumerate(arr.tolist()):
            if not math.isfinite(v):
                continue  # the gap stays a gap: the detectors' binning reports it as unknown
            t0 = first_hour + i * SECONDS_PER_HOUR
            temp = temps[i] if temps is not None and math.isfinite(temps[i]) else None
            want = bool(wants[i]) if wants is not None and math.isfinite(wants[i]) else None
            self.update(t0, t0 + SECONDS_PER_HOUR, v, outdoor_temp_c=temp, demand=want)
        return self.findings

    @property
    def findings(self) -> dict[DetectorKind, Finding]:
        return {d.kind: d.finding for d in self.detectors}

    @property
    def alarm(self) -> bool:
        return any(d.finding.active for d in self.detectors)


def _aligned(values: npt.ArrayLike | None, length: int, name: str) -> list[float] | None:
    if values is None:
        return None
    out: list[float] = np.asarray(values, dtype=np.float64).tolist()
    if len(out) != length:
        raise ValueError(f"{name} has {len(out)} hours, the consumption {length}")
    return out
