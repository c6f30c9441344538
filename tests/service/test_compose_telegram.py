"""`duban serve`'s composition with a bot token: the real aiogram Bot talks to a local Bot
API server; notices go out with signed buttons, and a tap comes back as a receipt (R3, R7)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from bot.callbacks import verify
from dispatch.channel import InboundText
from models import (
    DevDelivery,
    Matter,
    MatterState,
    MessageStatus,
    OutboundMessage,
    Person,
    Role,
    Unit,
)
from service.app import build_service, start_polling
from service.config import Settings, TelegramSettings
from tests.bot.fake_telegram import TOKEN, Failure, FakeTelegram, eventually, serve
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

SECRET = "compose-test-secret"
OPERATOR_CHAT = 3003


async def seed() -> None:
    water = await Unit.create(key="water", name="区水务局")
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=water, name="王局长", role=Role.HEAD, phone="+8613800000001")
    await Person.create(unit=water, name="李一", role=Role.OPERATOR_A, phone="+8613800000002",
                        telegram_chat_id=OPERATOR_CHAT)
    await Person.create(unit=water, name="赵二", role=Role.OPERATOR_B, phone="+8613800000003")
    await Person.create(unit=ducha, name="陈主任", role=Role.HEAD, phone="+8613900000001")


async def test_r3_r7_notice_goes_out_with_buttons_and_a_tap_acknowledges(db, clock):
    await seed()
    server = FakeTelegram()
    async with serve(server.app()) as base:
        settings = Settings(database_url=db, telegram=TelegramSettings(
            token=TOKEN, api_base=base, callback_secret=SECRET))
        service = build_service(settings, clock=clock)
        polling = start_polling(service)
        try:
            await register_matter(service.ctx, MatterDraft(
                board="daily", title="清理辖区河道垃圾", initiator="ducha", lead="water",
                approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True,
                code="D1"), Actor(None, "web"))
            await service.tick()
            await service.dispatcher.run_once()  # the dispatcher loop's step
            [notice] = server.sent("sendMessage", OPERATOR_CHAT)
            assert "D1" in notice.params["text"] and "收到" in notice.params["text"]
            keyboard = notice.params["reply_markup"]["inline_keyboard"]
            first = keyboard[0][0]
            assert first["text"] == "收到" and verify(first["callback_data"], SECRET)

            await server.press(OPERATOR_CHAT, server.last_message_id(OPERATOR_CHAT),
                               first["callback_data"])

            async def acknowledged() -> bool:
                return (await Matter.get(code="D1")).state is MatterState.ACKNOWLEDGED

            for _ in range(500):
                await service.replies.run_once()  # the reply worker's step (issue 10)
                if await acknowledged():
                    break
                await asyncio.sleep(0.02)
            assert await acknowledged()
            # The answer goes back through the bot; Telegram's per-chat limit (about 1/s)
            # reschedules it rather than sleeping, so let the clock pass that second.
            await asyncio.sleep(1.1)
            clock.set(clock.now() + timedelta(seconds=2))
            await service.tick()
            await service.dispatcher.run_once()  # the dispatcher loop's step
            await eventually(lambda: len(server.sent("sendMessage", OPERATOR_CHAT)) >= 2)
            assert "D1" in server.sent("sendMessage", OPERATOR_CHAT)[-1].params["text"]
        finally:
            await service.bot_dispatcher.stop_polling()
            await polling
            await service.bot.session.close()



async def test_a_blocked_user_gets_the_answer_by_sms_instead(db, clock):
    """Issue 5: "blocked" is a permanent failure of the messenger. The answer to what the
    person wrote through the bot (sent only there) fails over to their SMS, recorded on
    the new row (failover_of), and reaches the phone."""
    await seed()
    server = FakeTelegram()
    server.failures[("sendMessage", OPERATOR_CHAT)] = Failure(
        403, "Forbidden: bot was blocked by the user")
    async with serve(server.app()) as base:
        settings = Settings(database_url=db, development=True, telegram=TelegramSettings(
            token=TOKEN, api_base=base, callback_secret=SECRET))  # the dev SMS channel
        service = build_service(settings, clock=clock)
        try:
            await register_matter(service.ctx, MatterDraft(
                board="daily", title="清理辖区河道垃圾", initiator="ducha", lead="water",
                approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True,
                code="D1"), Actor(None, "web"))
            await service.sink.inbound(InboundText(channel="telegram", sender=str(OPERATOR_CHAT),
                                                   text="D1 收到", provider_message_id="tg:1"))
            await service.replies.run_once()  # the reply worker's step (issue 10)
            await service.tick()
            await service.dispatcher.run_once()  # the dispatcher loop's step
            await asyncio.sleep(1.1)  # Telegram's per-chat limit: the notice went first
            clock.set(clock.now() + timedelta(seconds=2))
            await service.tick()  # the answer: blocked, failed over
            await service.dispatcher.run_once()  # the dispatcher loop's step
            await service.tick()  # the failover row goes out on the next poll
            await service.dispatcher.run_once()  # the dispatcher loop's step
        finally:
            await service.bot.session.close()
    [answer] = await OutboundMessage.filter(kind="reply", channel="telegram")
    assert answer.status is MessageStatus.FAILED and "blocked" in answer.error
    [copy] = await OutboundMessage.filter(failover_of_id=answer.id)
    assert copy.channel == "sms" and copy.address == "+8613800000002"
    assert copy.status is MessageStatus.SUBMITTED
    delivered = await DevDelivery.get(message_id=copy.id)
    assert "D1" in delivered.text and delivered.text.startswith("【督办】")
