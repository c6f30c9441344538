"""Free text, /list and /help from a linked person go to the inbox (R36: all answered)."""

from __future__ import annotations

from tests.bot.conftest import OPERATOR_CHAT, RecordingSink
from tests.bot.fake_telegram import FakeTelegram


async def test_free_text_goes_to_the_inbox_as_written(
        polling, telegram: FakeTelegram, sink: RecordingSink) -> None:
    update_id = await telegram.send_text(OPERATOR_CHAT, "1号 收到，已安排法制科办理")

    assert await sink.next_text() == "1号 收到，已安排法制科办理"
    assert sink.received[0].provider_message_id == f"tg:{update_id}"
    assert sink.received[0].raw["update"]["message"]["chat"]["id"] == OPERATOR_CHAT


async def test_menu_commands_become_grammar_words(
        polling, telegram: FakeTelegram, sink: RecordingSink) -> None:
    await telegram.send_text(OPERATOR_CHAT, "/list")
    assert await sink.next_text(1) == "列表"
    await telegram.send_text(OPERATOR_CHAT, "/help")
    assert await sink.next_text(2) == "帮助"


async def test_r36_a_photo_is_answered_with_how_to_reply(
        polling, telegram: FakeTelegram, sink: RecordingSink) -> None:
    await telegram.send_photo(OPERATOR_CHAT)

    (reply,) = await telegram.wait_for("sendMessage", OPERATOR_CHAT)
    assert "D17 进展" in reply.params["text"]
    assert sink.received == []


async def test_a_failing_inbox_asks_the_person_to_resend(
        polling, telegram: FakeTelegram, sink: RecordingSink) -> None:
    sink.fail = True
    await telegram.send_text(OPERATOR_CHAT, "D17 收到")

    (reply,) = await telegram.wait_for("sendMessage", OPERATOR_CHAT)
    assert "重新发送" in reply.params["text"]
