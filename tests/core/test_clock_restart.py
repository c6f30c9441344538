"""Issue 10 "a restart never blocks sending": after a restart every open matter's next moment
is forgotten; the tick replans them a chunk at a time, matters already due first, so no tick
grows with the number of open matters (and the dispatcher loop never waits for a tick)."""

from __future__ import annotations

from datetime import timedelta

from models import Matter
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
