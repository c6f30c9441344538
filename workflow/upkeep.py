"""What the clock reads from the database before each tick, so its rules stay pure."""

from __future__ import annotations

from workflow.context import Context
from workflow.delivery import send_sms_fallbacks
from workflow.facts import snapshot_missing
from workflow.holidays import load_calendar


async def before_tick(ctx: Context) -> None:
    """Load the working-day calendar (an import may have changed it), give matters from
    before policy snapshots theirs, and queue the SMS fallbacks that are due."""
    ctx.calendar = await load_calendar()
    await snapshot_missing(ctx.policy)
    await send_sms_fallbacks(ctx)
