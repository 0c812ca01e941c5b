"""The demo street: a second simulated concentrator whose modules meter houses of the demo feeder.

``python -m scripts.demo.street_host`` runs one more DMesh simulator (its own listener, no home
kit): ``--modules`` D100FC modules, each on one house of the feeder ``seed-demo`` made. Channel 0
of module *i* meters house *i*'s electricity with exactly the hourly values ``seed-demo`` gave
that house (``balance_grid.synthetic.make_feeder``, same seed, same 30 days up to this hour;
later hours repeat the last week), so once the aggregator's head-end has read the modules' 45-day
memory the feeder's balance adds up as before, now from the field. The feeder's thieves are
metered by the street first: what the operator page ranks as suspects comes from the field.

It prints one JSON line ``{"event": "listening", "url", "concentrator", "mapping": [...]}``, the
mapping being what the hierarchy import needs: ``{"meter", "node", "phase", "resource_name"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from balance_grid.synthetic import make_feeder
from dmesh_lib.simulator.concentrator import SimClock, SimulatedConcentrator
from dmesh_lib.simulator.network import ConsumptionSource, SimulatedNetwork
from dmesh_lib.units import MeterKind

from .simulator_host import _address

WEEK = 168
#: water and gas of a house, per hour: small and steady (nobody balances them here)
OTHER_PER_HOUR = {MeterKind.WATER: 0.012, MeterKind.GAS: 0.05, MeterKind.HEAT: 0.4}


class FeederConsumption(ConsumptionSource):
    """Per meter (module-major, 3 channels), the hourly values of the houses it meters."""

    def __init__(
        self,
        kinds: Sequence[MeterKind],
        hourly: npt.NDArray[np.float64],
        first: int,
        now_hour: int,
    ):
        self.kinds = list(kinds)
        self.first = first  # hour index of hourly[:, 0]
        self.now_hour = now_hour
        modules = len(kinds) // 3
        per_meter = np.zeros((len(kinds), hourly.shape[1]))
        for i in range(modules):
            per_meter[3 * i] = hourly[i]
            for ch in (1, 2):
                per_meter[3 * i + ch] = OTHER_PER_HOUR.get(kinds[3 * i + ch], 0.0)
        self.per_meter = per_meter
        self.extra = np.zeros(len(kinds))

    def _hour(self, hour: int) -> npt.NDArray[np.float64]:
        n = self.per_meter.shape[1]
        i = hour - self.first
        if i >= n:  # after the seeded month: the last week again
            i = n - WEEK + (i - n) % WEEK
        elif i < 0:  # before it: the first week again
            i = (i % WEEK) % n
        return self.per_meter[:, i] + self.extra

    def consumption(self, t0: float, t1: float) -> npt.NDArray[np.float64]:
        out = np.zeros(len(self.kinds))
        t = t0
        while t < t1:  # split at whole hours: hour h's counter step is hour h's value
            hour = int(t // 3600)
            end = min(t1, (hour + 1) * 3600.0)
            out += self._hour(hour) * (end - t) / 3600
            t = end
        return out

    def hourly_history(self, first_hour: int, hours: int) -> npt.NDArray[np.float64]:
        # The network's prefill adds the current hour's history to the hour before (its counter
        # at the start of the current hour is taken as the counter now): nothing is used in the
        # current hour before the simulator starts, so every whole hour is exactly seed-demo's.
        # The current hour then counts from the simulator's start only.
        return np.stack(
            [self._hour(first_hour + h) * (first_hour + h < self.now_hour) for h in range(hours)],
            axis=1,
        )

    def set_extra_rate(self, meter: int, per_hour: float) -> None:
        self.extra[meter] += per_hour

    def indoor_temperature(self, household: int, t: float) -> float:
        return 21.0

    def indoor_humidity(self, household: int, t: float) -> float:
        return 45.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo.street_host")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 7710))
    parser.add_argument("--modules", type=int, default=36)
    parser.add_argument("--houses", type=int, default=100, help="as seed-demo --houses")
    parser.add_argument("--thieves", type=int, default=2, help="as seed-demo --thieves")
    parser.add_argument("--days", type=int, default=30, help="as seed-demo's days")
    parser.add_argument("--seed", type=int, default=7, help="as seed-demo's seed")
    parser.add_argument(
        "--start-hour", type=int, help="seed-demo's last hour + 1 (hour index; default: now)"
    )
    return parser


def street_network(
    args: argparse.Namespace, now: float
) -> tuple[SimulatedNetwork, list[dict[str, str]]]:
    """The street's network at ``now`` and the mapping of its meters to the feeder's houses."""
    end_hour = args.start_hour or int(now // 3600)
    start = datetime.fromtimestamp(end_hour * 3600, UTC) - timedelta(days=args.days)
    feeder = make_feeder(args.houses, args.days, thieves=args.thieves, seed=args.seed, start=start)
    # the thieves first, then the feeder's houses in order, as many as there are modules
    order = [feeder.meter_ids.index(m) for m in feeder.dishonest]
    order += [i for i in range(args.houses) if i not in order]
    chosen = order[: args.modules]
    hourly = np.nan_to_num(feeder.reported_kwh[chosen], nan=0.0)
    first = int(feeder.hours[0].timestamp()) // 3600

    def factory(
        kinds: Sequence[MeterKind], seed: int, households: Sequence[int]
    ) -> FeederConsumption:
        return FeederConsumption(kinds, hourly, first, int(now // 3600))

    network = SimulatedNetwork(
        meter_modules=len(chosen),
        home=False,
        seed=args.seed,
        start=now,
        concentrator_index=1,
        report_interval=60.0,
        consumption_factory=factory,
    )
    mapping = [
        {
            "meter": feeder.meter_ids[i],
            # seed-demo's house nodes: demo-house-001 … for meter i
            "node": f"demo-house-{i + 1:03d}",
            "phase": feeder.phases[i],
            "resource_name": f"{m.serial:08X}/0",
        }
        for i, m in zip(chosen, network.meter_modules, strict=True)
    ]
    return network, mapping


async def run(args: argparse.Namespace) -> None:
    now = time.time()
    network, mapping = street_network(args, now)
    concentrator = SimulatedConcentrator(network, SimClock(start=now, speed=1.0), seed=args.seed)
    bound = await concentrator.start(*args.listen)
    print(
        json.dumps(
            {
                "event": "listening",
                "url": f"socket://{args.listen[0]}:{bound}",
                **network.describe(),
                "mapping": mapping,
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await concentrator.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
