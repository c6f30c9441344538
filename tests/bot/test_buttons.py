"""Inline buttons and the dialogs they open, over real polling (R7, R15, R17, R27)."""

from __future__ import annotations

from bot.callbacks import buttons_for, signed
from bot.channel import TelegramChannel
from bot.texts import say
from dispatch.channel import Outgoing
from tests.bot.conftest import OPERATOR_CHAT, SECRET, RecordingSink
from tests.bot.fake_telegram import FakeTelegram

NOTICE = "D17 老旧小区消防通道整治：请于24小时内签收。回复“D17 收到”或点击下方按钮。"
ACK, PROGRESS, EXTENSION, COMPLETION = (0, 0), (0, 1), (1, 0), (1, 1)


async def notice(channel: TelegramChannel, telegram: FakeTelegram) -> dict:
    """An assignment notice as the dispatcher sends it on telegram, as the chat holds it."""
    result = await channel.send(Outgoing(
        message_id=1, channel="telegram", to=str(OPERATOR_CHAT), text=NOTICE, kind="assigned",
        matter_code="D17", buttons=buttons_for("D17", SECRET)))
    assert result.ok
    return telegram.messages[int(result.provider_ids[0])]


def press(message: dict, position: tuple[int, int]) -> str:
    """A `converse` step pressing the button at (row, column) of the message."""
    row, column = position
    return f"press:{message['reply_markup']['inline_keyboard'][row][column]['callback_data']}"


async def test_r15_ack_button_reaches_inbox_and_the_answer_comes_back(
        polling, telegram: FakeTelegram, sink: RecordingSink, channel: TelegramChannel) -> None:
    sink.channel = channel
    message = await notice(channel, telegram)
    data = press(message, ACK).removeprefix("press:")
    update_id = await telegram.press(OPERATOR_CHAT, message["message_id"], data)

    assert await sink.next_text() == "D17 收到"
    inbound = sink.received[0]
    assert (inbound.channel, inbound.sender) == ("telegram", str(OPERATOR_CHAT))
    assert inbound.provider_message_id == f"tg:{update_id}"
    assert inbound.raw["update"]["callback_query"]["data"] == data
    await telegram.wait_for("sendMessage", OPERATOR_CHAT, count=2)
    assert telegram.texts(OPERATOR_CHAT)[-1] == "answer to: D17 收到"
    (edit,) = await telegram.wait_for("editMessageText")
    assert edit.params["text"].startswith(NOTICE) and "收到" in edit.params["text"][len(NOTICE):]
    remaining = [b["callback_data"][0] for row in edit.params["reply_markup"]["inline_keyboard"]
                 for b in row]
    assert remaining == ["p", "e", "c"]  # the used 收到 button is gone
    (answer,) = await telegram.wait_for("answerCallbackQuery")
    assert "show_alert" not in answer.params


async def test_forged_button_is_refused_and_nothing_else_happens(
        polling, telegram: FakeTelegram, sink: RecordingSink, channel: TelegramChannel) -> None:
    message = await notice(channel, telegram)
    genuine = signed("a", "D17", SECRET)
    forgeries = [
        f"a:D18:{genuine.rsplit(':', 1)[1]}",  # another matter with D17's signature
        signed("a", "D17", "someone-elses-secret"),
        "a:D17",
        "x" * 64,
    ]
    for data in forgeries:
        await telegram.press(OPERATOR_CHAT, message["message_id"], data)

    answers = await telegram.wait_for("answerCallbackQuery", count=len(forgeries))
    assert all(a.params["show_alert"] == "true" for a in answers)
    assert sink.received == []
    assert telegram.sent("editMessageText") == []
    assert len(telegram.sent("sendMessage", OPERATOR_CHAT)) == 1  # only the notice itself


async def test_r7_progress_dialog_sends_one_grammar_line(
        polling, telegram: FakeTelegram, sink: RecordingSink, channel: TelegramChannel) -> None:
    message = await notice(channel, telegram)
    await telegram.converse(OPERATOR_CHAT, press(message, PROGRESS),
                            "已完成现场排查，整改方案报局务会审定")

    assert await sink.next_text() == "D17 进展 已完成现场排查，整改方案报局务会审定"
    assert sink.received[0].raw["dialog"] == {"action": "p", "code": "D17"}
    (edit,) = await telegram.wait_for("editMessageText")
    assert len(edit.params["reply_markup"]["inline_keyboard"][0]) == 2  # buttons kept


async def test_r17_extension_dialog_asks_date_reason_and_plan(
        polling, telegram: FakeTelegram, sink: RecordingSink, channel: TelegramChannel) -> None:
    message = await notice(channel, telegram)
    await telegram.converse(OPERATOR_CHAT, press(message, EXTENSION), "尽快", "2026年12月31日",
                            "需协调交通局占道审批", "12月15日前完成审批，张科长负责施工")

    assert await sink.next_text() == (
        "D17 延期 2026-12-31 理由：需协调交通局占道审批；计划：12月15日前完成审批，张科长负责施工")
    assert telegram.texts(OPERATOR_CHAT)[2] == say("dialog", "bad_date")  # "尽快" is no day


async def test_r27_completion_dialog(
        polling, telegram: FakeTelegram, sink: RecordingSink, channel: TelegramChannel) -> None:
    message = await notice(channel, telegram)
    await telegram.converse(OPERATOR_CHAT, press(message, COMPLETION),
                            "消防通道已全部打通，建立巡查机制")

    assert await sink.next_text() == "D17 办结 消防通道已全部打通，建立巡查机制"


async def test_cancel_closes_the_dialog_and_sends_nothing(
        polling, telegram: FakeTelegram, sink: RecordingSink, channel: TelegramChannel) -> None:
    message = await notice(channel, telegram)
    await telegram.converse(OPERATOR_CHAT, press(message, PROGRESS), "/cancel")
    await telegram.send_text(OPERATOR_CHAT, "随便说说")

    assert await sink.next_text() == "随便说说"  # plain text again, not a progress report
