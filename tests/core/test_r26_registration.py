"""R26: investment problems are registered within 3 working days of being reported."""

from __future__ import annotations

from datetime import date

from models import AuditEntry
from scheduler.calendar import ChineseWorkCalendar
from scheduler.rules import registration_due
from tests.core.test_workflow import org, register  # noqa: F401  (fixture and helper)


def test_r26_three_working_days_skip_the_weekend_and_holidays():
    cal = ChineseWorkCalendar()
    assert registration_due(date(2026, 11, 19), cal) == date(2026, 11, 24)  # Thu -> Tue
    # National Day holidays, then Saturday 10-10 is a make-up working day (调休).
    assert registration_due(date(2026, 9, 30), cal) == date(2026, 10, 10)


async def test_r26_registration_records_whether_it_was_in_time(db, org, ctx, clock):  # noqa: F811
    await register(ctx, board="investment", initiator="ducha", code="I1",
                   reported_on=date(2026, 11, 18))  # due 11-23 (Mon): in time
    await register(ctx, board="investment", initiator="ducha", code="I2",
                   reported_on=date(2026, 11, 17))  # due 11-20: late on 11-23
    await register(ctx, code="D9", reported_on=date(2026, 11, 1))  # not investment: no check
    details = {e.detail.get("registration_due"): e.detail.get("registered_late")
               for e in await AuditEntry.filter(action="register")}
    assert details == {"2026-11-23": False, "2026-11-20": True, None: None}
