"""Supervisor commands by text (R16, R29, R30) and the refusals the rules demand (R17, R31)."""

from __future__ import annotations

from datetime import datetime

from models import Application, Feedback, Matter, OutboundMessage
from scheduler.clock import SHANGHAI
from tests.inbound.conftest import (
    LEADER,
    OTHER_UNIT,
    SUPERVISOR,
    answer_text,
    new_matter,
    send,
    state,
)


async def test_r16_supervisor_returns_a_report_by_text(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 进展 已清理")
    row = await send(inbox, "退回 D17 未附照片，请补充", sender=SUPERVISOR)
    assert (row.status, row.outcome) == ("done", "return D17")
    assert "已退回：D17" in await answer_text(row)
    assert await state("D17") == "returned"
    feedback = await Feedback.get(matter__code="D17")
    assert feedback.return_reason == "未附照片,请补充"  # the parser normalises (NFKC)
    told = await OutboundMessage.filter(kind="returned", matter__code="D17").count()
    assert told > 0


async def test_r29_r30_grade_review_and_close_by_text(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 办结 河道垃圾已全部清理，建立巡查机制")
    assert await state("D17") == "completion_requested"
    row = await send(inbox, "评定 D17 优秀", sender=SUPERVISOR)
    assert (row.status, row.outcome) == ("done", "grade D17")
    assert "评为“优秀”" in await answer_text(row)
    row = await send(inbox, "同意 D17", sender=SUPERVISOR)
    assert "已审核" in await answer_text(row)
    assert await state("D17") == "completion_requested"
    row = await send(inbox, "/approve D17", sender="2001", channel="telegram")
    assert "已办结销号" in await answer_text(row)
    assert await state("D17") == "closed"
    assert (await Application.get(matter__code="D17")).grade == "优秀"


async def test_r29_fail_grade_returns_the_matter(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 办结 已清理")
    row = await send(inbox, "评定 D17 不合格", sender=SUPERVISOR)
    assert "退回" in await answer_text(row)
    assert await state("D17") == "returned"


async def test_r18_extension_requested_and_approved_by_text(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "D17 延期 12月20日 河道清淤需等枯水期，由李一负责")
    assert (row.status, row.outcome) == ("done", "extension D17")
    assert "延至2026-12-20" in await answer_text(row)
    row = await send(inbox, "/approve D17", sender="2002", channel="telegram")
    assert "已同意" in await answer_text(row)
    assert await state("D17") == "continuing"


async def test_r16_non_supervisor_is_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 办结 已清理")
    for sender in ("13800000002", OTHER_UNIT):
        row = await send(inbox, "同意 D17", sender=sender)
        assert (row.status, row.outcome) == ("refused", "refused not_supervisor D17")
    assert "只有立项单位区政府督查室" in await answer_text(row := await send(
        inbox, "同意 D17", sender="13800000002"))
    assert "无权审核" in await answer_text(await send(inbox, "同意 D17", sender=OTHER_UNIT))
    assert await state("D17") == "completion_requested"


async def test_r16_nothing_to_approve_is_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "同意D17", sender=SUPERVISOR)
    assert row.outcome == "refused nothing_to_approve D17"
    assert "没有待审核的申请" in await answer_text(row)


async def test_r17_late_extension_is_refused_with_the_reason(org, ctx, inbox):
    await new_matter(ctx, "D17")  # 7d node: 2026-11-30 09:00
    ctx.clock.set(datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI))
    row = await send(inbox, "D17 延期 12月20日 需协调上游单位")
    assert (row.status, row.outcome) == ("refused", "refused extension_too_late D17")
    text = await answer_text(row)
    assert "2026-11-30 09:00" in text and "前2天" in text
    assert await Application.all().count() == 0
    assert (await Matter.get(code="D17")).state != "extension_requested"


async def test_r31_closed_matter_is_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 办结 已清理")
    await send(inbox, "评定 D17 合格", sender=LEADER)
    await send(inbox, "同意 D17", sender=LEADER)
    assert await state("D17") == "closed"
    for text in ("D17 进展 又发现一处", "1 进展 又发现一处"):
        row = await send(inbox, text)
        assert (row.status, row.outcome) == ("refused", "refused matter_closed D17")
        assert "D17" in await answer_text(row) and "已办结销号" in await answer_text(row)
    assert await Feedback.all().count() == 0


async def test_not_your_matter_is_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "D17 进展 已清理", sender=OTHER_UNIT)
    assert row.outcome == "refused not_your_matter D17"
    assert await Feedback.all().count() == 0


async def test_r8_second_completion_application_is_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 办结 已清理")
    row = await send(inbox, "D17 办结 已清理")
    assert row.outcome == "refused application_pending D17"
    assert "审核中" in await answer_text(row)


async def test_r36_supervisor_can_use_the_view_reply_our_sms_names(org, ctx, inbox):
    """Feedback, escalation and phone-urge texts to supervisors say 回复“/matter D17”查看全过程
    (R36: every message says how to reply). By SMS too, that reply is understood: the state,
    the open nodes and the latest records, in a few SMS segments."""
    await new_matter(ctx, "D17")
    await send(inbox, "D17 收到 已安排李一办理")
    for text in ("/matter D17", "查看 D17", "d17 查看"):
        row = await send(inbox, text, sender=SUPERVISOR)
        assert (row.status, row.outcome) == ("done", "view D17")
        answer = await answer_text(row)
        assert answer.startswith("【督办】办理情况：D17「") and "，已确认收到，" in answer
        assert "未反馈节点：3天节点（初步办理情况），" in answer and "李一：已确认收到" in answer
        assert "回复“列表”" in answer and len(answer) <= 210, answer


async def test_r36_view_is_refused_to_another_unit_naming_only_the_code(org, ctx, inbox):
    """Issue 8 item 6: someone who may not see the matter learns nothing of it."""
    await new_matter(ctx, "D17")
    row = await send(inbox, "/matter D17", sender=OTHER_UNIT)
    assert (row.status, row.outcome) == ("refused", "refused not_visible D17")
    answer = await answer_text(row)
    assert "无权查看" in answer and "「" not in answer
