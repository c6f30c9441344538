"""Issue 8 item 16: every bot answer is an outbound row sent by the dispatcher, which honours
Telegram's retry_after; "please resend" only when nothing was recorded.

The real aiogram Bot polls the local Bot API server (fake_telegram), which answers
sendMessage with 429 + retry_after for the chat under test; the service's dispatcher sends
the rows on the real TelegramChannel (conftest `sending`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.answers import KIND
from bot.callbacks import PROGRESS, buttons_for
from bot.channel import TelegramChannel
from bot.texts import say
from dispatch.channel import Outgoing
from models import MessageStatus, OutboundMessage
from scheduler.clock import VirtualClock
from tests.bot.conftest import OPERATOR_CHAT, SECRET, SUPERVISOR_CHAT, RecordingSink
from tests.bot.fake_telegram import Failure, FakeTelegram, eventually

RETRY_AFTER = 1  # seconds, of the virtual clock: the row is due again only after it
THROTTLED = Failure(429, f"Too Many Requests: retry after {RETRY_AFTER}", retry_after=RETRY_AFTER)


async def throttled_answer(telegram: FakeTelegram, chat: int) -> OutboundMessage:
    """The answer row once it was tried, got the 429 and waits for retry_after."""
    await telegram.wait_for("sendMessage", chat)
    for _ in range(250):
        row = await OutboundMessage.filter(kind=KIND, address=str(chat), attempts=1,
                                           status=MessageStatus.PENDING).first()
        if row:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError("the answer row never waited for retry_after")


async def test_issue8_item16_overdue_listing_survives_a_429(
        polling, telegram: FakeTelegram, clock: VirtualClock) -> None:
    """Issue 8 item 16: /overdue's listing, refused with 429, is sent again after
    retry_after — and not before; the person is never told to resend."""
    telegram.failures[("sendMessage", SUPERVISOR_CHAT)] = THROTTLED
    await telegram.send_text(SUPERVISOR_CHAT, "/overdue")

    row = await throttled_answer(telegram, SUPERVISOR_CHAT)
    assert row.due_at == clock.now() + timedelta(seconds=RETRY_AFTER)
    del telegram.failures[("sendMessage", SUPERVISOR_CHAT)]
    await asyncio.sleep(0.2)  # the sending loop runs meanwhile
    assert len(telegram.sent("sendMessage", SUPERVISOR_CHAT)) == 1  # not due before retry_after

    clock.set(clock.now() + timedelta(seconds=RETRY_AFTER))
    (_, listing) = await telegram.wait_for("sendMessage", SUPERVISOR_CHAT, count=2)
    assert "D17" in listing.params["text"]
    assert say("dialog", "error") not in telegram.texts(SUPERVISOR_CHAT)


async def test_issue8_item16_dialog_confirmation_after_429_without_resend(
        polling, telegram: FakeTelegram, sink: RecordingSink, clock: VirtualClock,
        channel: TelegramChannel) -> None:
    """Issue 8 item 16: the report of a dialog reached the inbox; its confirmation, throttled,
    arrives later; "please resend" never goes out (it would make the report twice)."""
    sent = await channel.send(Outgoing(
        message_id=1, channel="telegram", to=str(OPERATOR_CHAT), text="D17 新交办", kind="assigned",
        matter_code="D17", buttons=buttons_for("D17", SECRET)))
    notice = telegram.messages[int(sent.provider_ids[0])]
    data = notice["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    assert data.startswith(f"{PROGRESS}:")
    await telegram.converse(OPERATOR_CHAT, f"press:{data}")  # the prompt comes back

    telegram.failures[("sendMessage", OPERATOR_CHAT)] = THROTTLED
    await telegram.send_text(OPERATOR_CHAT, "已完成现场排查")
    assert await sink.next_text() == "D17 进展 已完成现场排查"
    await throttled_answer(telegram, OPERATOR_CHAT)
    del telegram.failures[("sendMessage", OPERATOR_CHAT)]

    clock.set(clock.now() + timedelta(seconds=RETRY_AFTER))
    await eventually(lambda: say("dialog", "submitted", code="D17") in telegram.texts(
        OPERATOR_CHAT))
    assert say("dialog", "error") not in telegram.texts(OPERATOR_CHAT)
    assert sink.texts == ["D17 进展 已完成现场排查"]  # recorded once


async def test_issue8_item16_please_resend_only_when_nothing_was_recorded(
        polling, telegram: FakeTelegram, sink: RecordingSink) -> None:
    """The inbox is down: nothing was recorded, so the person is asked to send it again."""
    sink.fail = True
    await telegram.send_text(OPERATOR_CHAT, "D17 进展 已完成现场排查")
    (reply,) = await telegram.wait_for("sendMessage", OPERATOR_CHAT)
    assert reply.params["text"] == say("dialog", "error")
