"""Webhook mode: updates posted to the web app with Telegram's secret header reach the
inbox, anything without it gets 403; dialogs live in Redis so instances can share them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiohttp import web

from bot.app import SECRET_HEADER, build_dispatcher, make_bot, make_storage, setup_webhook
from bot.callbacks import buttons_for
from bot.channel import TelegramChannel
from dispatch.channel import Outgoing
from service.config import TelegramSettings
from tests.bot.conftest import OPERATOR_CHAT, SECRET, RecordingSink, World, settings
from tests.bot.fake_telegram import BOT_ID, FakeTelegram, serve

HOOK_SECRET = "wh-secret_0123456789"
HOOK_URL = "https://duban.example.gov.cn/telegram/hook"
WEBHOOK = {"mode": "webhook", "webhook_url": HOOK_URL, "webhook_secret": HOOK_SECRET}
pytestmark = pytest.mark.usefixtures("redis_server")  # dialogs in Redis (skipped visibly)


@pytest.fixture
async def webhook(bot: Bot, telegram: FakeTelegram, sink: RecordingSink, clock,
                  world: World) -> AsyncIterator[tuple[str, Dispatcher]]:
    """The web app with the bot's webhook route, served on loopback; yields its hook URL."""
    dispatcher = build_dispatcher(sink, clock, settings(**WEBHOOK))
    await _forget_dialogs(dispatcher)
    app = web.Application()
    setup_webhook(app, dispatcher, bot, TelegramSettings(**WEBHOOK))
    async with serve(app) as base:
        yield f"{base}/telegram/hook", dispatcher
        await _forget_dialogs(dispatcher)


async def _forget_dialogs(dispatcher: Dispatcher) -> None:
    storage = dispatcher.storage
    assert isinstance(storage, RedisStorage)
    async for key in storage.redis.scan_iter(f"duban:fsm:{BOT_ID}:*"):
        await storage.redis.delete(key)


async def post(url: str, update: dict[str, Any], secret: str | None = HOOK_SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session, session.post(
            url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as resp:
        return resp.status


async def test_startup_registers_the_webhook_with_its_secret(
        webhook, telegram: FakeTelegram) -> None:
    (call,) = telegram.sent("setWebhook")
    assert call.params["url"] == HOOK_URL
    assert call.params["secret_token"] == HOOK_SECRET
    assert {"message", "callback_query"} <= set(call.params["allowed_updates"])


async def test_update_with_the_secret_reaches_the_inbox(
        webhook, telegram: FakeTelegram, sink: RecordingSink) -> None:
    url, _ = webhook
    update = telegram.update(message=telegram.user_message(OPERATOR_CHAT, text="D17 收到"))

    assert await post(url, update) == 200
    assert sink.texts == ["D17 收到"]
    assert sink.received[0].provider_message_id == f"tg:{update['update_id']}"


@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
async def test_update_without_the_secret_is_forbidden(
        webhook, telegram: FakeTelegram, sink: RecordingSink, secret: str | None) -> None:
    url, _ = webhook
    update = telegram.update(message=telegram.user_message(OPERATOR_CHAT, text="D17 收到"))

    assert await post(url, update, secret) == 403
    assert sink.received == []


async def test_r7_progress_dialog_spans_requests_through_redis(
        webhook, bot: Bot, telegram: FakeTelegram, sink: RecordingSink) -> None:
    url, dispatcher = webhook
    assert isinstance(dispatcher.storage, RedisStorage)
    sent = await TelegramChannel(bot).send(Outgoing(
        message_id=1, channel="telegram", to=str(OPERATOR_CHAT), text="D17 请报进展",
        kind="remind", matter_code="D17", buttons=buttons_for("D17", SECRET)))
    data = buttons_for("D17", SECRET)[0][1].data
    press = telegram.callback_query(OPERATOR_CHAT, int(sent.provider_ids[0]), data)

    assert await post(url, telegram.update(callback_query=press)) == 200
    assert [k async for k in dispatcher.storage.redis.scan_iter(f"duban:fsm:{BOT_ID}:*")]
    text = telegram.user_message(OPERATOR_CHAT, text="已完成排查")
    assert await post(url, telegram.update(message=text)) == 200

    assert sink.texts == ["D17 进展 已完成排查"]


def test_webhook_mode_needs_a_secret(bot: Bot, sink: RecordingSink, clock) -> None:
    dispatcher = build_dispatcher(sink, clock, settings(), storage=MemoryStorage())
    no_secret = TelegramSettings(mode="webhook", webhook_url=HOOK_URL)

    with pytest.raises(ValueError, match="webhook_secret"):
        setup_webhook(web.Application(), dispatcher, bot, no_secret)


@pytest.mark.parametrize("telegram_settings, expected", [
    ({}, MemoryStorage),
    (WEBHOOK, RedisStorage),
    ({**WEBHOOK, "fsm_storage": "memory"}, MemoryStorage),
    ({"fsm_storage": "redis"}, RedisStorage),
])
async def test_fsm_storage_follows_the_mode_unless_chosen(
        telegram_settings: dict[str, Any], expected: type) -> None:
    storage = make_storage(TelegramSettings(**telegram_settings))
    try:
        assert type(storage) is expected
    finally:
        await storage.close()


def test_database_fsm_storage_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="fsm_storage"):
        make_storage(TelegramSettings(fsm_storage="database"))


async def test_make_bot_uses_the_local_api_server(telegram: FakeTelegram) -> None:
    bot = make_bot(TelegramSettings(token="777000:local-test-token", api_base=telegram.base))
    try:
        assert (await bot.get_me()).username == "duban_test_bot"
    finally:
        await bot.session.close()
    with pytest.raises(ValueError, match="token"):
        make_bot(TelegramSettings())
