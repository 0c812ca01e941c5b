"""All the detectors that fit one meter, behind one call: what Home Assistant wraps per meter."""

from __future__ import annotations

from balance_analytics.carriers import Carrier

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

    @property
    def findings(self) -> dict[DetectorKind, Finding]:
        return {d.kind: d.finding for d in self.detectors}

    @property
    def alarm(self) -> bool:
        return any(d.finding.active for d in self.detectors)
