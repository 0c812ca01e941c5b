"""DR latency in Home Assistant: from the utility's event to a green socket switched off.

A real ``hass`` (built the way pytest-homeassistant-custom-component builds it) with a load
manager over input_boolean sockets and the utility (OpenADR 3 VEN) entry, against a real BALANCE
VTN in the same process (SQLite) with the real Mosquitto as the notifier broker. Per run, a fresh
house:

- ``shed_ms``: from just before BL's ``POST /events`` (SIMPLE level 1) to the EV charger's
  ``switch``-off state: the VTN, the MQTT push, the VEN's reading of the event, the DLM engine and
  the socket's own turn_off;
- ``cancel_ms``: from just before ``DELETE /events/{id}`` to the request gone from the engine.

Prints one JSON object as the last line; medians (and the worst) over the runs. ``--quick`` runs
fewer. The original BALANCE system quotes 30-60 s from an operator's command to loads shed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import patch

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homeassistant import loader
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from custom_components.balance.utility.ven import UtilityVen
from tests.integration.load_manager.helpers import EV, is_on, manager_entry, set_power, setup_house
from tests.integration.utility.helpers import (
    RunningVtn,
    post_event,
    program,
    setup_utility,
    start_vtn,
    utility_entry,
)


async def _wait(predicate: Callable[[], bool], give_up_s: float = 30.0) -> None:
    deadline = time.monotonic() + give_up_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.0005)


class _Resolver(aiohttp.ThreadedResolver):
    async def real_close(self) -> None:
        """What Home Assistant calls on its own resolver when the session closes."""
        await self.close()


async def run_once(tmp: Path) -> tuple[float, float]:
    started: list[RunningVtn] = []
    # Home Assistant's HTTP sessions resolve names through zeroconf (mDNS); the VTN is an IP
    # address, so the plain threaded resolver does, as in the test plugin, without a multicast
    # socket per run.
    with (
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            lambda _hass: _Resolver(),
        ),
    ):
        return await _run(tmp, started)


async def _run(tmp: Path, started: list[RunningVtn]) -> tuple[float, float]:
    async with async_test_home_assistant() as hass:
        # As the enable_custom_integrations fixture does: let the loader see custom_components.
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        try:
            return await _measure(hass, started, tmp)
        finally:
            await hass.async_stop(force=True)
            for running in started:
                await running.close()


async def _measure(
    hass: HomeAssistant, started: list[RunningVtn], tmp: Path
) -> tuple[float, float]:
    await setup_house(hass)
    manager = manager_entry()
    manager.add_to_hass(hass)
    assert await hass.config_entries.async_setup(manager.entry_id)
    vtn = await start_vtn(started, tmp, mqtt=True)
    bl = await vtn.client("operator", "bl")
    house = await vtn.house(bl)
    pid = await program(bl)
    entry = utility_entry(vtn.url, house)
    await setup_utility(hass, entry)
    ven = entry.runtime_data
    assert isinstance(ven, UtilityVen)
    await _wait(lambda: ven.push_connected)
    await set_power(hass, 3000)
    assert is_on(hass, EV)

    t0 = time.perf_counter()
    event = await post_event(bl, pid, "SIMPLE", 1, start=datetime.now(UTC), duration="PT1H")
    await _wait(lambda: not is_on(hass, EV))
    shed = time.perf_counter() - t0

    t0 = time.perf_counter()
    await bl.request("DELETE", f"/events/{event['id']}")
    await _wait(lambda: manager.runtime_data.engine.limits.demand_response is None)
    cancel = time.perf_counter() - t0
    return shed * 1000, cancel * 1000


async def main(quick: bool) -> None:
    runs = 3 if quick else 10
    sheds: list[float] = []
    cancels: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(runs):
            run_dir = Path(tmp) / str(index)
            run_dir.mkdir()
            shed, cancel = await run_once(run_dir)
            sheds.append(shed)
            cancels.append(cancel)
            print(f"shed {shed:.1f} ms, cancel {cancel:.1f} ms", file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "ven_dr_latency",
                "runs": runs,
                "shed_ms_median": round(statistics.median(sheds), 1),
                "shed_ms_max": round(max(sheds), 1),
                "cancel_ms_median": round(statistics.median(cancels), 1),
                "cancel_ms_max": round(max(cancels), 1),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
