"""The SMPP channel with the real inbox and dispatcher on the test database: receipts that
spell ids differently, long messages that resume, replies the SMSC delivers twice.

The loopback SMSC and its helpers come from test_smpp (smpp34's server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import smpp34

from dispatch.dispatcher import Dispatcher
from models import InboundMessage, MessageStatus, OutboundMessage, ProviderId
from replies.inbound import Inbox
from sms_gateway.smpp import SmppChannel
from sms_gateway.webhooks import sms_webhook_routes
from tests.loopback import serve
from tests.sms_gateway.test_smpp import (
    LONG_NOTICE,
    NOTICE,
    TO,
    Smsc,
    eventually,
    reassemble,
    receipt_text,
    settings,
    smsc,
)
from tests.sms_gateway_http.test_webhooks import ALIYUN, TOKEN

__all__ = ["smsc"]  # the fixture, used by name


@pytest.fixture
async def wired(db, ctx, smsc: Smsc) -> AsyncIterator[Any]:
    """Start an SmppChannel whose sink is the real inbox; yields a factory for overrides."""
    channels: list[SmppChannel] = []

    async def make(**overrides: Any) -> SmppChannel:
        channel = SmppChannel(settings(smsc.port, **overrides), Inbox(ctx))
        channels.append(channel)
        await channel.start()
        assert await channel.wait_bound(5)
        await eventually(lambda: len(smsc.sessions) == len(channels))
        return channel

    yield make
    for channel in channels:
        await channel.stop()


async def queued(ctx, text: str) -> OutboundMessage:
    now = ctx.clock.now()
    return await OutboundMessage.create(kind="assigned", channel="sms", address=TO, text=text,
                                        due_at=now, created_at=now)


def dispatcher(channel: SmppChannel, ctx) -> Dispatcher:
    return Dispatcher({"sms": channel}, None, ctx.clock, worker="b")  # type: ignore[arg-type]


async def test_a_decimal_receipt_delivers_the_row_its_hex_id_came_from(
    wired, ctx, smsc: Smsc
) -> None:
    """Issue 8 item 9: the row no longer stays `submitted` forever."""
    channel = await wired()
    row = await queued(ctx, NOTICE)
    smsc.answer = lambda _: "1A2B3C0B"
    await dispatcher(channel, ctx).run_once()
    await row.refresh_from_db()
    assert row.status == MessageStatus.SUBMITTED
    resp = await smsc.deliver(receipt_text("0439041035", "DELIVRD"), esm_class=0x04)
    assert resp.is_success
    await row.refresh_from_db()
    assert row.status == MessageStatus.DELIVERED


async def test_a_long_message_retried_by_the_dispatcher_sends_only_its_missing_parts(
    wired, ctx, smsc: Smsc
) -> None:
    """Issue 8 item 10: the channel gives up on a throttled part 2; the row keeps part 1's
    id (its receipt matches meanwhile) and its retry sends parts 2-3 under the same ref."""
    channel = await wired(throttled_retry_after=0.05, throttle_give_up=0.2)
    row = await queued(ctx, LONG_NOTICE)
    smsc.answer = lambda e: smpp34.ESME_RTHROTTLED if len(smsc.submits) > 1 else smsc.accept(e)
    await dispatcher(channel, ctx).run_once()
    await row.refresh_from_db()
    assert (row.status, row.provider_ids) == (MessageStatus.PENDING, ["msg-1"])
    await smsc.deliver(receipt_text("msg-1", "DELIVRD"), esm_class=0x04)
    first = smsc.submits[0]
    smsc.submits.clear()
    smsc.answer = smsc.accept
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=5))
    await dispatcher(channel, ctx).run_once()
    await row.refresh_from_db()
    assert row.status == MessageStatus.SUBMITTED
    assert row.provider_ids == ["msg-1", "msg-2", "msg-3"]
    assert len(smsc.submits) == 2
    _, text = reassemble([first, *smsc.submits])
    assert text.endswith(LONG_NOTICE)
    assert await ProviderId.filter(message_id=row.id).count() == 3


async def test_a_reply_the_smsc_delivers_twice_is_applied_once(wired, smsc: Smsc) -> None:
    """Issue 8 item 12: SMPP gives a reply no id; its content key makes the inbox's dedup
    drop the redelivery: one stored reply, one answer. The same text after the dedup
    window is a new reply (a person may send "收到" twice)."""
    await wired(mo_dedup_seconds=0.3)
    reply = "收到".encode("utf-16-be")
    assert (await smsc.deliver(reply, data_coding=8)).is_success
    answers = await OutboundMessage.all().count()
    assert answers == 1
    assert (await smsc.deliver(reply, data_coding=8)).is_success  # acked: nothing to redo
    assert await InboundMessage.all().count() == 1
    assert await OutboundMessage.all().count() == answers
    await asyncio.sleep(0.7)
    await smsc.deliver(reply, data_coding=8)
    assert await InboundMessage.all().count() == 2


async def test_a_multipart_reply_redelivered_in_another_order_is_applied_once(
    wired, smsc: Smsc
) -> None:
    """Issue 8 item 12: the key does not depend on which part arrived first."""
    await wired()
    parts = [bytes((5, 0, 3, 0x2A, 2, n)) + f"第{n}部分。".encode("utf-16-be") for n in (1, 2)]
    for order in ((0, 1), (1, 0)):
        for n in order:
            await smsc.deliver(parts[n], data_coding=8, esm_class=0x40)
    assert await InboundMessage.all().count() == 1


SMS_UP = {"phone_number": "13800138000", "content": "1 收到", "send_time": "2024-05-06 10:00:00",
          "dest_code": "1234"}  # no sequence_id


async def test_an_aliyun_reply_without_sequence_id_resent_is_applied_once(db, ctx) -> None:
    """Issue 8 item 12: Alibaba resends an SmsUp without sequence_id; its content and send
    time make the key. The same text sent again later (new send_time) is a new reply."""
    later = SMS_UP | {"send_time": "2024-05-06 10:05:00"}
    async with serve(_aliyun_app(Inbox(ctx))) as url, aiohttp.ClientSession() as http:
        for batch in ([SMS_UP], [SMS_UP], [later]):
            async with http.post(f"{url}/sms/aliyun/up/{TOKEN}", json=batch) as response:
                assert response.status == 200
    texts = await InboundMessage.all().order_by("id").values_list("raw_data", flat=True)
    assert [t["send_time"] for t in texts] == ["2024-05-06 10:00:00", "2024-05-06 10:05:00"]


def _aliyun_app(sink: Inbox) -> Any:
    from aiohttp import web

    app = web.Application()
    app.add_routes(sms_webhook_routes(sink, aliyun=ALIYUN, twilio=None))
    return app
