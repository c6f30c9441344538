"""The dispatcher: send, retry with backoff, fail over once, never resend an unknown
outcome, recover sends a crash interrupted. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from dispatch.dispatcher import MAX_ATTEMPTS, Dispatcher
from dispatch.outbox import claim_due, enqueue, record
from dispatch.ratelimit import Limit, RateLimiter
from dispatch.render import Renderer
from models import MessageEvent, MessageStatus, OutboundMessage, Person, ProviderId
from tests.dispatch.support import (
    ScriptedChannel,
    history,
    make_people,
    ok,
    permanent,
    remind_context,
    retryable,
    unknown,
)

LEASE = timedelta(seconds=60)
SIGNATURE = "【督办】"


def dispatcher(clock, *channels: ScriptedChannel, worker: str = "w1",
               lease: timedelta = LEASE) -> Dispatcher:
    return Dispatcher({c.name: c for c in channels}, Renderer(SIGNATURE), clock, worker=worker,
                      lease=lease)


async def queue(clock, people: list[Person], *, only: str | None = None, kind: str = "remind"
                ) -> list[OutboundMessage]:
    rows = []
    for i, person in enumerate(people):
        rows += await enqueue(kind=kind, people=[person], context=remind_context(i),
                              due_at=clock.now(), now=clock.now(), only_channel=only)
    return rows


async def fresh(row: OutboundMessage) -> OutboundMessage:
    return await OutboundMessage.get(id=row.id)


async def test_a_sent_row_is_submitted_with_its_whole_history(db, clock) -> None:
    sms, telegram = ScriptedChannel("sms"), ScriptedChannel("telegram")
    (person,) = await make_people(1)
    sms_row, tg_row = await queue(clock, [person])
    assert await dispatcher(clock, sms, telegram).run_once() == 2
    for row, channel in ((sms_row, sms), (tg_row, telegram)):
        row = await fresh(row)
        assert row.status is MessageStatus.SUBMITTED
        assert row.attempts == 1 and row.sent_at == clock.now()
        assert row.provider_ids == [f"{channel.name}-{row.id}-1"]
        assert await ProviderId.filter(message_id=row.id).count() == 1
        assert await history(row) == ["pending", "sending", "submitted"]
        (message,) = channel.sent
        assert (message.message_id, message.to, message.kind, message.matter_code) == (
            row.id, row.address, "remind", "DB0000")
        assert message.text == row.text
    assert sms.sent[0].text.startswith(SIGNATURE) and "DB0000" in sms.sent[0].text
    assert not telegram.sent[0].text.startswith(SIGNATURE)


async def test_history_has_no_claimed_step_and_no_gaps(db, clock) -> None:
    """The claim is a bare update; every status the row takes afterwards is an event."""
    sms = ScriptedChannel("sms", [retryable()])
    people = await make_people(1, telegram=False)
    (row,) = await queue(clock, people)
    await claim_due(clock.now(), "w1", LEASE)
    assert await history(row) == ["pending"]
    await dispatcher(clock, sms).deliver(await fresh(row))
    assert await history(row) == ["pending", "sending", "pending"]
    events = await MessageEvent.filter(message_id=row.id).order_by("id")
    assert all(e.at == clock.now() for e in events)
    assert events[-1].detail == "busy"


async def test_drain_sends_every_due_row_in_batches(db, clock) -> None:
    sms = ScriptedChannel("sms")
    rows = await queue(clock, await make_people(120, telegram=False))
    assert await dispatcher(clock, sms).drain() == 120
    assert sorted(sms.ids()) == sorted(r.id for r in rows)
    assert await OutboundMessage.filter(status=MessageStatus.SUBMITTED).count() == 120


async def test_retryable_reschedules_with_exponential_backoff(db, clock) -> None:
    sms = ScriptedChannel("sms", [retryable()])
    (row,) = await queue(clock, await make_people(1, telegram=False))
    d = dispatcher(clock, sms)
    start = clock.now()
    await d.run_once()
    row = await fresh(row)
    assert (row.status, row.attempts, row.due_at) == (
        MessageStatus.PENDING, 1, start + timedelta(seconds=30))
    assert await d.run_once() == 0  # not due yet
    clock.set(start + timedelta(seconds=30))
    await d.run_once()
    row = await fresh(row)
    assert (row.attempts, row.due_at) == (2, clock.now() + timedelta(seconds=60))
    assert len(sms.sent) == 2


def test_backoff_doubles_up_to_an_hour_and_obeys_retry_after() -> None:
    assert [Dispatcher.backoff(n, None).total_seconds() for n in (1, 2, 3, 4)] == [
        30, 60, 120, 240]
    assert Dispatcher.backoff(12, None) == timedelta(hours=1)
    assert Dispatcher.backoff(3, 7.5) == timedelta(seconds=7.5)
    assert Dispatcher.backoff(3, 0) == timedelta(0)


async def test_retry_after_from_the_peer_wins_over_the_backoff(db, clock) -> None:
    sms = ScriptedChannel("sms", [retryable("throttled", retry_after=7), ok])
    (row,) = await queue(clock, await make_people(1, telegram=False))
    d = dispatcher(clock, sms)
    await d.run_once()
    assert (await fresh(row)).due_at == clock.now() + timedelta(seconds=7)
    clock.set(clock.now() + timedelta(seconds=7))
    await d.run_once()
    assert (await fresh(row)).status is MessageStatus.SUBMITTED
    assert await history(row) == ["pending", "sending", "pending", "sending", "submitted"]


async def test_after_max_attempts_a_retryable_failure_fails(db, clock) -> None:
    sms = ScriptedChannel("sms", [retryable()])
    (row,) = await queue(clock, await make_people(1, telegram=False))
    d = dispatcher(clock, sms)
    for _ in range(MAX_ATTEMPTS + 3):
        await d.run_once()
        row = await fresh(row)
        if row.status is not MessageStatus.PENDING:
            break
        clock.set(row.due_at)
    assert row.status is MessageStatus.FAILED
    assert row.attempts == MAX_ATTEMPTS == len(sms.sent)
    assert await history(row) == (["pending"] + ["sending", "pending"] * (MAX_ATTEMPTS - 1)
                                  + ["sending", "failed"])
    assert await OutboundMessage.all().count() == 1  # no other channel: no failover


async def test_exhausted_retries_fail_over_to_the_other_channel(db, clock) -> None:
    sms, telegram = ScriptedChannel("sms", [retryable(retry_after=0)]), ScriptedChannel("telegram")
    (row,) = await queue(clock, await make_people(1), only="sms")
    await dispatcher(clock, sms, telegram).drain()
    assert (await fresh(row)).status is MessageStatus.FAILED
    (other,) = await OutboundMessage.filter(failover_of_id=row.id)
    assert other.status is MessageStatus.SUBMITTED and telegram.ids() == [other.id]


async def test_a_permanent_failure_fails_over_to_the_other_channel_once(db, clock) -> None:
    sms = ScriptedChannel("sms", [permanent()])
    telegram = ScriptedChannel("telegram")
    (person,) = await make_people(1)
    (row,) = await queue(clock, [person], only="sms")
    d = dispatcher(clock, sms, telegram)
    await d.run_once()
    row = await fresh(row)
    assert (row.status, row.error) == (MessageStatus.FAILED, "no such number")
    assert await history(row) == ["pending", "sending", "failed"]
    (other,) = await OutboundMessage.filter(failover_of_id=row.id)
    assert (other.channel, other.address, other.person_id, other.kind) == (
        "telegram", str(person.telegram_chat_id), person.id, "remind")
    assert other.context == row.context | {"channel": "telegram"}
    assert other.status is MessageStatus.PENDING and other.due_at == clock.now()
    await d.drain()
    assert telegram.ids() == [other.id]
    assert (await fresh(other)).status is MessageStatus.SUBMITTED
    assert await OutboundMessage.all().count() == 2


async def test_a_failed_failover_does_not_fail_over_again(db, clock) -> None:
    sms, telegram = ScriptedChannel("sms", [permanent()]), ScriptedChannel("telegram",
                                                                          [permanent()])
    (row,) = await queue(clock, await make_people(1), only="telegram")
    await dispatcher(clock, sms, telegram).drain()
    rows = await OutboundMessage.all().order_by("id")
    assert [(r.channel, r.status, r.failover_of_id) for r in rows] == [
        ("telegram", MessageStatus.FAILED, None), ("sms", MessageStatus.FAILED, row.id)]
    assert len(sms.sent) == len(telegram.sent) == 1


async def test_no_failover_when_the_person_has_no_other_channel(db, clock) -> None:
    sms = ScriptedChannel("sms", [permanent()])
    telegram = ScriptedChannel("telegram", [permanent()])
    (sms_row,) = await queue(clock, await make_people(1, telegram=False))
    (tg_row,) = await queue(clock, await make_people(1, phone=False))
    await dispatcher(clock, sms, telegram).drain()
    assert await OutboundMessage.all().count() == 2
    for row in (sms_row, tg_row):
        assert (await fresh(row)).status is MessageStatus.FAILED


async def test_no_failover_for_a_row_of_no_person(db, clock) -> None:
    from dispatch.outbox import create_row

    sms = ScriptedChannel("sms", [permanent()])
    row = await create_row(kind="remind", channel="sms", address="+8613800000000",
                           context=remind_context(1) | {"channel": "sms"},
                           due_at=clock.now(), now=clock.now())
    await dispatcher(clock, sms, ScriptedChannel("telegram")).drain()
    assert (await fresh(row)).status is MessageStatus.FAILED
    assert await OutboundMessage.all().count() == 1


async def test_a_channel_that_is_not_configured_fails_over(db, clock) -> None:
    sms = ScriptedChannel("sms")
    (row,) = await queue(clock, await make_people(1), only="telegram")
    await dispatcher(clock, sms).drain()
    row = await fresh(row)
    assert (row.status, row.error) == (MessageStatus.FAILED, "no telegram channel is configured")
    (other,) = await OutboundMessage.filter(failover_of_id=row.id)
    assert other.status is MessageStatus.SUBMITTED and sms.ids() == [other.id]


async def test_an_unknown_outcome_is_flagged_and_never_resent(db, clock) -> None:
    sms = ScriptedChannel("sms", [unknown()])
    (row,) = await queue(clock, await make_people(1, telegram=False))
    d = dispatcher(clock, sms)
    await d.run_once()
    clock.set(clock.now() + timedelta(days=2))
    assert await d.drain() == 0
    other = dispatcher(clock, ScriptedChannel("sms", idempotent=True), worker="w2")
    assert await other.drain() == 0
    row = await fresh(row)
    assert (row.status, row.error) == (MessageStatus.UNKNOWN, "timed out after submit")
    assert len(sms.sent) == 1
    assert await history(row) == ["pending", "sending", "unknown"]
    assert await OutboundMessage.all().count() == 1  # no failover either


async def test_a_channel_that_raises_does_not_stop_the_dispatcher(db, clock, caplog) -> None:
    sms = ScriptedChannel("sms", [RuntimeError("driver bug"), ok])
    rows = await queue(clock, await make_people(3, telegram=False))
    with caplog.at_level(logging.ERROR, "duban.dispatch"):
        assert await dispatcher(clock, sms).run_once() == 3
    statuses = [(await fresh(r)).status for r in rows]
    assert statuses == [MessageStatus.UNKNOWN, MessageStatus.SUBMITTED, MessageStatus.SUBMITTED]
    assert "driver bug" in (await fresh(rows[0])).error
    assert "channel sms raised" in caplog.text


async def test_a_row_that_cannot_be_rendered_fails_and_the_batch_goes_on(db, clock) -> None:
    sms = ScriptedChannel("sms")
    bad, *good = await queue(clock, await make_people(3, telegram=False), kind="no_such_kind")
    for row in good:
        await record(row, MessageStatus.PENDING, clock.now(), kind="remind")
    d = dispatcher(clock, sms)
    assert await d.run_once() == 3
    assert sms.ids() == [r.id for r in good]
    bad = await fresh(bad)
    assert bad.status is MessageStatus.FAILED and "no_such_kind" in bad.error
    clock.set(clock.now() + 2 * LEASE)
    assert await d.drain() == 0


async def crash_while_sending(clock, worker: str = "dead") -> OutboundMessage:
    """A row a dispatcher marked `sending` before its process died."""
    (row,) = await claim_due(clock.now(), worker, LEASE)
    await record(row, MessageStatus.SENDING, clock.now(), text="已发送", attempts=1)
    return row


async def test_an_interrupted_send_is_resent_through_an_idempotent_channel(db, clock) -> None:
    (row,) = await queue(clock, await make_people(1, telegram=False))
    await crash_while_sending(clock)
    sms = ScriptedChannel("sms", idempotent=True)
    d = dispatcher(clock, sms, worker="w2")
    assert await d.run_once() == 0  # the lease still runs
    assert (await fresh(row)).status is MessageStatus.SENDING
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    assert await d.run_once() == 1
    row = await fresh(row)
    assert (row.status, row.attempts, row.claimed_by) == (MessageStatus.SUBMITTED, 2, "w2")
    assert sms.ids() == [row.id]
    assert await history(row) == ["pending", "sending", "pending", "sending", "submitted"]


async def test_an_interrupted_send_is_marked_unknown_otherwise(db, clock, caplog) -> None:
    (row,) = await queue(clock, await make_people(1, telegram=False))
    await crash_while_sending(clock)
    sms = ScriptedChannel("sms")
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, "duban.dispatch"):
        await dispatcher(clock, sms, worker="w2").drain()
    assert (await fresh(row)).status is MessageStatus.UNKNOWN
    assert sms.sent == []
    assert await history(row) == ["pending", "sending", "unknown"]
    assert "outcome unknown" in caplog.text


async def test_an_unconfigured_channel_also_means_unknown_after_a_crash(db, clock) -> None:
    (row,) = await queue(clock, await make_people(1, telegram=False))
    await crash_while_sending(clock)
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    await dispatcher(clock, ScriptedChannel("telegram", idempotent=True)).recover_stale()
    assert (await fresh(row)).status is MessageStatus.UNKNOWN


async def test_a_claim_of_a_dead_worker_is_sent_once_after_its_lease(db, clock) -> None:
    rows = await queue(clock, await make_people(3, telegram=False))
    await claim_due(clock.now(), "dead", LEASE)
    sms = ScriptedChannel("sms")
    d = dispatcher(clock, sms, worker="w2")
    assert await d.run_once() == 0
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    assert await d.drain() == 3
    assert sms.ids() == [r.id for r in rows]
    for row in rows:
        assert await history(row) == ["pending", "sending", "submitted"]


async def test_a_worker_whose_claim_expired_does_not_send_it(db, clock) -> None:
    """A slow dispatcher that outlived its lease must leave the row to the one that took it."""
    (row,) = await queue(clock, await make_people(1, telegram=False))
    slow_channel, fast_channel = ScriptedChannel("sms"), ScriptedChannel("sms")
    slow = dispatcher(clock, slow_channel, worker="slow")
    (held,) = await claim_due(clock.now(), "slow", LEASE)
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    assert await dispatcher(clock, fast_channel, worker="fast").run_once() == 1
    await slow.deliver(held)
    assert fast_channel.ids() == [row.id] and slow_channel.sent == []
    assert await history(row) == ["pending", "sending", "submitted"]
    assert (await fresh(row)).claimed_by == "fast"


async def test_a_claim_taken_again_under_the_same_worker_name_is_sent_once(db, clock) -> None:
    """Two ticks of one instance (or two instances misconfigured with one name)."""
    (row,) = await queue(clock, await make_people(1, telegram=False))
    first, second = ScriptedChannel("sms"), ScriptedChannel("sms")
    (held,) = await claim_due(clock.now(), "same", LEASE)
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    assert await dispatcher(clock, second, worker="same").run_once() == 1
    await dispatcher(clock, first, worker="same").deliver(held)
    assert second.ids() == [row.id] and first.sent == []
    assert await history(row) == ["pending", "sending", "submitted"]


async def test_a_rate_limited_worker_whose_claim_expired_does_not_reschedule(db, clock) -> None:
    """Putting the row back to `pending` would have it sent a second time."""
    (row,) = await queue(clock, await make_people(1, telegram=False))
    (held,) = await claim_due(clock.now(), "slow", LEASE)
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    fast = ScriptedChannel("sms")
    assert await dispatcher(clock, fast, worker="fast").run_once() == 1
    slow = dispatcher(clock, ScriptedChannel("sms"), worker="slow")
    slow.limits = {"sms": RateLimiter(per_number=[Limit(4, 60.0)])}
    slow.limits["sms"].take(row.address, clock.now().timestamp(), 4)  # its bucket is empty
    await slow.deliver(held)
    assert await history(row) == ["pending", "sending", "submitted"]
    assert (await fresh(row)).status is MessageStatus.SUBMITTED
    clock.set(clock.now() + timedelta(hours=1))
    assert await dispatcher(clock, fast, worker="fast").drain() == 0
    assert fast.ids() == [row.id]


async def test_a_late_claim_holder_still_sends_when_nobody_took_the_row(db, clock) -> None:
    (row,) = await queue(clock, await make_people(1, telegram=False))
    sms = ScriptedChannel("sms")
    (held,) = await claim_due(clock.now(), "slow", LEASE)
    clock.set(clock.now() + LEASE + timedelta(seconds=1))
    await dispatcher(clock, sms, worker="slow").deliver(held)
    assert sms.ids() == [row.id]
    assert (await fresh(row)).status is MessageStatus.SUBMITTED


async def test_a_send_in_flight_is_not_recovered_by_another_instance(db, clock) -> None:
    """The lease of a send runs from when it started, not from the claim of its batch."""
    (row,) = await queue(clock, await make_people(1, telegram=False))
    other = dispatcher(clock, ScriptedChannel("sms", idempotent=True), worker="other")

    async def slow_send(message):
        clock.set(clock.now() + timedelta(seconds=20))  # the provider takes its time
        await other.recover_stale()  # meanwhile another instance ticks
        return ok(message)

    sms = ScriptedChannel("sms", [slow_send], idempotent=True)
    d = dispatcher(clock, sms)
    (held,) = await claim_due(clock.now(), "w1", LEASE)
    clock.set(clock.now() + timedelta(seconds=50))  # late in the batch
    await d.deliver(held)
    assert await history(row) == ["pending", "sending", "submitted"]
    assert other.channels["sms"].sent == []


async def test_two_instances_recovering_at_once_act_once(db, clock) -> None:
    for idempotent, after in ((True, "pending"), (False, "unknown")):
        await OutboundMessage.all().delete()
        (row,) = await queue(clock, await make_people(1, telegram=False))
        await crash_while_sending(clock)
        clock.set(clock.now() + LEASE + timedelta(seconds=1))
        a, b = (dispatcher(clock, ScriptedChannel("sms", idempotent=idempotent), worker=w)
                for w in ("a", "b"))
        await asyncio.gather(a.recover_stale(), b.recover_stale())
        assert await history(row) == ["pending", "sending", after], idempotent


async def test_rows_of_other_statuses_are_left_alone_by_recovery(db, clock) -> None:
    rows = await queue(clock, await make_people(3, telegram=False))
    for row, status in zip(rows, [MessageStatus.SUBMITTED, MessageStatus.UNKNOWN,
                                  MessageStatus.FAILED], strict=True):
        await record(row, status, clock.now(), claim_until=clock.now())
    clock.set(clock.now() + timedelta(days=1))
    sms = ScriptedChannel("sms", idempotent=True)
    assert await dispatcher(clock, sms).drain() == 0
    assert sms.sent == []
