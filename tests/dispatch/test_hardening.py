"""Issue 8 items 8, 11 (dispatcher side) and 13: an oversize message never blocks the others,
throttling is not a failed attempt, receipts never regress a final state."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from dispatch.channel import FailureKind, Receipt, SendResult
from dispatch.dispatcher import MAX_ATTEMPTS
from dispatch.ratelimit import Limit, RateLimiter
from dispatch.receipts import apply_receipt
from models import MessageStatus, OutboundMessage
from sms_gateway.text import count_segments
from tests.dispatch.support import ScriptedChannel, history, make_people
from tests.dispatch.test_dispatcher import dispatcher, fresh, queue


async def test_an_oversize_sms_is_sent_and_never_blocks_other_rows(db, clock) -> None:
    """Issue 8 item 8: an 8-segment answer against 5 per number per minute used to make
    RateLimiter.take raise, abort the batch every tick and keep the row claimed forever."""
    people = await make_people(2, telegram=False)
    long_row, short_row = await queue(clock, people)
    await OutboundMessage.filter(id=long_row.id).update(text="列表" * 250)  # 8 segments
    assert count_segments("列表" * 250) == 8
    sms = ScriptedChannel("sms")
    d = dispatcher(clock, sms)
    d.limits = {"sms": RateLimiter(per_number=[Limit(5, 60.0)], cost=count_segments)}
    assert await d.drain() == 2
    assert sorted(sms.ids()) == sorted([long_row.id, short_row.id])
    assert (await fresh(long_row)).status is MessageStatus.SUBMITTED


async def test_a_throttled_send_is_retried_without_counting_an_attempt(db, clock) -> None:
    """Issue 8 item 11: sustained throttling never fails a message for good."""
    (row,) = await queue(clock, await make_people(1, telegram=False))
    throttled = SendResult.failed(FailureKind.RETRYABLE, "ESME_RTHROTTLED", retry_after=2.0,
                                  throttled=True)
    sms = ScriptedChannel("sms", [throttled] * (MAX_ATTEMPTS * 2) + [SendResult.sent("ok")])
    d = dispatcher(clock, sms)
    for _ in range(MAX_ATTEMPTS * 2):
        assert await d.run_once() == 1
        fresh_row = await fresh(row)
        assert fresh_row.status is MessageStatus.PENDING and fresh_row.attempts == 0
        assert fresh_row.due_at == clock.now() + timedelta(seconds=2)  # honours retry_after
        assert await d.run_once() == 0  # not before the peer's pause is over
        clock.set(clock.now() + timedelta(seconds=2))
    assert await d.run_once() == 1
    assert (await fresh(row)).status is MessageStatus.SUBMITTED
    assert not await OutboundMessage.exists(failover_of_id=row.id)


async def sent_row(clock) -> OutboundMessage:
    (row,) = await queue(clock, await make_people(1), only="sms")
    await dispatcher(clock, ScriptedChannel("sms", [SendResult.sent("p1", "p2")])).run_once()
    return await fresh(row)


async def test_a_failed_receipt_after_delivered_changes_nothing(db, clock) -> None:
    """Issue 8 item 13: `failed` after `delivered` used to move the row back and fail it
    over, so the person got a second copy. Receipts never regress a final state."""
    row = await sent_row(clock)
    await apply_receipt(Receipt("sms", "p1", "delivered"), clock.now())
    await apply_receipt(Receipt("sms", "p1", "failed", "late"), clock.now())
    await apply_receipt(Receipt("sms", "p2", "expired"), clock.now())
    assert (await fresh(row)).status is MessageStatus.DELIVERED
    assert not await OutboundMessage.exists(failover_of_id=row.id)
    assert (await history(row))[-3:] == ["delivered", "failed", "expired"]  # kept as history


async def test_a_delivered_receipt_after_failed_does_not_undo_the_failover(db, clock) -> None:
    """Issue 8 item 13: the first final receipt wins either way; the failover stays one."""
    row = await sent_row(clock)
    await apply_receipt(Receipt("sms", "p1", "failed"), clock.now())
    await apply_receipt(Receipt("sms", "p1", "failed"), clock.now())
    await apply_receipt(Receipt("sms", "p2", "delivered"), clock.now())
    assert (await fresh(row)).status is MessageStatus.FAILED
    assert await OutboundMessage.filter(failover_of_id=row.id).count() == 1


async def test_a_receipt_that_arrives_before_the_outcome_is_committed_still_matches(db, clock):
    """Outcomes are committed in batches: a fast SMSC's receipt may arrive first. It waits
    for the provider id to be written instead of matching no message."""
    (row,) = await queue(clock, await make_people(1), only="sms")
    receipts = []

    def sent_and_reported(message):
        receipt = Receipt("sms", "fast-1", "delivered")
        receipts.append(asyncio.create_task(apply_receipt(receipt, clock.now())))
        return SendResult.sent("fast-1")

    await dispatcher(clock, ScriptedChannel("sms", [sent_and_reported])).run_once()
    await asyncio.gather(*receipts)
    assert (await fresh(row)).status is MessageStatus.DELIVERED
