"""Explainable detectors: leaks, bursts, night gas, standby, heat without demand, away mode."""

from .away import Allowance, ZeroControl
from .base import (
    Binner,
    Detector,
    DetectorKind,
    Finding,
    HeatingWeather,
    MeterContext,
    Sensitivity,
    replay_hourly,
)
from .electricity import StandbyDetector, StandbySettings
from .gas import NightFlowDetector, NightFlowSettings
from .heat import HeatWithoutDemandDetector, HeatWithoutDemandSettings
from .monitor import GAS_HEATING_LIMIT_C, MeterMonitor
from .water import (
    BurstDetector,
    BurstSettings,
    ContinuousFlowDetector,
    ContinuousFlowSettings,
    NoZeroHourDetector,
    NoZeroHourSettings,
)

__all__ = [
    "GAS_HEATING_LIMIT_C",
    "Allowance",
    "Binner",
    "BurstDetector",
    "BurstSettings",
    "ContinuousFlowDetector",
    "ContinuousFlowSettings",
    "Detector",
    "DetectorKind",
    "Finding",
    "HeatWithoutDemandDetector",
    "HeatWithoutDemandSettings",
    "HeatingWeather",
    "MeterContext",
    "MeterMonitor",
    "NightFlowDetector",
    "NightFlowSettings",
    "NoZeroHourDetector",
    "NoZeroHourSettings",
    "Sensitivity",
    "StandbyDetector",
    "StandbySettings",
    "ZeroControl",
    "replay_hourly",
]
