"""The matters filter's period and the overview's "due today" are days in Beijing: a matter
registered at 03:00 on 1 December in Beijing (still 30 November in UTC) belongs to
December, on SQLite (which compares instants as text) as on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from console.queries import Filters, board_lines, listing
from models import Person
from scheduler.clock import SHANGHAI
from tests.console.conftest import SUPERVISOR, seed_org
from workflow.context import Context
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter


async def test_period_and_today_are_beijing_days(db, clock):
    await seed_org()
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=SHANGHAI))
    await register_matter(Context(clock=clock), MatterDraft(
        board="daily", title="清理辖区河道垃圾", initiator="ducha", lead="water",
        approver="张副区长", approved_on=datetime(2026, 11, 30).date(), not_classified=True),
        Actor(None, "cli"))
    viewer = await Person.get(phone=SUPERVISOR)
    codes = {}
    for period in ("2026-11", "2026-12"):
        found = await listing(viewer, Filters(period=period), clock.now(), SHANGHAI)
        codes[period] = [m.code for m in found.matters]
    assert codes == {"2026-11": [], "2026-12": ["D1"]}
    # The 1d node falls due at 03:00 on 2 December: due "today" on the 2nd, not on the 1st.
    on_first = await board_lines(viewer, clock.now(), SHANGHAI)
    on_second = await board_lines(viewer, datetime(2026, 12, 2, 1, 0, tzinfo=SHANGHAI),
                                  SHANGHAI)
    assert (on_first[0].due_today, on_second[0].due_today) == (0, 1)
