"""Supervisor commands over real polling: decisions go to the inbox as text (R16, R29),
views are read-only (R34), and everyone else is refused politely and logged."""

from __future__ import annotations

import io
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from bot.app import build_dispatcher
from models import AuditEntry, Feedback, Matter, OutboundMessage, ScoreEvent
from tests.bot.conftest import (
    NOW,
    OPERATOR_CHAT,
    STAFF_CHAT,
    SUPERVISOR_CHAT,
    RecordingSink,
    World,
    polled,
    settings,
)
from tests.bot.fake_telegram import FakeTelegram, eventually
from workflow import service
from workflow.context import Context
from workflow.errors import Refused
from workflow.queries import Period


async def test_approve_goes_to_the_inbox(polling, telegram: FakeTelegram,
                                         sink: RecordingSink) -> None:
    await telegram.send_text(SUPERVISOR_CHAT, "/approve D17")

    assert await sink.next_text() == "/approve D17"
    assert sink.received[0].sender == str(SUPERVISOR_CHAT)


async def test_r16_return_keeps_the_reason(polling, telegram: FakeTelegram,
                                           sink: RecordingSink) -> None:
    await telegram.send_text(SUPERVISOR_CHAT, "/return@duban_test_bot D17 未写明整改时限")

    assert await sink.next_text() == "/return D17 未写明整改时限"


async def test_r29_grade(polling, telegram: FakeTelegram, sink: RecordingSink) -> None:
    await telegram.send_text(SUPERVISOR_CHAT, "/grade D17 优秀")

    assert await sink.next_text() == "/grade D17 优秀"


@pytest.mark.parametrize("command", ["/approve D17", "/grade D17 优秀", "/overdue", "/new"])
async def test_non_supervisor_is_refused_politely_and_logged(
        polling, telegram: FakeTelegram, sink: RecordingSink, world: World,
        caplog: pytest.LogCaptureFixture, command: str) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.roles"):
        await telegram.send_text(STAFF_CHAT, command)
        (reply,) = await telegram.wait_for("sendMessage", STAFF_CHAT)

    assert "督办人员" in reply.params["text"]
    assert sink.received == []
    assert any(command in r.getMessage() and str(world.staff.id) in r.getMessage()
               for r in caplog.records)


async def test_an_operator_of_a_responsible_unit_is_no_supervisor(
        polling, telegram: FakeTelegram, sink: RecordingSink) -> None:
    await telegram.send_text(OPERATOR_CHAT, "/approve D17")

    await telegram.wait_for("sendMessage", OPERATOR_CHAT)
    assert sink.received == []


async def test_matter_shows_the_timeline(polling, telegram: FakeTelegram, world: World) -> None:
    await Feedback.create(matter=world.matter, person=world.operator, channel="telegram",
                          ack_only=False, text="已完成现场排查", at=NOW - timedelta(hours=2))
    await AuditEntry.create(matter=world.matter, actor=world.operator, actor_label="李联络",
                            channel="telegram", action="report", before="assigned",
                            after="in_progress", at=NOW - timedelta(hours=2))
    await telegram.send_text(SUPERVISOR_CHAT, "/matter d17")

    (reply,) = await telegram.wait_for("sendMessage", SUPERVISOR_CHAT)
    text = reply.params["text"]
    for expected in ("D17", world.matter.title, "区司法局", "区交通局", "已完成现场排查",
                     "办理中", "1d", "未反馈"):
        assert expected in text


async def test_matter_of_another_board_is_not_shown(polling, telegram: FakeTelegram,
                                                    world: World) -> None:
    await Matter.create(code="E3", title="某工程", board="engineering", initiator=world.justice,
                        lead=world.justice, approver="x", approved_on=date(2026, 11, 1),
                        not_classified=True, created_at=NOW)
    await telegram.send_text(SUPERVISOR_CHAT, "/matter E3")

    (reply,) = await telegram.wait_for("sendMessage", SUPERVISOR_CHAT)
    assert "某工程" not in reply.params["text"]


async def test_overdue_lists_the_node_past_due(polling, telegram: FakeTelegram) -> None:
    await telegram.send_text(SUPERVISOR_CHAT, "/overdue")

    (reply,) = await telegram.wait_for("sendMessage", SUPERVISOR_CHAT)
    assert "D17" in reply.params["text"] and "1d" in reply.params["text"]
    assert "3 小时" in reply.params["text"]  # due 09:00, now 12:00


async def test_r34_stats_by_board_unit_and_source(polling, telegram: FakeTelegram,
                                                  world: World) -> None:
    await ScoreEvent.create(unit=world.justice, matter=world.matter, delta=Decimal("-0.1"),
                            reason="urge_episode", at=NOW)
    await telegram.send_text(SUPERVISOR_CHAT, "/stats 2026Q4")

    (reply,) = await telegram.wait_for("sendMessage", SUPERVISOR_CHAT)
    text = reply.params["text"]
    assert "2026Q4" in text and "日常管理" in text and "区长办公会" in text
    assert "区司法局：登记 1，在办 1，办结 0，逾期 1，得分 -0.1" in text


async def test_stats_with_a_bad_period_explains_the_forms(polling,
                                                          telegram: FakeTelegram) -> None:
    await telegram.send_text(SUPERVISOR_CHAT, "/stats last-year")

    (reply,) = await telegram.wait_for("sendMessage", SUPERVISOR_CHAT)
    assert "2026Q3" in reply.params["text"]


async def test_r34_ledger_is_an_xlsx_document(polling, telegram: FakeTelegram,
                                              world: World) -> None:
    await telegram.send_text(SUPERVISOR_CHAT, "/ledger")

    (document,) = await telegram.wait_for("sendDocument", SUPERVISOR_CHAT)
    ((name, content),) = document.files.items()
    assert name == "duban-ledger-2026.xlsx"
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["事项台账", "按单位统计", "按版块统计", "按来源统计", "扣加分记录"]
    header, row = list(book["事项台账"].values)
    record = dict(zip(header, row, strict=True))
    assert record["编号"] == "D17" and record["牵头单位"] == "区司法局"
    assert record["配合单位"] == "区交通局" and record["状态"] == "已交办"
    assert record["登记时间"] == datetime(2026, 11, 20, 9, 0)  # Beijing wall time


NEW_MATTER = ["/new", "press:new:board:daily", "背街小巷路灯修复", "-", "2026-12-20", "sfj",
              "jtj、ducha", "张副区长", "2026-11-20", "press:new:confirm"]


async def test_r1_new_matter_dialog_builds_the_draft(
        polling, telegram: FakeTelegram, registered: list, world: World) -> None:
    await telegram.converse(SUPERVISOR_CHAT, "/new")
    boards = [row[0]["callback_data"] for row in
              telegram.sent("sendMessage", SUPERVISOR_CHAT)[0].params["reply_markup"][
                  "inline_keyboard"]]
    assert boards == ["new:board:daily", "new:board:key_work", "new:board:reform"]
    await telegram.converse(SUPERVISOR_CHAT, *NEW_MATTER[1:])

    ((draft, person),) = registered
    assert person.id == world.supervisor.id
    assert (draft.board, draft.title, draft.source, draft.initiator) == (
        "daily", "背街小巷路灯修复", "", "ducha")
    assert (draft.lead, draft.cooperating, draft.klass) == ("sfj", ["jtj", "ducha"], "general")
    assert draft.deadline.isoformat() == "2026-12-20T23:59:00+08:00"
    assert (draft.approver, draft.approved_on, draft.not_classified) == (
        "张副区长", date(2026, 11, 20), True)
    assert "D18" in telegram.texts(SUPERVISOR_CHAT)[-1]


async def test_new_matter_dialog_asks_again_for_unknown_units(
        polling, telegram: FakeTelegram, registered: list) -> None:
    await telegram.converse(SUPERVISOR_CHAT, "/new", "press:new:board:key_work", "标题", "来源",
                            "press:new:klass:major", "nosuchunit")

    assert "nosuchunit" in telegram.texts(SUPERVISOR_CHAT)[-1]
    await telegram.converse(SUPERVISOR_CHAT, "sfj", "-", "张副区长", "2026-11-20",
                            "press:new:cancel")
    assert registered == []


async def test_r3_new_matter_through_the_workflow_service(
        bot, telegram: FakeTelegram, sink: RecordingSink, clock, world: World) -> None:
    dispatcher = build_dispatcher(sink, clock, settings())  # the real register_matter
    async with polled(bot, telegram, dispatcher):
        await telegram.converse(SUPERVISOR_CHAT, *NEW_MATTER)

    matter = await Matter.get(title="背街小巷路灯修复")
    assert matter.code in telegram.texts(SUPERVISOR_CHAT)[-1]
    assert (await matter.lead).key == "sfj" and matter.approver == "张副区长"
    assert await OutboundMessage.filter(matter=matter, kind="assigned").exists()  # R3


async def test_r2_refusal_of_the_service_is_shown(
        bot, telegram: FakeTelegram, sink: RecordingSink, clock, world: World) -> None:
    async def refuse(draft: object, person: object) -> None:
        raise Refused("classified_mark")

    dispatcher = build_dispatcher(sink, clock, settings(), register=refuse)
    async with polled(bot, telegram, dispatcher):
        await telegram.converse(SUPERVISOR_CHAT, *NEW_MATTER)

    assert "密级" in telegram.texts(SUPERVISOR_CHAT)[-1]


@pytest.mark.parametrize("text, expected", [
    ("", ("2026", date(2026, 1, 1), date(2027, 1, 1))),
    ("2026q4", ("2026Q4", date(2026, 10, 1), date(2027, 1, 1))),
    ("2026-2", ("2026-02", date(2026, 2, 1), date(2026, 3, 1))),
    ("2026-13", None),
    ("0000", None),
    ("9999Q4", None),
    ("last-year", None),
])
def test_r34_period_forms(text: str, expected: tuple | None) -> None:
    period = Period.parse(text, NOW.date(), NOW.tzinfo)

    local = NOW.tzinfo  # the bounds are UTC instants of local midnights
    assert (period and (period.label, period.start.astimezone(local).date(),
                        period.end.astimezone(local).date())) == expected


async def test_r29_regrade_is_an_audited_correction(polling, telegram: FakeTelegram,
                                                    world: World, clock) -> None:
    """Issue 8 item 5: /regrade replaces the grade; the old grade's points are reversed, so
    correcting never stacks points; the answer names the old and the new grade."""
    ctx = Context(clock=clock)
    await service.request_completion(ctx, world.matter, world.operator, "telegram", "已打通")
    await service.grade(ctx, world.matter, world.supervisor, "telegram", "优秀")

    await telegram.send_text(SUPERVISOR_CHAT, "/regrade d17 良好 现场照片不全")
    await eventually(lambda: any("由“优秀”更正为“良好”" in t
                                 for t in telegram.texts(SUPERVISOR_CHAT)))
    events = await ScoreEvent.filter(matter=world.matter).order_by("id")
    assert [(e.reason, e.delta) for e in events] == [("grade:优秀", Decimal("0.1")),
                                                     ("grade_reversed:优秀", Decimal("-0.1"))]
    await telegram.send_text(SUPERVISOR_CHAT, "/regrade D17 良好")
    await eventually(lambda: any("/regrade 事项编号 等级 理由" in t
                                 for t in telegram.texts(SUPERVISOR_CHAT)))
    await telegram.send_text(OPERATOR_CHAT, "/regrade D17 优秀 自评")  # not a supervisor
    await telegram.wait_for("sendMessage", OPERATOR_CHAT)
    assert await ScoreEvent.filter(matter=world.matter).count() == 2
