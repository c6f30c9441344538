"""The outbox: rows are queued once, claimed by one dispatcher at a time, and come back when
a claim expires. Runs on SQLite and on PostgreSQL (DUBAN_TEST_DATABASE)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dispatch.outbox import (
    claim_due,
    create_row,
    enqueue,
    is_postgres,
    person_channels,
    record,
)
from models import MessageEvent, MessageStatus, OutboundMessage
from tests.dispatch.support import history, make_people, pg_dsn, remind_context

LEASE = timedelta(seconds=60)


async def queue(clock, count: int, *, due_in: timedelta = timedelta(0)) -> list[OutboundMessage]:
    people = await make_people(count, telegram=False)
    rows = []
    for i, person in enumerate(people):
        rows += await enqueue(kind="remind", people=[person], context=remind_context(i),
                              due_at=clock.now() + due_in, now=clock.now())
    return rows


async def test_enqueue_writes_one_pending_row_per_person_and_channel(db, clock) -> None:
    both, sms_only = await make_people(1) + await make_people(1, telegram=False, start=1)
    assert person_channels(both) == [("sms", both.phone), ("telegram", str(both.telegram_chat_id))]
    rows = await enqueue(kind="remind", people=[both, sms_only], context=remind_context(1),
                         due_at=clock.now(), now=clock.now(), dedup="m1:remind")
    assert [(r.person_id, r.channel) for r in rows] == [
        (both.id, "sms"), (both.id, "telegram"), (sms_only.id, "sms")]
    for row in rows:
        fresh = await OutboundMessage.get(id=row.id)
        assert fresh.status is MessageStatus.PENDING
        assert fresh.context["channel"] == row.channel
        assert fresh.context["person"] == (both.name if row.person_id == both.id
                                           else sms_only.name)
        assert await history(row) == ["pending"]


async def test_the_same_dedup_key_queues_nothing_twice(db, clock) -> None:
    people = await make_people(2)
    first = await enqueue(kind="remind", people=people, context={}, due_at=clock.now(),
                          now=clock.now(), dedup="m1:n1")
    again = await enqueue(kind="remind", people=people, context={}, due_at=clock.now(),
                          now=clock.now(), dedup="m1:n1")
    assert len(first) == 4 and again == []
    assert await OutboundMessage.all().count() == 4
    assert await MessageEvent.all().count() == 4  # no orphan history either


async def test_only_channel_limits_the_rows(db, clock) -> None:
    people = await make_people(2)
    rows = await enqueue(kind="remind", people=people, context={}, due_at=clock.now(),
                         now=clock.now(), only_channel="telegram")
    assert {r.channel for r in rows} == {"telegram"} and len(rows) == 2


async def test_create_row_without_dedup_key_always_creates(db, clock) -> None:
    for _ in range(2):
        assert await create_row(kind="remind", channel="sms", address="+8613800000000",
                                context={}, due_at=clock.now(), now=clock.now()) is not None
    assert await OutboundMessage.all().count() == 2


async def test_claim_takes_due_rows_only_oldest_first(db, clock) -> None:
    later = await queue(clock, 2, due_in=timedelta(minutes=5))
    now_rows = await queue(clock, 3)
    claimed = await claim_due(clock.now(), "w1", LEASE)
    assert [r.id for r in claimed] == [r.id for r in now_rows]
    for row in claimed:
        assert row.status is MessageStatus.CLAIMED
        assert row.claimed_by == "w1"
        assert row.claim_until == clock.now() + LEASE
    assert await claim_due(clock.now(), "w2", LEASE) == []
    for row in claimed:
        await record(row, MessageStatus.SUBMITTED, clock.now())
    clock.set(clock.now() + timedelta(minutes=5))
    assert [r.id for r in await claim_due(clock.now(), "w2", LEASE)] == [r.id for r in later]


async def test_claim_respects_the_limit(db, clock) -> None:
    rows = await queue(clock, 7)
    first = await claim_due(clock.now(), "w1", LEASE, limit=5)
    second = await claim_due(clock.now(), "w1", LEASE, limit=5)
    assert [r.id for r in first] == [r.id for r in rows[:5]]
    assert [r.id for r in second] == [r.id for r in rows[5:]]


async def test_concurrent_claims_never_share_a_row(db, clock) -> None:
    rows = await queue(clock, 120)
    workers = [f"w{i}" for i in range(6)]
    claimed: dict[str, list[int]] = {w: [] for w in workers}

    async def worker(name: str) -> None:
        while batch := await claim_due(clock.now(), name, LEASE, limit=7):
            claimed[name] += [r.id for r in batch]
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(w) for w in workers))
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) == len(rows)
    assert set(every) == {r.id for r in rows}
    owners = dict(await OutboundMessage.all().values_list("id", "claimed_by"))
    for name, ids in claimed.items():
        assert all(owners[i] == name for i in ids)


async def test_two_claims_at_the_same_instant_are_disjoint(db, clock) -> None:
    rows = await queue(clock, 40)
    a, b = await asyncio.gather(claim_due(clock.now(), "a", LEASE, limit=30),
                                claim_due(clock.now(), "b", LEASE, limit=30))
    ids_a, ids_b = {r.id for r in a}, {r.id for r in b}
    assert not ids_a & ids_b
    assert ids_a | ids_b == {r.id for r in rows}


async def test_an_expired_claim_returns_to_another_worker(db, clock) -> None:
    rows = await queue(clock, 2)
    await claim_due(clock.now(), "dead", LEASE)
    clock.set(clock.now() + LEASE)
    assert await claim_due(clock.now(), "alive", LEASE) == []  # not expired at the instant
    clock.set(clock.now() + timedelta(seconds=1))
    again = await claim_due(clock.now(), "alive", LEASE)
    assert [r.id for r in again] == [r.id for r in rows]
    assert all(r.claimed_by == "alive" for r in again)
    assert all(r.claim_until == clock.now() + LEASE for r in again)


async def test_rows_in_flight_or_done_are_never_claimed(db, clock) -> None:
    rows = await queue(clock, 5)
    for row, status in zip(rows, [MessageStatus.SENDING, MessageStatus.SUBMITTED,
                                  MessageStatus.FAILED, MessageStatus.UNKNOWN,
                                  MessageStatus.DELIVERED], strict=True):
        await record(row, status, clock.now(), claim_until=clock.now())
    clock.set(clock.now() + timedelta(days=1))
    assert await claim_due(clock.now(), "w", LEASE) == []


async def test_record_moves_the_row_and_appends_history(db, clock) -> None:
    (row,) = await queue(clock, 1)
    await record(row, MessageStatus.SENDING, clock.now(), "go", attempts=1, text="hi")
    fresh = await OutboundMessage.get(id=row.id)
    assert (fresh.status, fresh.attempts, fresh.text) == (MessageStatus.SENDING, 1, "hi")
    assert (row.status, row.attempts, row.text) == (MessageStatus.SENDING, 1, "hi")
    events = await MessageEvent.filter(message_id=row.id).order_by("id")
    assert [(e.status, e.detail) for e in events] == [("pending", ""), ("sending", "go")]


async def test_postgres_claims_skip_rows_another_transaction_holds(db, clock) -> None:
    """FOR UPDATE SKIP LOCKED: a claim neither waits for nor takes rows locked elsewhere."""
    if not is_postgres():
        pytest.skip("row locks: PostgreSQL only")
    import asyncpg

    rows = await queue(clock, 10)
    held = [r.id for r in rows[:4]]
    conn = await asyncpg.connect(pg_dsn(db), timeout=10)
    try:
        async with conn.transaction():
            await conn.execute("SELECT id FROM outbound_message WHERE id = ANY($1::int[]) "
                               "FOR UPDATE", held)
            claimed = await asyncio.wait_for(claim_due(clock.now(), "w", LEASE), timeout=10)
    finally:
        await conn.close()
    assert [r.id for r in claimed] == [r.id for r in rows[4:]]
    assert [r.id for r in await claim_due(clock.now(), "w", LEASE)] == held


async def test_enqueue_writes_many_rows_in_chunks_each_once(db, clock, monkeypatch) -> None:
    """Issue 10 "the clock in batches": rows are written a statement per chunk; a repeat of
    the same dedup key writes nothing twice."""
    from dispatch import outbox

    monkeypatch.setattr(outbox, "INSERT_CHUNK", 3)
    people = await make_people(4)  # 8 rows: chunks of 3, 3, 2
    rows = await enqueue(kind="remind", people=people, context=remind_context(1),
                         due_at=clock.now(), now=clock.now(), dedup="chunked")
    assert len(rows) == 8 and [r.id for r in rows] == sorted(r.id for r in rows)
    assert [await history(r) for r in rows] == [["pending"]] * 8
    again = await enqueue(kind="remind", people=people, context=remind_context(1),
                          due_at=clock.now(), now=clock.now(), dedup="chunked")
    assert again == [] and await OutboundMessage.all().count() == 8
