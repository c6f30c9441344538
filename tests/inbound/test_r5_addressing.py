"""Which matter a reply means: a code, a short number, or the only open one — never a guess."""

from __future__ import annotations

from models import Application, Feedback, InboundMessage, OutboundMessage
from tests.inbound.conftest import OTHER_UNIT, SUPERVISOR, answer_text, new_matter, send, state


async def test_r7_code_form_always_works(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    for text in (
        "D18 进展 已更换路灯12盏",
        "【d18】进展：已更换路灯12盏",
        "进展 D18 已更换路灯12盏",
    ):
        row = await send(inbox, text)
        assert (row.status, row.outcome) == ("done", "progress D18")
    assert await Feedback.filter(matter__code="D18").count() == 3
    assert await Feedback.filter(matter__code="D17").count() == 0
    assert await state("D17") == "assigned"


async def test_r15_progress_is_confirmed_and_forwarded(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "D17 进展 已清理三处垃圾点")
    text = await answer_text(row)
    assert text.startswith("【督办】已记录：D17") and "区政府督查室" in text
    forwarded = await OutboundMessage.filter(kind="feedback", matter__code="D17")
    assert {m.address for m in forwarded} == {f"+86{SUPERVISOR}", "2002"}
    assert forwarded[0].context["body"] == "已清理三处垃圾点"


async def test_short_number_form(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    row = await send(inbox, "2 收到")
    assert (row.status, row.outcome) == ("done", "acknowledge D18")
    assert "D18（短号2）" in await answer_text(row)
    assert (await state("D17"), await state("D18")) == ("assigned", "acknowledged")


async def test_only_open_matter_form(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "收到此项任务，经处室负责人批示，已安排李一处理解决")
    assert (row.status, row.outcome) == ("done", "acknowledge D17")
    assert (await Feedback.get(matter__code="D17")).text == "经处室负责人批示,已安排李一处理解决"


async def test_several_open_matters_are_refused_with_their_codes(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    row = await send(inbox, "进展 已完成排查")
    assert (row.status, row.outcome) == ("refused", "refused several_open")
    text = await answer_text(row)
    assert "1号 D17" in text and "2号 D18" in text and "“D17 收到”" in text
    assert await Feedback.all().count() == 0
    assert row.matter_id is None


async def test_no_open_matter_is_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "收到", sender=OTHER_UNIT)
    assert (row.status, row.outcome) == ("refused", "refused no_open_matter")
    assert "没有未办结" in await answer_text(row)
    assert await state("D17") == "assigned"


async def test_unknown_code_and_number_are_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "D71 收到")
    assert row.outcome == "refused unknown_code D71"
    assert "D71" in await answer_text(row) and "D17" in await answer_text(row)
    row = await send(inbox, "7 收到")
    assert row.outcome == "refused unknown_number 7"
    assert "1号D17" in await answer_text(row)
    assert await state("D17") == "assigned"


async def test_r3_acknowledge_all_acknowledges_only_what_awaits_receipt(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    await new_matter(ctx, "D19", title="排查燃气管网隐患")
    await send(inbox, "D19 收到")
    await new_matter(ctx, "D20", title="修缮校舍", lead="roads")
    row = await send(inbox, "全部收到")
    assert (row.status, row.outcome) == ("done", "acknowledge_all D17,D18")
    assert "已确认收到2件" in await answer_text(row)
    assert [await state(c) for c in ("D17", "D18", "D19", "D20")] == [
        "acknowledged",
        "acknowledged",
        "acknowledged",
        "assigned",
    ]
    assert await Feedback.filter(matter__code="D19").count() == 1


async def test_r3_acknowledge_all_with_nothing_waiting_is_refused(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 收到")
    row = await send(inbox, "全都收到了")
    assert (row.status, row.outcome) == ("refused", "refused nothing_to_acknowledge")
    assert "没有待确认收到" in await answer_text(row)


async def test_r27_there_is_no_bulk_completion(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    for text in ("全部办结", "全部完成", "办结 全部已完成"):
        row = await send(inbox, text)
        assert row.status in ("error", "refused")
    assert await Application.all().count() == 0


async def test_list_names_codes_short_numbers_and_deadlines(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    await send(inbox, "D17 收到")
    row = await send(inbox, "列表")
    assert (row.status, row.outcome) == ("done", "list")
    text = await answer_text(row)
    assert "您有2件未办结事项" in text
    assert "1号 D17「清理辖区河道垃圾」11-26 09:00前" in text  # next: the 3d node
    assert "2号 D18「整治背街小巷照明」11-24 09:00前" in text  # next: the 1d node


async def test_list_for_a_supervisor_shows_pending_applications(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 办结 已清理全部垃圾点")
    text = await answer_text(await send(inbox, "列表", sender=SUPERVISOR))
    assert "您督办的未办结事项1件" in text and "D17" in text and "待审办结申请" in text


async def test_r36_every_inbound_row_records_person_and_matter(org, ctx, inbox):
    matter = await new_matter(ctx, "D17")
    row = await send(inbox, "D17 收到")
    assert (row.person_id, row.matter_id) != (None, None)
    assert row.matter_id == matter.id
    assert await InboundMessage.filter(status="received").count() == 0


async def test_r36_help_answers_the_grammar_for_the_senders_role(org, ctx, inbox):
    await new_matter(ctx, "D17")
    unit_help = await answer_text(await send(inbox, "帮助"))
    assert "“D17 进展 内容”" in unit_help and "“全部收到”" in unit_help
    assert "同意" not in unit_help
    supervisor_help = await answer_text(await send(inbox, "?", sender=SUPERVISOR))
    assert "“同意 D17”" in supervisor_help and "“评定 D17 良好”" in supervisor_help
