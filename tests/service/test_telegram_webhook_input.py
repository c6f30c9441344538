"""The Telegram webhook of a composed service over real HTTP: a body that is not an Update
gets 400 (issue 8 item 18), and a good update still reaches the inbox."""

from __future__ import annotations

import aiohttp
import pytest

from bot.app import SECRET_HEADER
from models import InboundMessage
from service.app import build_app, build_service
from service.config import Settings, TelegramSettings
from tests.bot.fake_telegram import TOKEN, FakeTelegram
from tests.bot.fake_telegram import serve as serve_telegram
from tests.loopback import serve

HOOK_SECRET = "wh-secret_0123456789"


@pytest.fixture
async def hook(db, clock):
    telegram = FakeTelegram()
    async with serve_telegram(telegram.app()) as api:
        settings = Settings(database_url=db, telegram=TelegramSettings(
            token=TOKEN, api_base=api, callback_secret="a-long-random-callback-secret-0123",
            mode="webhook", webhook_url="https://duban.example.gov.cn/telegram/hook",
            webhook_secret=HOOK_SECRET, fsm_storage="memory"))
        service = build_service(settings, clock=clock)
        try:
            async with serve(build_app(service)) as base:
                yield telegram, f"{base}/telegram/hook"
        finally:
            await service.bot.session.close()


async def post(url: str, body: bytes) -> int:
    headers = {SECRET_HEADER: HOOK_SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(url, data=body,
                                                          headers=headers) as response:
        return response.status


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe", b"[1, 2]", b'{"message": "hello"}', b'"text"',
    b"[" * 100_000 + b"]" * 100_000,
], ids=["malformed", "bad-utf8", "array", "no-update-id", "string", "deep"])
async def test_a_body_that_is_not_an_update_is_400(hook, body):
    """Issue 8 item 18: malformed or non-Update JSON on the Telegram webhook is a 400."""
    _, url = hook
    assert await post(url, body) == 400
    assert await InboundMessage.all().count() == 0


async def test_a_good_update_still_reaches_the_inbox(hook):
    """Issue 8 item 18: the check lets real updates through."""
    import json

    telegram, url = hook
    update = telegram.update(message=telegram.user_message(3003, text="D17 收到"))
    assert await post(url, json.dumps(update).encode()) == 200
