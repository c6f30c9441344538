"""Issue 9 part 1 through the reply path: a receipt with a report records both (R15), a
reply that says the work is not done never applies for completion (R8, R27), and an
input-method slip is asked back and applied only when confirmed with "是" (R36)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import Application, Feedback, MatterState
from replies.inbound import NOISE_CAP
from tests.inbound.conftest import answer_text, answers, new_matter, send, state


async def test_r15_receipt_with_a_report_records_both(org, inbox, ctx):
    await new_matter(ctx, "D17")
    row = await send(inbox, "收到。进展：已走访三户")
    feedback = await Feedback.filter(matter__code="D17").order_by("id")
    assert [(f.ack_only, f.text) for f in feedback] == [(True, ""), (False, "已走访三户")]
    assert await state("D17") == MatterState.IN_PROGRESS.value
    text = await answer_text(row)
    assert "已确认收到并记录进展" in text and "已走访三户" in text and "D17" in text


async def test_r15_plain_receipt_records_only_the_receipt(org, inbox, ctx):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 收到，马上安排")
    assert await Feedback.filter(ack_only=False).count() == 0


async def test_r27_partial_completion_is_a_progress_report(org, inbox, ctx):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 收到")
    row = await send(inbox, "D17 完成了大半，剩余两户本周走访")
    assert not await Application.exists()
    assert await Feedback.filter(ack_only=False, text__contains="完成了大半").exists()
    text = await answer_text(row)
    assert "不是办结申请" in text and "完成了大半" in text


@pytest.mark.parametrize(("text", "outcome", "told"), [
    pytest.param("D17 办结 还有两户未签字", "parse completion_unclear", "未作为办结申请",
                 id="r27-negated-completion"),
    # A hurried "…，不需要延期了" after the new deadline: the sender is told which words.
    pytest.param("D17 申请延期至12月31日，不需要延期了", "parse taken_back",
                 "“不需要延期”，与前面的指令相反，未办理", id="r17-extension-taken-back"),
])
async def test_r17_r27_a_command_that_denies_itself_files_no_application(
        org, inbox, ctx, text, outcome, told):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 收到")
    row = await send(inbox, text)
    assert not await Application.exists()
    assert row.status == "error" and row.outcome == outcome
    assert told in await answer_text(row)


async def test_r36_slip_is_asked_then_applied_on_yes(org, inbox, ctx):
    await new_matter(ctx, "D17")
    asked = await send(inbox, "D17 手到")
    assert await state("D17") == MatterState.ASSIGNED.value
    assert "您是想回复“D17 收到”吗" in await answer_text(asked)
    confirmed = await send(inbox, "是")
    assert await state("D17") == MatterState.ACKNOWLEDGED.value
    assert "已确认收到：D17" in await answer_text(confirmed)
    again = await send(inbox, "是的")  # the question was used up
    assert again.outcome == "error nothing_to_confirm"
    assert await Feedback.all().count() == 1


async def test_r36_yes_confirms_only_the_question_just_before_it(org, inbox, ctx):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 手到")
    await send(inbox, "列表")
    row = await send(inbox, "是")
    assert row.outcome == "error nothing_to_confirm"
    assert await state("D17") == MatterState.ASSIGNED.value


async def test_r36_yes_expires(org, inbox, ctx, clock):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 手到")
    clock.set(clock.now() + timedelta(minutes=31))
    row = await send(inbox, "是")
    assert row.outcome == "error nothing_to_confirm"
    assert "没有需要您确认的内容" in await answer_text(row)
    assert await state("D17") == MatterState.ASSIGNED.value


async def test_r36_an_auto_responders_yes_stops_at_the_noise_cap(org, inbox, ctx):
    await new_matter(ctx, "D17")
    rows = [await send(inbox, "是") for _ in range(NOISE_CAP + 2)]
    assert [len(await answers(row)) for row in rows] == [1] * NOISE_CAP + [0, 0]


async def test_r37_a_receipt_that_says_nothing_arrived_is_no_receipt(org, inbox, ctx):
    """"D17 收到？没收到啊": recorded as a receipt it would stop the 4-hour resend to the
    B-post operator and the director's reminder; it is refused, the matter stays assigned."""
    await new_matter(ctx, "D17")
    row = await send(inbox, "D17 收到？没收到啊")
    assert not await Feedback.exists()
    assert await state("D17") == MatterState.ASSIGNED.value
    assert row.outcome == "parse taken_back"
    assert "“没收到啊”，与前面的指令相反，未办理" in await answer_text(row)
