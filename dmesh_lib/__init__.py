"""DMesh: the protocol, asyncio client and simulator of the BALANCE metering radio network."""

from .client import (
    BroadcastOutcome,
    CommandError,
    CommandFailed,
    CommandRejected,
    CommandTimeout,
    ConcentratorClient,
    ConcentratorNotResponding,
    ConnectionState,
    Event,
    HourlyCounter,
    MeterValue,
    NotConnected,
    meter_config_hint,
)
from .transport import (
    ConnectError,
    HostUnreachable,
    InvalidAddress,
    PortBusy,
    PortNotFound,
    PortPermissionDenied,
)
from .units import MeterConfig, MeterKind, MeterTotalizer, Unit

__all__ = [
    "BroadcastOutcome",
    "CommandError",
    "CommandFailed",
    "CommandRejected",
    "CommandTimeout",
    "ConcentratorClient",
    "ConcentratorNotResponding",
    "ConnectError",
    "ConnectionState",
    "Event",
    "HostUnreachable",
    "HourlyCounter",
    "InvalidAddress",
    "MeterConfig",
    "MeterKind",
    "MeterTotalizer",
    "MeterValue",
    "NotConnected",
    "PortBusy",
    "PortNotFound",
    "PortPermissionDenied",
    "Unit",
    "meter_config_hint",
]
