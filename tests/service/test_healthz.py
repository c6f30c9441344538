"""`/healthz` over real HTTP (issue 8 item 3): counts and states only, never personal data;
`degraded` with 503 when the database fails, a channel is down, or rows are stuck."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from tortoise import Tortoise

from dispatch.channel import Outgoing
from models import MessageStatus, OutboundMessage
from service.app import build_app, build_service
from service.config import Settings, TelegramSettings
from tests.bot.fake_telegram import TOKEN, Failure, FakeTelegram
from tests.bot.fake_telegram import serve as serve_telegram
from tests.loopback import serve

PHONE = "+8613800000002"
SECRET = "a-long-random-callback-secret-0123"


async def get_health(service) -> tuple[int, dict, str]:
    async with (serve(build_app(service)) as base, aiohttp.ClientSession() as http,
                http.get(f"{base}/healthz") as response):
        return response.status, await response.json(), await response.text()


async def test_a_healthy_instance_is_ok(db, clock):
    """Issue 8 item 3: nothing wrong is `ok` with 200."""
    service = build_service(Settings(database_url=db, development=True), clock=clock)
    status, body, _ = await get_health(service)
    assert (status, body["status"], body["database"]) == (200, "ok", "ok")
    assert body["channels"]["sms"]["state"] == "development"


async def test_provider_error_texts_never_reach_health(db, clock):
    """Issue 8 item 3: a Telegram failure quoting a phone number is logged by the channel
    but /healthz shows only the channel's counts and state."""
    telegram = FakeTelegram()
    telegram.failures[("sendMessage", 3003)] = Failure(400, f"Bad Request: {PHONE} not found")
    async with serve_telegram(telegram.app()) as api:
        service = build_service(Settings(database_url=db, telegram=TelegramSettings(
            token=TOKEN, api_base=api, callback_secret=SECRET)), clock=clock)
        try:
            channel = service.channels["telegram"]
            result = await channel.send(Outgoing(1, "telegram", "3003", "D1 收到", "reply"))
            assert PHONE in result.detail  # the detail exists; it just must not be shown
            status, body, text = await get_health(service)
        finally:
            await service.bot.session.close()
    assert PHONE not in text and "13800000002" not in text and "Bad Request" not in text
    assert body["channels"]["telegram"]["state"] == "up"
    assert body["channels"]["telegram"]["outcomes"] == {"permanent": 1}


async def test_stuck_and_unknown_rows_make_it_degraded(db, clock):
    """Issue 8 item 3: a row sending past its claim, or with an unknown outcome, is a 503."""
    service = build_service(Settings(database_url=db, development=True), clock=clock)
    now = clock.now()
    row = await OutboundMessage.create(kind="reply", channel="sms", address=PHONE,
                                       status=MessageStatus.SENDING, due_at=now,
                                       claim_until=now - timedelta(minutes=5), created_at=now)
    status, body, text = await get_health(service)
    assert (status, body["status"], body["stuck"]) == (503, "degraded", 1)
    assert PHONE not in text
    row.status = MessageStatus.UNKNOWN
    await row.save()
    status, body, _ = await get_health(service)
    assert (status, body["stuck"], body["unknown_outcome"]) == (503, 0, 1)


async def test_a_failing_database_makes_it_degraded(db, clock):
    """Issue 8 item 3: when the database does not answer the queries, health says so with a
    503 instead of failing with 500 or claiming `ok`."""
    service = build_service(Settings(database_url=db, development=True), clock=clock)
    connection = Tortoise.get_connection("default")
    table = OutboundMessage._meta.db_table
    await connection.execute_script(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        status, body, _ = await get_health(service)
    finally:
        await connection.execute_script(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert (status, body["status"], body["database"]) == (503, "degraded", "unreachable")


async def test_a_channel_that_is_down_makes_it_degraded(db, clock):
    """Issue 8 item 3: an SMPP channel that is not bound (its SMSC does not answer) is
    `down`, and the instance `degraded`."""
    from tests.loopback import closed_port

    settings = Settings(database_url=db, sms={
        "provider": "smpp", "smpp": {"host": "127.0.0.1", "port": closed_port(),
                                     "system_id": "duban", "password": "secret",
                                     "source_addr": "10690001"}})
    service = build_service(settings, clock=clock)
    status, body, text = await get_health(service)
    assert (status, body["status"], body["channels"]["sms"]["state"]) == (503, "degraded", "down")
    assert "127.0.0.1" not in text  # the SMSC's address stays in the log
