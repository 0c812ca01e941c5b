"""Leak, gas and standby detection over simulated households: detection delay and false alarms.

Households come from the simulator's consumption model (``dmesh_lib.simulator.consumption``):
people who sleep, work, go on holiday, visit the toilet at night, keep a fridge and a freezer
cycling, and heat with gas when the weather is cold. Half of them stay clean all run long and give
the false-alarm rate; the other half get faults injected with the model's own scenario overlay
(``set_extra_rate``), one after another, each long enough to be found and then repaired:

* a dripping tap, 15 L/h, for 3 days;
* a gas leak, 0.22 m³ a day, for 4 days;
* a new always-on load of 30 W, for 8 days.

Water is read every 5 minutes (an ESPHome or Shelly pulse counter); the water delay is also
reported for hourly readings only (a DMesh module), where only the no-quiet-hour rule applies.
Electricity, gas and heat are read hourly. Every detector runs at its NORMAL sensitivity through
``MeterMonitor``, exactly as Home Assistant would run it; gas meters also heat the home, and the
monitor gets the model's outdoor temperature as a weather entity would give it.

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

# run as a script from a checkout without an editable install, as `make bench` may
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from balance_analytics import (
    GAS_HEATING_LIMIT_C,
    Carrier,
    DetectorKind,
    HeatingWeather,
    MeterContext,
    MeterMonitor,
    NoZeroHourDetector,
)
from dmesh_lib.simulator.consumption import ConsumptionModel
from dmesh_lib.units import MeterKind

TZ = ZoneInfo("Europe/Berlin")
"""The model's people live on central-European civil time."""
STEP_S = 300
HOUR = 3600
DAY = 86_400
CYCLE_DAYS = 28

TAP_M3_H = 0.015
GAS_LEAK_M3_H = 0.22 / 24
VAMPIRE_KWH_H = 0.030
TAP_DAYS, GAS_DAYS, VAMPIRE_DAYS = 3, 4, 8
NIGHT_START_HOUR, NIGHT_END_HOUR = 1, 5  # the gas and standby detectors' night

CARRIER = {
    MeterKind.ELECTRICITY: Carrier.ELECTRICITY,
    MeterKind.WATER: Carrier.WATER,
    MeterKind.GAS: Carrier.GAS,
    MeterKind.HEAT: Carrier.HEAT,
}
PRICE = {Carrier.ELECTRICITY: 0.30, Carrier.WATER: 2.5, Carrier.GAS: 1.1, Carrier.HEAT: 0.12}


@dataclass(frozen=True, slots=True)
class Config:
    clean: int
    faulty: int
    days: int
    start: datetime
    seed: int


@dataclass(slots=True)
class Episode:
    meter: int
    fault: str
    start: float
    end: float
    rate: float
    heating_season: bool = False


@dataclass(slots=True)
class Onset:
    time: float
    kinds: tuple[DetectorKind, ...]


@dataclass(slots=True)
class MeterRun:
    meter: int
    household: int
    kind: MeterKind
    monitor: MeterMonitor
    hourly_only: NoZeroHourDetector | None = None
    onsets: list[Onset] = field(default_factory=list)
    hourly_onsets: list[float] = field(default_factory=list)
    active: bool = False
    hourly_active: bool = False
    hour_sum: float = 0.0


def build_schedule(cfg: Config, meters: Sequence[MeterRun], t0: float) -> list[Episode]:
    rng = np.random.default_rng([cfg.seed, 0xBE7C])
    episodes: list[Episode] = []
    end = t0 + cfg.days * DAY
    by_household: dict[int, dict[MeterKind, int]] = {}
    for run in meters:
        by_household.setdefault(run.household, {})[run.kind] = run.meter
    for household in range(cfg.clean, cfg.clean + cfg.faulty):
        own = by_household[household]
        cycle = 0
        while True:
            base = t0 + cycle * CYCLE_DAYS * DAY
            if base >= end:
                break
            plan = (
                ("tap", own[MeterKind.WATER], 1.0, 6.0, TAP_DAYS, TAP_M3_H),
                ("gas", own[MeterKind.GAS], 8.0, 12.0, GAS_DAYS, GAS_LEAK_M3_H),
                # the standby reference needs two weeks of ordinary nights before the first fault
                ("standby", own[MeterKind.ELECTRICITY], 14.0, 17.0, VAMPIRE_DAYS, VAMPIRE_KWH_H),
            )
            for fault, meter, lo, hi, days, rate in plan:
                start = base + rng.uniform(lo, hi) * DAY
                start = math.floor(start / STEP_S) * STEP_S
                stop = start + days * DAY
                if stop <= end:
                    episodes.append(Episode(meter, fault, start, stop, rate))
            cycle += 1
    episodes.sort(key=lambda e: e.start)
    return episodes


def simulate(cfg: Config) -> dict[str, object]:
    households = cfg.clean + cfg.faulty
    kinds: list[MeterKind] = []
    household_of: list[int] = []
    for h in range(households):
        own = [MeterKind.ELECTRICITY, MeterKind.WATER, MeterKind.GAS]
        if h % 4 == 3:
            own.append(MeterKind.HEAT)  # some flats also have a district-heat sub-meter
        kinds += own
        household_of += [h] * len(own)
    model = ConsumptionModel(kinds, seed=cfg.seed, household_of=household_of)
    t0 = cfg.start.timestamp()
    t_end = t0 + cfg.days * DAY
    model.prepare(t0, t_end)

    runs: list[MeterRun] = []
    for m, (kind, h) in enumerate(zip(kinds, household_of, strict=True)):
        carrier = CARRIER[kind]
        context = MeterContext(carrier, TZ, PRICE[carrier])
        monitor = MeterMonitor(context, gas_heats_home=True)
        hourly = NoZeroHourDetector(context) if kind is MeterKind.WATER else None
        runs.append(MeterRun(m, h, kind, monitor, hourly))
    schedule = build_schedule(cfg, runs, t0)
    weather = HeatingWeather()
    pending = list(schedule)
    live: list[Episode] = []

    water = [r for r in runs if r.kind is MeterKind.WATER]
    hourly_runs = [r for r in runs if r.kind is not MeterKind.WATER]
    steps = int((t_end - t0) // STEP_S)
    started = time.monotonic()
    for step in range(steps):
        t = t0 + step * STEP_S
        while pending and pending[0].start <= t:
            episode = pending.pop(0)
            model.set_extra_rate(episode.meter, episode.rate)
            live.append(episode)
        for episode in [e for e in live if e.end <= t]:
            model.set_extra_rate(episode.meter, 0.0)
            live.remove(episode)

        used = model.consumption(t, t + STEP_S)
        for run in water:
            run.monitor.update(t, t + STEP_S, float(used[run.meter]))
            _note(run, t + STEP_S)
        for run in runs:
            run.hour_sum += float(used[run.meter])
        if (t + STEP_S) % HOUR == 0:
            hour = t + STEP_S - HOUR
            temperature = model.outdoor_temperature(hour + HOUR / 2)
            weather.add(temperature)
            _mark_heating(live, hour, weather)
            for run in hourly_runs:
                run.monitor.update(hour, hour + HOUR, run.hour_sum, outdoor_temp_c=temperature)
                run.hour_sum = 0.0
                _note(run, hour + HOUR)
            for run in water:
                assert run.hourly_only is not None
                finding = run.hourly_only.update(hour, hour + HOUR, run.hour_sum)
                run.hour_sum = 0.0
                if finding.active and not run.hourly_active:
                    run.hourly_onsets.append(hour + HOUR)
                run.hourly_active = finding.active
        if step % (7 * DAY // STEP_S) == 0 and step:
            elapsed = time.monotonic() - started
            done = step / steps
            print(
                f"  day {step * STEP_S // DAY:4d}/{cfg.days}  {elapsed:6.1f} s  "
                f"eta {elapsed / done * (1 - done):6.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return analyse(cfg, runs, schedule, model, t0)


def _mark_heating(live: Sequence[Episode], hour: float, weather: HeatingWeather) -> None:
    """Flag gas leaks whose first two nights fall in the heating season (the boiler may run)."""
    if not NIGHT_START_HOUR <= datetime.fromtimestamp(hour, TZ).hour < NIGHT_END_HOUR:
        return
    heating = weather.value
    cold = heating is None or heating < GAS_HEATING_LIMIT_C
    for episode in live:
        if episode.fault == "gas" and cold and hour < episode.start + 2 * DAY:
            episode.heating_season = True


def _note(run: MeterRun, t: float) -> None:
    active = tuple(k for k, f in run.monitor.findings.items() if f.active)
    if active and not run.active:
        run.onsets.append(Onset(t, active))
    run.active = bool(active)


def analyse(
    cfg: Config,
    runs: Sequence[MeterRun],
    schedule: Sequence[Episode],
    model: ConsumptionModel,
    t0: float,
) -> dict[str, object]:
    years = cfg.days / 365.25
    clean = [r for r in runs if r.household < cfg.clean]
    false_alarms = sum(len(r.onsets) for r in clean)
    # the hourly-readings variant of the water rule, as a DMesh home would run it
    false_alarms_hourly = sum(len(r.hourly_onsets) for r in clean)
    by_detector: dict[str, int] = {}
    for run in clean:
        for onset in run.onsets:
            for kind in onset.kinds:
                by_detector[kind.value] = by_detector.get(kind.value, 0) + 1

    by_meter = {r.meter: r for r in runs}
    delays: dict[str, list[float | None]] = {"tap": [], "gas": [], "standby": []}
    hourly_tap: list[float | None] = []
    gas_heating_off: list[float | None] = []
    for episode in schedule:
        run = by_meter[episode.meter]
        hit = next((o.time for o in run.onsets if episode.start < o.time <= episode.end), None)
        delay = None if hit is None else (hit - episode.start) / HOUR
        if hit is None and not (episode.fault == "gas" and episode.heating_season):
            when = datetime.fromtimestamp(episode.start, TZ)
            print(
                f"  not found: {episode.fault} on meter {episode.meter} from {when}",
                file=sys.stderr,
            )
        if episode.fault == "standby":
            delays["standby"].append(None if hit is None else _nights(episode.start, hit))
        else:
            delays[episode.fault].append(delay)
        if episode.fault == "gas" and not episode.heating_season:
            gas_heating_off.append(delay)
        if episode.fault == "tap":
            h = next((x for x in run.hourly_onsets if episode.start < x <= episode.end), None)
            hourly_tap.append(None if h is None else (h - episode.start) / HOUR)

    def median(values: Sequence[float | None]) -> float | None:
        """Median with undetected faults counted as never found (infinitely late)."""
        if not values:
            return None
        ordered = sorted(math.inf if v is None else v for v in values)
        mid = statistics.median(ordered)
        return None if math.isinf(mid) else round(mid, 2)

    def worst(values: Sequence[float | None]) -> float | None:
        if not values:
            return None
        if any(v is None for v in values):
            return None
        return round(max(v for v in values if v is not None), 2)

    def share(values: Sequence[float | None], limit: float) -> float | None:
        if not values:
            return None
        return round(sum(1 for v in values if v is not None and v <= limit) / len(values), 3)

    heating_flow = _heating_night_flow(model, runs, t0, cfg)
    summary: dict[str, object] = {
        "tap_delay_h": median(delays["tap"]),
        "gas_delay_h": median(delays["gas"]),
        "standby_nights": median(delays["standby"]),
        "false_alarms_per_household_year": round(false_alarms / (cfg.clean * years), 3),
        "tap_delay_h_max": worst(delays["tap"]),
        "tap_delay_h_hourly_readings": median(hourly_tap),
        "tap_delay_h_hourly_readings_max": worst(hourly_tap),
        "gas_delay_h_heating_off": median(gas_heating_off),
        "gas_delay_h_heating_off_max": worst(gas_heating_off),
        "standby_nights_max": worst(delays["standby"]),
        "tap_within_24h_share": share(delays["tap"], 24),
        "tap_within_24h_share_hourly_readings": share(hourly_tap, 24),
        "gas_within_48h_share": share(delays["gas"], 48),
        "gas_within_48h_share_heating_off": share(gas_heating_off, 48),
        "standby_within_3_nights_share": share(delays["standby"], 3),
        "tap_episodes": len(delays["tap"]),
        "gas_episodes": len(delays["gas"]),
        "gas_found": sum(1 for v in delays["gas"] if v is not None),
        "gas_episodes_heating_off": len(gas_heating_off),
        "gas_found_heating_off": sum(1 for v in gas_heating_off if v is not None),
        "gas_night_heating_flow_m3_h_median": heating_flow,
        "standby_episodes": len(delays["standby"]),
        "false_alarms": false_alarms,
        "false_alarms_by_detector": by_detector,
        "false_alarms_water_hourly_readings": false_alarms_hourly,
        "clean_household_years": round(cfg.clean * years, 2),
    }
    return summary


def _nights(start: float, found: float) -> int:
    """Nights (ending 05:00 local) from a fault's start to its flag, the flag's night included."""
    count = 0
    day = datetime.fromtimestamp(start, TZ).date()
    while True:
        night_end = datetime(day.year, day.month, day.day, NIGHT_END_HOUR, tzinfo=TZ).timestamp()
        if night_end > found:
            return count
        if night_end > start:
            count += 1
        day = datetime.fromtimestamp(night_end + DAY, TZ).date()


def _heating_night_flow(
    model: ConsumptionModel, runs: Sequence[MeterRun], t0: float, cfg: Config
) -> float | None:
    """Median gas flow between 01:00 and 05:00 on January nights, to set a leak against."""
    january = datetime(cfg.start.year, 1, 15, 1, tzinfo=TZ).timestamp()
    if not t0 <= january < t0 + cfg.days * DAY - DAY:
        return None
    gas = [r.meter for r in runs if r.kind is MeterKind.GAS]
    history = model.hourly_history(int(january // HOUR), 4)
    return round(float(np.median(history[gas])), 4)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few households for six weeks")
    parser.add_argument("--clean", type=int, help="clean households (false alarms)")
    parser.add_argument("--faulty", type=int, help="households with injected faults")
    parser.add_argument("--days", type=int, help="simulated days")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    if args.quick:
        # high summer: the heating is off, so the gas leak is visible, and a run stays short
        cfg = Config(16, 8, 42, datetime(2025, 6, 23, tzinfo=TZ), args.seed)
    else:
        cfg = Config(40, 30, 365, datetime(2025, 1, 1, tzinfo=TZ), args.seed)
    cfg = Config(
        args.clean if args.clean is not None else cfg.clean,
        args.faulty if args.faulty is not None else cfg.faulty,
        args.days if args.days is not None else cfg.days,
        cfg.start,
        cfg.seed,
    )
    print(
        f"leak detection: {cfg.clean} clean + {cfg.faulty} faulty households, {cfg.days} days "
        f"from {cfg.start:%Y-%m-%d}, seed {cfg.seed}",
        file=sys.stderr,
    )
    started = time.monotonic()
    summary = simulate(cfg)
    print(f"done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    for key, value in summary.items():
        print(f"  {key}: {value}", file=sys.stderr)
    print(json.dumps(summary, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
