"""Issue 9 part 5: policy changes never repeat an action (R11-R14, R32).

Each matter keeps the board policy it was registered under (a JSON snapshot on the
matter); a settings change reaches open matters only through `duban replan`, which moves
their node rows and never repeats a clock action. A daily matter registered on Friday 27
Nov 2026 09:00 has its 1d node on Saturday 28 Nov in calendar days, Monday 30 Nov in
working days.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from models import AuditEntry, ClockAction, Matter, Node, ScoreEvent
from scheduler.clock import SHANGHAI, VirtualClock
from scheduler.policy import Board, BoardPolicy, policy_from_json, policy_to_json
from service.config import Settings
from service.plan import plan_table
from service.replan import replan_command
from workflow.chase import run_clock
from workflow.context import Context
from workflow.records import Actor
from workflow.replan import replan_matters
from workflow.upkeep import on_start

from .conftest import assert_nodes_agree_with_the_clock, register

FRIDAY = datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)
CALENDAR_DAYS = Settings()
WORKING_DAYS = Settings(boards={"daily": {"working_days": True}})


def sh(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def clock():
    return VirtualClock(FRIDAY)


@pytest.fixture
def ctx(clock):
    return Context(clock=clock, policy=CALENDAR_DAYS.policy())


async def run_until(ctx: Context, clock: VirtualClock, until: datetime) -> None:
    while clock.now() < until:
        clock.set(min(clock.now() + timedelta(hours=1), until))
        await run_clock(ctx)


async def scores(matter: Matter) -> list[str]:
    return [e.reason for e in await ScoreEvent.filter(matter=matter).order_by("id")]


async def supervised_once(ctx: Context, clock: VirtualClock) -> Matter:
    matter = await register(ctx)
    await run_until(ctx, clock, sh(11, 30, 10))  # 1d Sat 28 09:00, supervised Mon 30 09:00
    assert await scores(matter) == ["urge_episode", "supervised"]
    return matter


async def test_r12_r14_r32_issue9_part5_a_settings_change_does_not_touch_a_registered_matter(
        org, ctx, clock):
    matter = await supervised_once(ctx, clock)
    ctx.policy = WORKING_DAYS.policy()  # the deployment switches the daily board
    await run_until(ctx, clock, sh(12, 5, 12))
    assert await scores(matter) == ["urge_episode", "supervised"]
    assert await ClockAction.filter(matter=matter, kind="supervise").count() == 1
    assert not await AuditEntry.exists(matter=matter, action="accountability")  # R14
    snapshot = policy_from_json((await Matter.get(id=matter.id)).policy)
    assert snapshot.working_days is False
    later = await register(ctx)
    assert policy_from_json((await Matter.get(id=later.id)).policy).working_days is True


async def test_r11_r14_r32_issue9_part5_replan_moves_the_nodes_and_repeats_nothing(org, ctx,
                                                                                 clock):
    matter = await supervised_once(ctx, clock)
    assert (await Node.get(matter=matter, key="1d")).due_at == sh(11, 28, 9)
    ctx.policy = WORKING_DAYS.policy()
    changed = await replan_matters(ctx, Actor(None, "cli"), board="daily")
    assert [m.code for m, _, _ in changed] == [matter.code]
    nodes = {n.key: n.due_at for n in await Node.filter(matter=matter, key__in=["1d", "3d", "7d"])}
    assert nodes == {"1d": sh(11, 30, 9), "3d": sh(12, 2, 9), "7d": sh(12, 8, 9)}
    await assert_nodes_agree_with_the_clock(ctx, matter)
    entry = await AuditEntry.get(matter=matter, action="replan")
    assert entry.detail["old_policy"]["working_days"] is False
    assert entry.detail["new_policy"]["working_days"] is True
    assert entry.detail["changed"] == {"working_days": [False, True]}
    assert any(k.startswith("supervise:1d@") for k in entry.detail["carried_over"])
    await run_until(ctx, clock, sh(12, 6, 12))  # past the new supervise (Wed 2 Dec 09:00)
    assert await scores(matter) == ["urge_episode", "supervised"]
    assert await ClockAction.filter(matter=matter, kind="supervise", skipped=False).count() == 1
    assert not await AuditEntry.exists(matter=matter, action="accountability")  # R14
    await assert_nodes_agree_with_the_clock(ctx, matter)
    # A second replan with nothing changed does nothing.
    assert await replan_matters(ctx, Actor(None, "cli")) == []


async def test_r12_issue9_part5_the_urges_go_on_where_they_were(org, ctx, clock):
    """Replanned in the middle of an overdue episode, the new episode's urges that were
    already sent (#1-#3) are not sent again: the next is #4 at its time in the new episode
    (deadline + 12 h); the episode's first urge (its -0.1) is not charged again."""
    matter = await register(ctx)
    await run_until(ctx, clock, sh(11, 28, 18))  # urges #1-#3 of 1d (due Sat 09:00)
    assert await ClockAction.filter(matter=matter, kind="urge").count() == 3
    ctx.policy = WORKING_DAYS.policy()
    await replan_matters(ctx, Actor(None, "cli"), code=matter.code)
    await run_until(ctx, clock, sh(11, 30, 21))  # 1d now Mon 09:00: #4 at 21:00
    urges = await ClockAction.filter(matter=matter, kind="urge", skipped=False).order_by("id")
    assert [u.key.rsplit(":", 1)[1] for u in urges] == ["1", "2", "3", "4"]
    assert urges[-1].due_at == sh(11, 30, 21)
    assert await scores(matter) == ["urge_episode"]


async def test_r12_issue9_part5_plan_shows_the_matters_own_policy(org, ctx, clock):
    matter = await register(ctx)
    table = await plan_table(WORKING_DAYS, matter.code, timedelta(days=3), clock)
    assert "; policy: working_days=no" in table.splitlines()[0]


async def test_issue9_part5_replan_command_checks_its_arguments(org, ctx, clock):
    assert (await replan_command(CALENDAR_DAYS, "nope", None, clock))[0] == 2
    assert (await replan_command(CALENDAR_DAYS, None, "D99", clock))[0] == 1
    await register(ctx)
    code, text = await replan_command(WORKING_DAYS, "daily", None, clock)
    assert code == 0 and "working_days=no" in text and "working_days=yes" in text


def test_issue9_part5_a_snapshot_survives_fields_added_or_removed():
    """Helper c adds an `approval` field to the board policy: an older snapshot lacks it
    (the default applies), a newer one may carry a field this code does not know."""
    bp = replace(BoardPolicy(Board.KEY_WORK), working_days=True, second_escalation_after=None)
    data = policy_to_json(bp)
    assert policy_from_json(data) == bp
    data.pop("cadence")
    data["some_future_field"] = ["reviewer", "approver"]
    assert policy_from_json(data) == replace(bp, cadence=BoardPolicy(Board.KEY_WORK).cadence)


async def test_r12_issue9_part5_a_matter_from_before_snapshots_gets_one_at_start_up(
        org, ctx, clock):
    matter = await register(ctx)
    await Matter.filter(id=matter.id).update(policy=None)  # as the 0006 migration leaves it
    await on_start(ctx)  # issue 10: once, not at every tick
    assert (await Matter.get(id=matter.id)).policy == policy_to_json(ctx.policy.board("daily"))
    ctx.policy = WORKING_DAYS.policy()
    await run_clock(ctx)
    snapshot = policy_from_json((await Matter.get(id=matter.id)).policy)
    assert snapshot.working_days is False
