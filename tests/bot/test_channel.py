"""TelegramChannel.send against the local server: ids on success, and each failure typed
the way the dispatcher needs it (RETRYABLE with retry_after, PERMANENT, UNKNOWN)."""

from __future__ import annotations

import socket

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.callbacks import buttons_for
from bot.channel import TelegramChannel
from dispatch.channel import Channel, FailureKind, Outgoing
from tests.bot.conftest import OPERATOR_CHAT, SECRET
from tests.bot.fake_telegram import TOKEN, Failure, FakeTelegram


def outgoing(to: str = str(OPERATOR_CHAT), text: str = "D17 请签收", **extra) -> Outgoing:
    return Outgoing(message_id=7, channel="telegram", to=to, text=text, kind="assigned",
                    matter_code="D17", **extra)


def fail(telegram: FakeTelegram, failure: Failure) -> None:
    telegram.failures[("sendMessage", OPERATOR_CHAT)] = failure


async def test_r36_send_carries_the_reply_buttons_and_returns_the_message_id(
        bot: Bot, telegram: FakeTelegram) -> None:
    channel = TelegramChannel(bot)
    assert isinstance(channel, Channel)

    result = await channel.send(outgoing(buttons=buttons_for("D17", SECRET)))

    assert result.ok
    (call,) = telegram.sent("sendMessage", OPERATOR_CHAT)
    assert result.provider_ids == (str(max(telegram.messages)),)
    assert "parse_mode" not in call.params  # plain text: no markup surprises
    keyboard = call.params["reply_markup"]["inline_keyboard"]
    assert [[b["callback_data"] for b in row] for row in keyboard] == [
        [b.data for b in row] for row in buttons_for("D17", SECRET)]


async def test_429_is_retryable_after_what_telegram_said(
        bot: Bot, telegram: FakeTelegram) -> None:
    fail(telegram, Failure(429, "Too Many Requests: retry after 7", retry_after=7))

    result = await TelegramChannel(bot).send(outgoing())

    assert (result.failure, result.retry_after) == (FailureKind.RETRYABLE, 7.0)


@pytest.mark.parametrize("status, description", [
    (403, "Forbidden: bot was blocked by the user"),
    (403, "Forbidden: user is deactivated"),
    (400, "Bad Request: chat not found"),
])
async def test_a_chat_that_cannot_receive_is_permanent(
        bot: Bot, telegram: FakeTelegram, status: int, description: str) -> None:
    fail(telegram, Failure(status, description))

    result = await TelegramChannel(bot).send(outgoing())

    assert result.failure is FailureKind.PERMANENT
    assert description in result.detail


async def test_a_server_error_is_retryable(bot: Bot, telegram: FakeTelegram) -> None:
    fail(telegram, Failure(502, "Bad Gateway"))

    assert (await TelegramChannel(bot).send(outgoing())).failure is FailureKind.RETRYABLE


async def test_no_answer_after_sending_is_unknown(bot: Bot, telegram: FakeTelegram) -> None:
    fail(telegram, Failure(200, "", hang=3.0))

    result = await TelegramChannel(bot, request_timeout=1).send(outgoing())

    assert result.failure is FailureKind.UNKNOWN


async def test_a_dropped_connection_after_sending_is_unknown(
        bot: Bot, telegram: FakeTelegram) -> None:
    fail(telegram, Failure(200, "", drop=True))

    assert (await TelegramChannel(bot).send(outgoing())).failure is FailureKind.UNKNOWN


async def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")
    bot = Bot(TOKEN, session=AiohttpSession(api=api))
    try:
        result = await TelegramChannel(bot).send(outgoing())
    finally:
        await bot.session.close()

    assert result.failure is FailureKind.RETRYABLE


async def test_an_address_that_is_no_chat_id_is_permanent(
        bot: Bot, telegram: FakeTelegram) -> None:
    result = await TelegramChannel(bot).send(outgoing(to="+8613800138002"))

    assert result.failure is FailureKind.PERMANENT
    assert telegram.calls == []


async def test_health_counts_outcomes(bot: Bot, telegram: FakeTelegram) -> None:
    channel = TelegramChannel(bot)
    await channel.start()
    telegram.failures[("sendMessage", 4242)] = Failure(403, "Forbidden: bot was blocked")
    await channel.send(outgoing())
    telegram.failures[("sendMessage", 4243)] = Failure(429, "Too Many Requests", retry_after=3)
    await channel.send(outgoing(to="4243"))
    await channel.send(outgoing(to="4242"))

    health = channel.health()
    assert health["username"] == "duban_test_bot"
    assert health["outcomes"] == {"sent": 1, "retryable": 1, "permanent": 1}
    assert "blocked" in health["last_failure"]
