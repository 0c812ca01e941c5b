"""Faults and situations the simulator can switch on, from the command line or at run time.

Each scenario is what a household or an installer meets in the field (BRIEF §1): a dripping tap,
a gas leak, a magnet on a meter, a module out of reach for hours. A scenario is written
``name[:key=value,...]``; ``module`` picks the target (default: the demo home's module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ScenarioName(StrEnum):
    DRIPPING_TAP = "dripping_tap"
    """15 L/h on the water meter: ≈ 11 m³ a month."""
    RUNNING_TOILET = "running_toilet"
    """A flush valve that never seals: ≈ 30 L/h."""
    GAS_LEAK = "gas_leak"
    """0.22 m³ of gas a day, continuously."""
    STANDBY_VAMPIRES = "standby_vampires"
    """Extra always-on standby load (default 60 W)."""
    MAGNET = "magnet"
    """A magnet on the meter: the pulse sensor reports a field and the meter under-registers."""
    CUT_WIRE = "cut_wire"
    """The pulse cable is cut: wire-break status, no pulses counted."""
    OFFLINE = "offline"
    """The module is out of radio reach for ``hours`` (simulated) and then returns with backlog."""
    LOW_BATTERY = "low_battery"
    POWER_CUT = "power_cut"
    """Phase voltage lost in the home: electricity stops, the sensor module reports no phases."""
    PACKET_LOSS = "packet_loss"
    """Radio reports lost with probability ``p`` (counters keep counting; backlog recovers)."""
    LINE_NOISE = "line_noise"
    """Bytes corrupted on the serial/TCP line with probability ``p`` per frame."""
    FLOOD = "flood"
    """The flood sensor under the washing machine is wet."""


DEFAULTS: dict[ScenarioName, dict[str, float]] = {
    ScenarioName.DRIPPING_TAP: {"rate_m3_h": 0.015},
    ScenarioName.RUNNING_TOILET: {"rate_m3_h": 0.030},
    ScenarioName.GAS_LEAK: {"rate_m3_day": 0.22},
    ScenarioName.STANDBY_VAMPIRES: {"watts": 60.0},
    ScenarioName.MAGNET: {"registration": 0.3, "channel": 0},
    ScenarioName.CUT_WIRE: {"channel": 0},
    ScenarioName.OFFLINE: {"hours": 6.0},
    ScenarioName.LOW_BATTERY: {},
    ScenarioName.POWER_CUT: {},
    ScenarioName.PACKET_LOSS: {"p": 0.2},
    ScenarioName.LINE_NOISE: {"p": 0.05},
    ScenarioName.FLOOD: {},
}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: ScenarioName
    module: int | None = None
    """Target module serial; None means the demo home's module of the fitting kind."""
    params: dict[str, float] = field(default_factory=dict)

    def param(self, key: str) -> float:
        return self.params.get(key, DEFAULTS[self.name][key])

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """``dripping_tap`` or ``offline:hours=6,module=0x10000002``."""
        name_part, _, rest = text.strip().partition(":")
        try:
            name = ScenarioName(name_part.strip())
        except ValueError:
            known = ", ".join(s.value for s in ScenarioName)
            raise ValueError(f"unknown scenario {name_part!r}; known: {known}") from None
        module: int | None = None
        params: dict[str, float] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"expected key=value in scenario {text!r}, got {item!r}")
            key = key.strip()
            if key == "module":
                module = int(value, 0)
            elif key in DEFAULTS[name]:
                params[key] = float(value)
            else:
                allowed = ", ".join(["module", *DEFAULTS[name]])
                raise ValueError(f"scenario {name} takes {allowed}; got {key!r}")
        return cls(name, module, params)
