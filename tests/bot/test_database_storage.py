"""Issue 8 item 17: `telegram.fsm_storage = "database"` keeps the bot's dialogs in the
service's database, so polling needs no Redis — tested with the real dialog flow over real
polling, on SQLite and PostgreSQL (DUBAN_TEST_DATABASE)."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Bot

from bot.app import DIALOG_TTL, build_dispatcher
from bot.callbacks import EXTENSION, buttons_for
from bot.channel import TelegramChannel
from bot.storage import DatabaseStorage
from bot.texts import say
from dispatch.channel import Outgoing
from models import DialogState
from scheduler.clock import VirtualClock
from tests.bot.conftest import OPERATOR_CHAT, SECRET, RecordingSink, polled, settings
from tests.bot.fake_telegram import FakeTelegram


async def extension_button(channel: TelegramChannel, telegram: FakeTelegram) -> str:
    sent = await channel.send(Outgoing(
        message_id=1, channel="telegram", to=str(OPERATOR_CHAT), text="D17 新交办",
        kind="assigned", matter_code="D17", buttons=buttons_for("D17", SECRET)))
    notice = telegram.messages[int(sent.provider_ids[0])]
    data = notice["reply_markup"]["inline_keyboard"][1][0]["callback_data"]
    assert data.startswith(f"{EXTENSION}:")
    return f"press:{data}"


def database_dispatcher(sink: RecordingSink, clock: VirtualClock):
    return build_dispatcher(sink, clock, settings(fsm_storage="database"))


async def test_issue8_item17_a_dialog_survives_a_restart_in_the_database(
        world, bot: Bot, telegram: FakeTelegram, sink: RecordingSink, clock: VirtualClock,
        channel: TelegramChannel) -> None:
    """Issue 8 item 17: the extension dialog runs on the database storage; the bot stops
    half-way (a restart: a new dispatcher, a new storage) and the dialog goes on."""
    press = await extension_button(channel, telegram)
    first = database_dispatcher(sink, clock)
    assert isinstance(first.storage, DatabaseStorage)
    async with polled(bot, telegram, first):
        await telegram.converse(OPERATOR_CHAT, press, "2026年12月31日")
    row = await DialogState.get()
    assert row.state == "Dialog:extension_reason" and row.data["day"] == "2026-12-31"

    async with polled(bot, telegram, database_dispatcher(sink, clock)):
        await telegram.converse(OPERATOR_CHAT, "需协调交通局占道审批", "12月15日前完成审批")
        assert await sink.next_text() == (
            "D17 延期 2026-12-31 理由：需协调交通局占道审批；计划：12月15日前完成审批")
    assert await DialogState.all().count() == 0  # the finished dialog leaves no row


async def test_issue8_item17_an_abandoned_dialog_expires(
        world, bot: Bot, telegram: FakeTelegram, sink: RecordingSink, clock: VirtualClock,
        channel: TelegramChannel) -> None:
    press = await extension_button(channel, telegram)
    async with polled(bot, telegram, database_dispatcher(sink, clock)):
        await telegram.converse(OPERATOR_CHAT, press)
        clock.set(clock.now() + DIALOG_TTL + timedelta(minutes=1))
        await telegram.converse(OPERATOR_CHAT, "/cancel")
    assert telegram.texts(OPERATOR_CHAT)[-1] == say("dialog", "nothing_to_cancel")
