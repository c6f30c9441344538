"""Issue 10 "a restart never blocks sending" and "the clock in batches": a restart keeps every
open matter's next moment (each matter follows its policy snapshot; a calendar import replans
the matters it moves), matters without one are planned a chunk per tick, and a tick catches
its due matters up a batch at a time with each clock action done once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from models import ClockAction, Matter, OutboundMessage
from scheduler import rules
from tests.core.test_workflow import org, register  # noqa: F401  (org is a fixture)
from workflow import chase, holidays, upkeep
from workflow.chase import run_clock
from workflow.holidays import HolidayDay, replace_years
from workflow.upkeep import on_start


async def test_issue10_a_restart_keeps_every_next_moment(org, ctx):  # noqa: F811
    for i in range(1, 4):
        await register(ctx, code=f"D{i}")
    planned = await Matter.all().order_by("id").values_list("next_action_at", flat=True)
    await on_start(ctx)
    assert await Matter.all().order_by("id").values_list("next_action_at", flat=True) == planned
    assert None not in planned


async def test_issue10_the_tick_reloads_the_calendar_only_when_an_import_changed_it(
        org, ctx, monkeypatch):  # noqa: F811
    loads = []
    real = holidays.load_calendar

    async def counted():
        loads.append(1)
        return await real()

    monkeypatch.setattr(upkeep, "load_calendar", counted)
    await run_clock(ctx)
    await run_clock(ctx)
    assert len(loads) == 1
    await replace_years([HolidayDay(date(2027, 1, 4), workday=False, name="test")],
                        ctx.clock.now())
    await run_clock(ctx)
    assert len(loads) == 2
    assert not ctx.calendar.is_workday(date(2027, 1, 4))


async def test_issue10_a_matter_the_clock_cannot_plan_holds_up_no_other_in_its_batch(
        org, ctx, clock, monkeypatch):  # noqa: F811
    matters = [await register(ctx, code=f"D{i}") for i in range(1, 4)]
    real = rules.plan

    def plan(facts, *args):
        if facts.code == "D2":
            raise ValueError("a date past the calendar's data")
        return real(facts, *args)

    monkeypatch.setattr(chase, "plan", plan)
    clock.set(clock.now() + timedelta(hours=27))  # urges due for all three
    await run_clock(ctx)
    urged = set(await OutboundMessage.filter(kind="urge").values_list("matter_id", flat=True))
    assert urged == {matters[0].id, matters[2].id}
    assert (await Matter.get(id=matters[1].id)).next_action_at <= clock.now()  # tried again


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
