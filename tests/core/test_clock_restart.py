"""Issue 10 "a restart never blocks sending": after a restart every open matter's next moment
is forgotten; the tick replans them a chunk at a time, matters already due first, so no tick
grows with the number of open matters (and the dispatcher loop never waits for a tick)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from models import ClockAction, Matter
from tests.core.test_workflow import org, register  # noqa: F401  (org is a fixture)
from workflow import chase
from workflow.chase import run_clock


async def test_unplanned_matters_are_replanned_a_chunk_per_tick(org, ctx, monkeypatch):  # noqa: F811
    monkeypatch.setattr(chase, "REPLAN_CHUNK", 2)
    matters = [await register(ctx, code=f"D{i}") for i in range(1, 6)]
    await Matter.all().update(next_action_at=None)
    due = matters[4]
    await Matter.filter(id=due.id).update(next_action_at=ctx.clock.now() - timedelta(minutes=1))
    unplanned = Matter.filter(next_action_at=None)
    await run_clock(ctx)
    assert await unplanned.count() == 2  # 2 of the 4 unplanned, and the due one
    assert (await Matter.get(id=due.id)).next_action_at > ctx.clock.now()
    await run_clock(ctx)
    assert await unplanned.count() == 0


async def test_issue10_ticks_racing_do_each_action_once(org, ctx, clock):  # noqa: F811
    """Issue 10 "the clock in batches": a tick catches its due matters up a batch at a time;
    two instances doing so together still do every clock action once."""
    for i in range(1, 5):
        await register(ctx, code=f"D{i}")
    clock.set(clock.now() + timedelta(hours=27))  # past the 1d deadline: urges are due
    await asyncio.gather(run_clock(ctx), run_clock(ctx))
    keys = await ClockAction.all().values_list("matter_id", "key")
    assert len(keys) == len(set(keys)) >= 4
    assert await run_clock(ctx) == 0  # nothing left to do
