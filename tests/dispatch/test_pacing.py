"""Issue 10: a batch's pure work gives the event loop a turn every few milliseconds, so a
webhook sharing the loop is answered while a reply batch or a tick is being planned."""

from __future__ import annotations

import asyncio
import time

from dispatch.pacing import PACE, paced


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_issue10_paced_work_lets_other_tasks_run_between_items():
    turns = []

    async def other() -> None:  # a webhook waiting for its turn
        while True:
            turns.append(time.perf_counter())
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    started = time.perf_counter()
    async for _ in paced(range(20)):
        busy(PACE / 2)  # twenty items of pure work, 5 × PACE in all, nothing awaited
    task.cancel()
    during = [t for t in turns if t > started]
    assert len(during) >= 3  # unpaced, the other task would have waited for all of it


async def test_issue10_paced_yields_every_item_in_order():
    assert [i async for i in paced(iter("abc"))] == ["a", "b", "c"]
