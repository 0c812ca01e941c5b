"""What the demo home is in Home Assistant: its entity ids and the dashboard that shows them.

The entity ids follow from the simulator's serial numbers (the demo home kit of concentrator 0
and its first meter modules) and the integration's entity names; the demo checks after set-up
that every one of them exists, so a renamed entity fails the demo loudly instead of leaving an
empty card.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

HOME_METERS = "10000100"
"""D100FC of the demo household: electricity, water, gas."""
HEAT_METERS = "10000103"
"""Every fourth D100FC has a heat meter on its third input; the demo home borrows this one."""
SENSOR_MODULE = "10000001"
VALVE_MODULE = "10000005"


@dataclass(frozen=True, slots=True)
class Socket:
    switch: str
    name: str
    colour: str
    power_w: int

    @property
    def colour_select(self) -> str:
        return f"select.{self.name.lower().replace(' ', '_')}_colour"


SOCKETS = (
    Socket("switch.ad220_10000002_relay", "Fridge and lights", "red", 300),
    Socket("switch.ad220_10000003_relay", "Boiler", "yellow", 2000),
    Socket("switch.ad220_10000004_relay", "Washing machine", "green", 2000),
)


@dataclass(frozen=True, slots=True)
class DemoEntities:
    electricity_total: str = f"sensor.electricity_meter_{HOME_METERS}_1_energy"
    electricity_power: str = f"sensor.electricity_meter_{HOME_METERS}_1_power"
    water_total: str = f"sensor.water_meter_{HOME_METERS}_2_water"
    water_flow: str = f"sensor.water_meter_{HOME_METERS}_2_flow"
    gas_total: str = f"sensor.gas_meter_{HOME_METERS}_3_gas"
    heat_total: str = f"sensor.heat_meter_{HEAT_METERS}_3_heat_energy"
    flood: str = f"binary_sensor.sensor_{SENSOR_MODULE}_moisture"
    gas_alarm: str = f"binary_sensor.sensor_{SENSOR_MODULE}_gas"
    valve: str = f"valve.valve_{VALVE_MODULE}_shut_off_valve"
    temperature: str = f"sensor.sensor_{SENSOR_MODULE}_temperature"
    # the household analytics of the DMesh meters
    water_leak: str = f"binary_sensor.water_meter_{HOME_METERS}_2_water_leak"
    pipe_burst: str = f"binary_sensor.water_meter_{HOME_METERS}_2_pipe_burst"
    gas_leak: str = f"binary_sensor.gas_meter_{HOME_METERS}_3_gas_leak"
    electricity_forecast: str = f"sensor.electricity_meter_{HOME_METERS}_1_forecast_this_month"
    water_forecast: str = f"sensor.water_meter_{HOME_METERS}_2_forecast_this_month"
    gas_forecast: str = f"sensor.gas_meter_{HOME_METERS}_3_forecast_this_month"
    lm_mode: str = "select.load_manager_mode"
    lm_limit: str = "sensor.load_manager_limit_in_force"
    lm_headroom: str = "sensor.load_manager_headroom"
    lm_shedding: str = "binary_sensor.load_manager_shedding"
    lm_decision: str = "sensor.load_manager_last_decision"
    lm_switch: str = "switch.load_manager_load_management"

    def concentrator_ids(self) -> list[str]:
        """Entities of the concentrator entry that have a value once the modules reported."""
        return [
            getattr(self, f.name)
            for f in fields(self)
            if not f.name.startswith("lm_") and f.name not in ANALYTICS
        ] + [s.switch for s in SOCKETS]

    def analytics_ids(self) -> list[str]:
        """They exist at once; a forecast stays unknown until there is enough history."""
        return [getattr(self, name) for name in ANALYTICS]

    def load_manager_ids(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self) if f.name.startswith("lm_")] + [
            s.colour_select for s in SOCKETS
        ]


ANALYTICS = (
    "water_leak",
    "pipe_burst",
    "gas_leak",
    "electricity_forecast",
    "water_forecast",
    "gas_forecast",
)


def _entities(title: str, ids: list[str]) -> dict[str, Any]:
    return {"type": "entities", "title": title, "entities": ids}


def _profile(title: str, ids: list[str], period: str, days: int) -> dict[str, Any]:
    """Hourly or daily consumption from the long-term statistics, backfill included."""
    return {
        "type": "statistics-graph",
        "title": title,
        "entities": ids,
        "period": period,
        "days_to_show": days,
        "stat_types": ["change"],
        "chart_type": "bar",
    }


def lovelace_config(entities: DemoEntities) -> dict[str, Any]:
    """The default dashboard: meters and profiles, leak alarms, the load manager."""
    e = entities
    home = [
        _entities(
            "Meters",
            [e.electricity_total, e.electricity_power, e.water_total, e.water_flow, e.gas_total],
        ),
        _profile("Electricity, hourly profile", [e.electricity_total], "hour", 2),
        _profile("Water and gas, daily profile", [e.water_total, e.gas_total], "day", 14),
        # hourly statistics, backfill included: the live flow of a 15 l/h drip is a pulse every
        # few minutes, which a few hours' flow graph shows as zero with spikes
        _profile(
            "Water, hourly (a dripping tap is a floor that never reaches zero)",
            [e.water_total],
            "hour",
            2,
        ),
        _entities(
            "Forecast to the end of the month",
            [e.electricity_forecast, e.water_forecast, e.gas_forecast],
        ),
        _entities(
            "Leak alarms",
            [e.water_leak, e.pipe_burst, e.gas_leak, e.flood, e.gas_alarm, e.valve],
        ),
        _entities(
            "Load manager",
            [e.lm_switch, e.lm_mode, e.lm_limit, e.lm_headroom, e.lm_shedding, e.lm_decision],
        ),
        _entities(
            "Sockets",
            [item for s in SOCKETS for item in (s.switch, s.colour_select)],
        ),
    ]
    return {"title": "BALANCE", "views": [{"title": "Home", "path": "home", "cards": home}]}
