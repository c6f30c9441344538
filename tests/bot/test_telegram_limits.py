"""Issue 10: Telegram's flood limits are kept once, by the dispatcher (`service.app.limiters`),
not again by the channel: one message a second per chat, 30 a second overall. Sent through
the real channel to the local Bot API server; a row over a limit waits as `pending`."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Bot

from bot.channel import TelegramChannel
from dispatch.dispatcher import Dispatcher
from dispatch.outbox import create_row
from dispatch.render import Renderer
from models import MessageStatus, OutboundMessage
from scheduler.clock import VirtualClock
from service.app import limiters
from tests.bot.conftest import OPERATOR_CHAT, settings
from tests.bot.fake_telegram import FakeTelegram


def dispatcher(bot: Bot, clock: VirtualClock) -> Dispatcher:
    return Dispatcher({"telegram": TelegramChannel(bot)}, Renderer(), clock, "w",
                      limits={"telegram": limiters(settings())["telegram"]})


async def queue(clock: VirtualClock, chat: int, text: str) -> OutboundMessage:
    row = await create_row(now=clock.now(), kind="assigned", channel="telegram",
                           address=str(chat), context={}, text=text, due_at=clock.now())
    assert row is not None
    return row


async def test_issue10_one_message_a_second_per_chat_others_not_held_up(
        db: None, bot: Bot, telegram: FakeTelegram, clock: VirtualClock) -> None:
    sending = dispatcher(bot, clock)
    await queue(clock, OPERATOR_CHAT, "first")
    second = await queue(clock, OPERATOR_CHAT, "second")
    await queue(clock, 4242, "another chat")

    await sending.run_once()

    assert [c.params["text"] for c in telegram.sent("sendMessage", OPERATOR_CHAT)] == ["first"]
    assert len(telegram.sent("sendMessage", 4242)) == 1
    await second.refresh_from_db()
    assert second.status is MessageStatus.PENDING
    assert second.due_at == clock.now() + timedelta(seconds=1)

    clock.set(clock.now() + timedelta(seconds=1))
    await sending.run_once()
    assert [c.params["text"] for c in telegram.sent("sendMessage", OPERATOR_CHAT)] == [
        "first", "second"]


async def test_issue10_thirty_messages_a_second_overall(
        db: None, bot: Bot, telegram: FakeTelegram, clock: VirtualClock) -> None:
    sending = dispatcher(bot, clock)
    for chat in range(1000, 1031):
        await queue(clock, chat, f"to {chat}")

    await sending.run_once(limit=100)

    assert len(telegram.sent("sendMessage")) == 30
    (waiting,) = await OutboundMessage.filter(status=MessageStatus.PENDING)
    assert clock.now() < waiting.due_at <= clock.now() + timedelta(seconds=1)
    clock.set(clock.now() + timedelta(seconds=1))
    await sending.run_once()
    assert len(telegram.sent("sendMessage")) == 31
