"""What the clock reads from the database before each tick, so its rules stay pure, and what
an instance does once when it starts."""

from __future__ import annotations

from workflow.context import Context
from workflow.delivery import send_sms_fallbacks
from workflow.facts import snapshot_missing
from workflow.holidays import calendar_stamp, load_calendar


async def on_start(ctx: Context) -> None:
    """Matters from before policy snapshots get theirs (once, after the upgrade). Nothing
    is replanned: each matter follows its snapshot, and a calendar import recomputes the
    open matters' next moments when it is imported (`recount_working_days`)."""
    await snapshot_missing(ctx.policy)


async def before_tick(ctx: Context) -> None:
    """Reload the working-day calendar when an import (here or in another process) changed
    it, and queue the SMS fallbacks that are due."""
    stamp = await calendar_stamp()
    if stamp != ctx.calendar_stamp:
        ctx.calendar, ctx.calendar_stamp = await load_calendar(), stamp
    await send_sms_fallbacks(ctx)
