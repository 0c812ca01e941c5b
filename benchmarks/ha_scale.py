"""Home Assistant at concentrator scale: 240 modules, 720 meters, through the whole path.

Measures, in a real ``hass`` (built the way pytest-homeassistant-custom-component builds it) against
the real simulator over loopback TCP:

- ``setup_s_720_meters``: from adding the config entry until every entity is available and every
  meter total has a value;
- ``readings_per_s``: meter readings (one channel's counter) from the concentrator's frame to the
  entity state written, with the link layer's acknowledgements and all.

Prints one JSON object as the last line; medians over the runs. ``--quick`` runs fewer rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homeassistant import loader
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.balance.const import CONF_URL, DOMAIN
from dmesh_lib.messages import MeterReading
from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import SimulatedNetwork
from dmesh_lib.units import COUNTER_MODULO

MODULES = 240


async def _wait(predicate: object, give_up_s: float = 120.0) -> None:
    deadline = time.monotonic() + give_up_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.001)


async def run_once(rounds: int) -> tuple[float, float]:
    network = SimulatedNetwork(
        meter_modules=MODULES, home=False, seed=1, start=time.time(), report_interval=3600
    )
    concentrator = SimulatedConcentrator(network, SimClock(speed=1.0), hop_latency=0.001)
    port = await concentrator.start("127.0.0.1", 0)
    async with async_test_home_assistant() as hass:
        # As the enable_custom_integrations fixture does: let the loader see custom_components.
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        try:
            setup_s = await _setup(hass, f"socket://127.0.0.1:{port}")
            rate = await _readings(hass, concentrator, network, rounds)
        finally:
            await hass.async_stop(force=True)
            await concentrator.stop()
    return setup_s, rate


async def _setup(hass: HomeAssistant, url: str) -> float:
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_URL: url})
    entry.add_to_hass(hass)
    started = time.perf_counter()
    assert await hass.config_entries.async_setup(entry.entry_id)
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    enabled = [e.entity_id for e in entities if not e.disabled]
    totals = [e.entity_id for e in entities if e.unique_id.endswith("-total")]
    assert len(totals) == 3 * MODULES, len(totals)

    def ready() -> bool:
        for entity_id in enabled:
            state = hass.states.get(entity_id)
            if state is None or state.state == STATE_UNAVAILABLE:
                return False
        return all(
            (s := hass.states.get(t)) is not None and s.state != STATE_UNKNOWN for t in totals
        )

    await _wait(ready)
    return time.perf_counter() - started


async def _readings(
    hass: HomeAssistant,
    concentrator: SimulatedConcentrator,
    network: SimulatedNetwork,
    rounds: int,
) -> float:
    registry = er.async_get(hass)
    last = network.meter_modules[-1]
    last_total = registry.async_get_entity_id("sensor", DOMAIN, f"{last.serial:08X}-2-total")
    assert last_total is not None
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    totalizer = entry.runtime_data.client.meter(last.serial, 2)
    assert totalizer is not None
    base = network.counters.copy()
    ts = int(network.now)
    messages = []
    for r in range(1, rounds + 1):
        for m in network.meter_modules:
            row = base[m.row]
            messages.append(
                MeterReading(
                    m.serial,
                    ts + 60 * r,
                    tuple((ch, int(row[ch] + 10_000 * r) % COUNTER_MODULO) for ch in range(3)),
                )
            )
    final_counter = int(base[last.row][2] + 10_000 * rounds) % COUNTER_MODULO
    started = time.perf_counter()
    concentrator.fan_out(messages)
    # The last frame's counter in the totalizer and its state written: the whole path is done.
    await _wait(lambda: totalizer.last_counter == final_counter)
    elapsed = time.perf_counter() - started
    state = hass.states.get(last_total)
    assert state is not None
    assert abs(float(state.state) - totalizer.total) < 1e-6, state
    return 3 * len(messages) / elapsed


async def main(quick: bool) -> None:
    runs = 2 if quick else 5
    rounds = 4 if quick else 20
    setups: list[float] = []
    rates: list[float] = []
    for _ in range(runs):
        setup_s, rate = await run_once(rounds)
        setups.append(setup_s)
        rates.append(rate)
        print(f"setup {setup_s:.2f} s, {rate:,.0f} readings/s", file=sys.stderr)
    print(
        json.dumps(
            {
                "setup_s_720_meters": round(statistics.median(setups), 3),
                "readings_per_s": round(statistics.median(rates)),
                "runs": runs,
                "readings_per_run": 3 * MODULES * rounds,
                "setup_s_all": [round(s, 3) for s in setups],
                "readings_per_s_all": [round(r) for r in rates],
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs and rounds")
    asyncio.run(main(parser.parse_args().quick))
