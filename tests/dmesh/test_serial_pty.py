"""The client over a real serial device: a pseudo-terminal bridged to the simulator.

serialx opens the pty's slave end exactly as it would open /dev/ttyUSB0 (termios, exclusive
lock); the master end is pumped to and from the simulator's TCP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator

from dmesh_lib import ConcentratorClient, ConnectionState
from dmesh_lib.messages import MeterReading

from .conftest import RunningSimulator, wait_for


@contextlib.asynccontextmanager
async def pty_bridge(sim: RunningSimulator) -> AsyncIterator[tuple[str, int]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.set_blocking(master, False)
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    loop = asyncio.get_running_loop()

    def from_serial() -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            writer.write(os.read(master, 4096))

    async def to_serial() -> None:
        while data := await reader.read(4096):
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(master, view) :]
                except BlockingIOError:
                    await asyncio.sleep(0.001)

    loop.add_reader(master, from_serial)
    pump = loop.create_task(to_serial())
    try:
        yield path, master
    finally:
        loop.remove_reader(master)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        os.close(slave)
        with contextlib.suppress(OSError):
            os.close(master)


async def test_client_over_a_serial_device(start_simulator) -> None:
    sim = await start_simulator(meter_modules=3, speed=600)
    async with pty_bridge(sim) as (path, _master):
        client = ConcentratorClient(path, auto_reconnect=False, clock=sim.clock)
        readings: list[MeterReading] = []
        client.subscribe(lambda e: readings.append(e) if isinstance(e, MeterReading) else None)
        identity = await client.connect()
        try:
            assert identity.serial == sim.network.serial
            assert len(client.modules) == len(sim.network.modules)
            relay = next(m for m in sim.network.modules.values() if m.role.name == "RELAY")
            state = await client.set_relay(relay.serial, on=False)
            assert state is not None and state.on is False
            await wait_for(lambda: len(readings) >= 3)
        finally:
            await client.close()


async def test_serial_port_that_vanishes_is_reported(start_simulator) -> None:
    sim = await start_simulator(meter_modules=1)
    states: list[ConnectionState] = []
    async with pty_bridge(sim) as (path, master):
        client = ConcentratorClient(path, auto_reconnect=False, clock=sim.clock)
        client.on_connection_state(states.append)
        await client.connect()
        os.close(master)  # the USB adapter is pulled out: the slave end hangs up
        try:
            await wait_for(lambda: client.state is ConnectionState.DISCONNECTED)
            assert states[-1] is ConnectionState.DISCONNECTED
        finally:
            await client.close()
