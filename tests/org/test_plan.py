"""`duban plan CODE`: a matter's upcoming actions from the pure clock, with the people."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from models import Person, Role, Unit
from scheduler.clock import SHANGHAI
from service.config import Settings
from service.plan import UnknownMatter, plan_table
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter


async def register(ctx) -> None:
    """督查室 registers a daily-board matter for 财政局 at the clock's now (09:00, 23 Nov)."""
    dcs = await Unit.create(key="dcs", name="督查室")
    czj = await Unit.create(key="czj", name="财政局")
    await Person.create(unit=dcs, name="王督查", role=Role.SUPERVISOR, phone="+8613800000001")
    for name, role, phone in (("孙局长", Role.HEAD, "+8613800000005"),
                              ("李主任", Role.DIRECTOR, "+8613800000002"),
                              ("周甲", Role.OPERATOR_A, "+8613800000006"),
                              ("吴乙", Role.OPERATOR_B, "+8613800000007")):
        await Person.create(unit=czj, name=name, role=role, phone=phone)
    draft = MatterDraft(board="daily", title="背街小巷路灯维修", initiator="dcs", lead="czj",
                        approver="张副区长", approved_on=date(2026, 11, 23), not_classified=True,
                        code="D1")
    await register_matter(ctx, draft, Actor(None, "cli"))


def table_rows(table: str) -> list[list[str]]:
    """The cells of each action row (below the title and the header)."""
    return [re.split(r" {2,}", line) for line in table.splitlines()[2:]]


def local(day: int, hour: int) -> str:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def test_r9_reminder_and_r11_urges_at_their_exact_times(db, ctx, clock):
    await register(ctx)

    table = await plan_table(Settings(), "D1", timedelta(days=3), clock=clock)

    rows = table_rows(table)
    assert table.splitlines()[1].split() == ["time", "kind", "audience", "→", "people", "node",
                                             "reason"]
    assert all(time > local(23, 9) for time, *_ in rows)  # the assignment is past
    assert [local(23, 13), "assigned", "operator_b → 吴乙", "-", "ack_resend"] in rows  # R37
    # R9: the 1d node is due 24 Nov 09:00; its reminder goes to both posts 5 h before.
    assert [local(24, 4), "remind", "operators → 周甲、吴乙", "1d", "node"] in rows
    # R11: every 3 h on the first day overdue, every 2 h on the second.
    urges = [(time, kind) for time, kind, *_ in rows if kind.startswith("urge")]
    first_day = [datetime(2026, 11, 24, 9, tzinfo=SHANGHAI) + timedelta(hours=3 * n)
                 for n in range(1, 9)]
    second_day = [first_day[-1] + timedelta(hours=2 * n) for n in range(1, 12)]
    assert urges == [(t.strftime("%Y-%m-%d %H:%M"), f"urge #{n}")
                     for n, t in enumerate(first_day + second_day, start=1)]
    assert [local(24, 12), "urge #1", "operators_director → 周甲、吴乙、李主任", "1d",
            "node"] in rows
    # R12: supervise at +48 h, the horizon's last moment, to the unit and the initiator.
    assert rows[-1] == [local(26, 9), "supervise", "supervise → 周甲、吴乙、李主任、孙局长、王督查",
                        "1d", "node"]


async def test_only_actions_after_now_and_up_to_the_horizon(db, ctx, clock):
    await register(ctx)
    clock.set(datetime(2026, 11, 24, 13, 0, tzinfo=SHANGHAI))

    rows = table_rows(await plan_table(Settings(), "D1", timedelta(hours=6), clock=clock))

    assert [(time, kind) for time, kind, *_ in rows] == [
        (local(24, 15), "urge #2"), (local(24, 18), "urge #3")]


async def test_an_unknown_code_is_a_clear_error(db, clock):
    with pytest.raises(UnknownMatter, match="no matter with code 'D404'"):
        await plan_table(Settings(), "D404", timedelta(days=1), clock=clock)


def test_console_script_reports_an_unknown_code(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env["DUBAN_DATABASE_URL"] = f"sqlite://{tmp_path / 'duban.sqlite3'}"
    duban = str(Path(sys.executable).with_name("duban"))

    done = subprocess.run([duban, "plan", "D404"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 1
    assert "duban plan: no matter with code 'D404'" in done.stderr
    assert "Traceback" not in done.stderr
