"""A delivery receipt that says failed or expired fails the message over to the person's
other channel, once (issue 4: failover, recorded on the message row)."""

from __future__ import annotations

from dispatch.channel import Receipt
from dispatch.dispatcher import Dispatcher
from dispatch.outbox import enqueue
from dispatch.render import Renderer
from models import MessageStatus, OutboundMessage, Person, Role, Unit
from replies.inbound import Inbox
from service.simulate import RecordingChannel

CONTEXT = {"reason": "year_end", "matters": [{"code": "D1", "title": "t", "state": "x"}]}


async def sent_sms(clock) -> tuple[OutboundMessage, Dispatcher]:
    unit = await Unit.create(key="water", name="区水务局")
    person = await Person.create(unit=unit, name="李一", role=Role.OPERATOR_A,
                                 phone="+8613800000002", telegram_chat_id=1001)
    await enqueue(kind="remind", people=[person], context=CONTEXT, due_at=clock.now(),
                  now=clock.now(), only_channel="sms")
    channels = {n: RecordingChannel(n, clock) for n in ("sms", "telegram")}
    dispatcher = Dispatcher(channels, Renderer("【督办】"), clock, "w1")
    await dispatcher.run_once()
    return await OutboundMessage.get(channel="sms"), dispatcher


async def test_failed_receipt_fails_over_to_the_messenger_once(db, clock, ctx):
    row, dispatcher = await sent_sms(clock)
    inbox = Inbox(ctx)
    receipt = Receipt(channel="sms", provider_message_id=f"sms-{row.id}", status="failed",
                      detail="UNDELIV")
    await inbox.receipt(receipt)
    await inbox.receipt(receipt)  # the provider reports it again

    copies = await OutboundMessage.filter(failover_of_id=row.id)
    assert [c.channel for c in copies] == ["telegram"]
    assert (await OutboundMessage.get(id=row.id)).status is MessageStatus.FAILED
    await dispatcher.run_once()
    assert (await OutboundMessage.get(id=copies[0].id)).status is MessageStatus.SUBMITTED


async def test_delivered_receipt_does_not_fail_over(db, clock, ctx):
    row, _ = await sent_sms(clock)
    await Inbox(ctx).receipt(Receipt(channel="sms", provider_message_id=f"sms-{row.id}",
                                     status="delivered"))
    assert not await OutboundMessage.exists(failover_of_id=row.id)
    assert (await OutboundMessage.get(id=row.id)).status is MessageStatus.DELIVERED
