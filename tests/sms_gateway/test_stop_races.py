"""A stop must stop: the long-running loops of the channels and the wake-up end when they
are cancelled, even when the cancel lands in the same turn of the event loop as the thing
they wait for. On Python 3.11 `asyncio.wait_for` loses such a cancel (it returns or raises
the inner result instead), so a channel stopped while its ISMG refused every login went on
reconnecting for ever and `duban serve` could not shut down (seen in the suite on a loaded
machine: 3,808 connect attempts after the stop, until the 300 s test timeout)."""

from __future__ import annotations

import asyncio

import pytest

from dispatch.wakeup import Wakeup
from sms_gateway.long_link import keep_connected


class Refused(Exception):
    pass


async def ends_when_cancelled(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), 2)


async def test_a_channel_stopped_as_its_connect_is_refused_stops() -> None:
    waiting: list[asyncio.Future] = []

    async def connect() -> object:
        waiting.append(asyncio.get_running_loop().create_future())
        return await waiting[-1]

    async def serve(link: object) -> None:
        pass

    task = asyncio.create_task(keep_connected(connect, serve, timeout=5, errors=(Refused,),
                                              on_error=lambda error: None, low=0.01, high=0.01))
    while not waiting:
        await asyncio.sleep(0)
    waiting[-1].set_exception(Refused("authentication failed"))  # the ISMG says no ...
    await ends_when_cancelled(task)  # ... in the same turn as the stop
    assert len(waiting) == 1  # and it did not try again


async def test_a_loop_stopped_as_it_is_woken_stops() -> None:
    wakeup = Wakeup("test")

    async def loop() -> None:
        while True:
            await wakeup.wait(5)
            wakeup.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    wakeup.set()  # rows were enqueued ...
    await ends_when_cancelled(task)  # ... as the instance stops
