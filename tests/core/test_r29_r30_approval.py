"""R29 (one grade per completion, before the decision) and R30 (the approval chain as a board
policy) in the workflow service. Issue 8 item 5 second half, issue 9 part 3.

The org of test_workflow: 督查室 (head 陈主任, leader 孙区长, supervisor 周干事, operator
吴管理员) initiates daily/key_work/reform; 重点办 (head 郑主任, supervisor 钱干事)
initiates engineering.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_workflow import draft, org, person, refused, register  # noqa: F401  (org: fixture)

from models import Application, AuditEntry, Matter, MatterState, Person, ScoreEvent
from scheduler.policy import Approval, Board
from service.config import BoardOverride, build_policy
from workflow import service
from workflow.records import Actor

pytestmark = pytest.mark.usefixtures("org")


async def completion(ctx, **changes) -> Matter:
    if changes.get("board") == "engineering":
        actor = Actor(await person("钱干事"), "web")
        matter = await service.register_matter(ctx, draft(initiator="zhongdian", **changes),
                                               actor)
    else:
        matter = await register(ctx, **changes)
    await service.request_completion(ctx, matter, await person("李一"), "sms", "已全部清理")
    return await Matter.get(id=matter.id)


async def grade(ctx, matter, value="合格", who="周干事"):
    await service.grade(ctx, matter, await person(who), "web", value)


async def approve(ctx, matter, who: str) -> str:
    return await service.approve(ctx, matter, await person(who), "web")


async def points(matter: Matter) -> list[tuple[str, Decimal]]:
    return [(e.reason, e.delta) for e in await ScoreEvent.filter(matter=matter).order_by("id")]


async def test_r29_approve_ungraded_asks_for_grade(ctx):
    """Issue 9 part 3 (R29): approving an ungraded completion is refused with grade_first,
    by the office and by the leader alike; nothing changes."""
    matter = await completion(ctx)
    for who in ("周干事", "孙区长"):
        with refused("grade_first"):
            await approve(ctx, matter, who)
    assert (await Matter.get(id=matter.id)).state is MatterState.COMPLETION_REQUESTED
    assert not await AuditEntry.filter(matter=matter, action="review").exists()


async def test_r29_one_grade_per_completion_three_excellents_give_0_1(ctx):
    """Issue 8 item 5: grading twice stacked points (three 优秀 = +0.3); now the second
    and third grade are refused and the unit has +0.1."""
    matter = await completion(ctx)
    await grade(ctx, matter, "优秀")
    for who in ("周干事", "陈主任"):
        with refused("already_graded"):
            await grade(ctx, matter, "优秀", who)
    assert await points(matter) == [("grade:优秀", Decimal("0.1"))]


async def test_r29_correct_grade_replaces_the_score_event(ctx):
    """Issue 8 item 5: a changed grade is an audited correction that reverses the old
    grade's points; the audit row records both grades and the reason."""
    matter = await completion(ctx)
    await grade(ctx, matter, "优秀")
    replaced = await service.correct_grade(ctx, matter, await person("陈主任"), "telegram",
                                           "良好", "照片不全，评优依据不足")
    assert replaced == "优秀"
    assert await points(matter) == [("grade:优秀", Decimal("0.1")),
                                    ("grade_reversed:优秀", Decimal("-0.1"))]
    assert sum(d for _, d in await points(matter)) == 0
    entry = await AuditEntry.get(matter=matter, action="grade_corrected")
    assert entry.detail == {"grade": "良好", "replaced": "优秀", "reason": "照片不全，评优依据不足"}
    assert (await Application.get(matter=matter)).grade == "良好"
    with refused("same_grade"):
        await service.correct_grade(ctx, matter, await person("陈主任"), "web", "良好", "x")
    with refused("correction_reason_missing"):
        await service.correct_grade(ctx, matter, await person("陈主任"), "web", "合格", " ")


async def test_r29_a_correction_needs_a_grade_and_the_right_to_grade(ctx):
    matter = await completion(ctx)
    with refused("nothing_to_correct"):
        await service.correct_grade(ctx, matter, await person("陈主任"), "web", "良好", "r")
    await grade(ctx, matter, "合格")
    with refused("not_supervisor"):
        await service.correct_grade(ctx, matter, await person("王局长"), "web", "优秀", "r")


async def test_r29_correcting_to_fail_returns_the_matter(ctx):
    matter = await completion(ctx)
    await grade(ctx, matter, "合格")
    await service.correct_grade(ctx, matter, await person("周干事"), "web", "不合格", "未整改")
    assert (await Matter.get(id=matter.id)).state is MatterState.RETURNED
    assert await points(matter) == [("grade:不合格", Decimal("-0.1")),
                                    ("returned", Decimal("-0.1"))]


async def test_r30_two_step_the_leader_decides_only_after_the_office_reviewed(ctx):
    """Issue 9 part 3 (R30): daily is two-step; the leader's approval before the review
    is refused; a second review is refused; the timeline names reviewer and approver."""
    matter = await completion(ctx)
    await grade(ctx, matter)
    with refused("review_first"):
        await approve(ctx, matter, "孙区长")
    assert await approve(ctx, matter, "陈主任") == "reviewed"  # the office's head reviews
    with refused("already_reviewed"):
        await approve(ctx, matter, "周干事")
    assert await approve(ctx, matter, "孙区长") == "closed"
    review = await AuditEntry.get(matter=matter, action="review").prefetch_related("actor")
    decision = await AuditEntry.get(matter=matter, action="approve_completion")
    assert review.actor.name == "陈主任"
    assert (decision.actor_label, decision.detail) == ("孙区长", {"reviewed_by": "陈主任",
                                                                 "grade": "合格"})
    application = await Application.get(matter=matter).prefetch_related("reviewed_by")
    assert application.reviewed_by.name == "陈主任"


async def test_r30_without_a_leader_the_head_gives_both_steps(ctx):
    """R30 with the initiator's head as the approving leader (the simulate contract)."""
    await Person.filter(name="孙区长").update(active=False)
    matter = await completion(ctx)
    await grade(ctx, matter)
    assert await approve(ctx, matter, "陈主任") == "closed"
    decision = await AuditEntry.get(matter=matter, action="approve_completion")
    assert decision.detail["reviewed_by"] == "陈主任"


async def test_r30_one_step_boards_the_initiators_head_decides(ctx):
    """R30: engineering (and tech_reform, investment) are approved by the initiator's head
    in one step; its other supervisors cannot approve."""
    assert ctx.policy.board("engineering").approval is Approval.ONE_STEP
    matter = await completion(ctx, board="engineering")
    await grade(ctx, matter, who="钱干事")
    with refused("not_approver"):
        await approve(ctx, matter, "钱干事")
    assert await approve(ctx, matter, "郑主任") == "closed"
    assert not await AuditEntry.filter(matter=matter, action="review").exists()


async def test_r30_the_chain_is_a_board_policy_a_deployment_may_change(ctx):
    policy = build_policy({Board.DAILY: BoardOverride(approval="one_step")}, None)
    assert policy.board("daily").approval is Approval.ONE_STEP
    assert policy.board("key_work").approval is Approval.TWO_STEP
    ctx.policy = policy
    matter = await completion(ctx)
    await grade(ctx, matter)
    assert await approve(ctx, matter, "孙区长") == "closed"  # no review needed
