"""Issue 10, inbound at scale: the reply worker files the plain receipts and progress reports
of many senders together (`replies.batch`, `workflow.feedback.file_feedbacks`). A batch
must leave exactly what processing the same messages one by one leaves, cost the same few
statements whatever its size, and a bad message in it must fail only itself."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from tortoise import Tortoise
from tortoise.transactions import in_transaction

import replies.batch
from dispatch.channel import InboundText
from dispatch.wakeup import is_postgres
from models import ClockAction, Feedback, InboundMessage, Matter, Node, ShortNumber
from replies.inbound import Inbox
from replies.store import Status
from scheduler.clock import SHANGHAI, VirtualClock
from tests.conftest import truncate_all
from tests.dispatch.support import pg_dsn
from tests.inbound.conftest import (
    OPERATOR,
    OPERATOR_B,
    OTHER_UNIT,
    STRANGER,
    SUPERVISOR,
    build_org,
    new_matter,
)
from tests.statements import counted
from workflow.bulk import plain_values
from workflow.context import Context

# (channel, sender, text): a plain mix of what a batch files together and what it leaves
# to be processed alone, among them two senders on one matter and one person on two channels.
MESSAGES = [
    ("sms", OPERATOR, "D1 收到"),  # filed in the batch
    ("sms", OPERATOR_B, "D1 进展 已安排人员"),  # the same matter as the one before: alone
    ("sms", OTHER_UNIT, "D3 收到"),  # filed in the batch
    ("telegram", "1001", "D2 进展 已清理两处"),  # 李一 again, on the messenger: in the batch
    ("sms", STRANGER, "D1 收到"),  # unknown sender
    ("sms", SUPERVISOR, "帮助"),
    ("sms", OTHER_UNIT, "D3 进展 已开工"),  # the same sender's second: the next batch
    ("sms", OPERATOR_B, "D2 收到。进展：已派人"),  # two feedbacks: alone
    ("sms", OTHER_UNIT, "D1 进展 不是我们的"),  # another unit's matter: refused
    ("sms", OPERATOR_B, "asdf"),  # garbled
    ("sms", OPERATOR, "2 进展 按短号"),  # a short number
    ("sms", OPERATOR_B, "D4 进展 第一次"),  # late: its 1d node has passed
]


START = datetime(2026, 11, 21, 9, 0, tzinfo=SHANGHAI)


async def setup() -> Inbox:
    """On a clock of its own: the organisation, four matters (D4 registered two days
    before the others), every message stored and waiting."""
    ctx = Context(clock=VirtualClock(START))
    await build_org()
    await new_matter(ctx, "D4")
    ctx.clock.set(START + timedelta(days=2))
    await new_matter(ctx, "D1")
    await new_matter(ctx, "D2")
    await new_matter(ctx, "D3", lead="roads")
    inbox = Inbox(ctx, later=True)
    for number, (channel, sender, text) in enumerate(MESSAGES):
        address = f"+86{sender}" if channel == "sms" else sender
        await inbox.inbound(InboundText(channel, address, text, f"up-{number}", {}))
    return inbox


async def snapshot() -> dict[str, list]:
    """What processing left, free of row order (ids are alike: each run starts afresh)."""
    connection = Tortoise.get_connection("default")
    queries = {
        "inbound": "SELECT i.id, i.status, i.outcome, p.name, m.code FROM inbound_message i "
                   "LEFT JOIN person p ON p.id = i.person_id "
                   "LEFT JOIN matter m ON m.id = i.matter_id",
        "feedback": "SELECT m.code, p.name, f.channel, f.ack_only, f.text, f.at, f.node_key, "
                    "f.late FROM feedback f JOIN matter m ON m.id = f.matter_id "
                    "JOIN person p ON p.id = f.person_id",
        "audit": "SELECT m.code, a.actor_label, a.channel, a.action, a.before, a.after, "
                 "a.detail, a.at FROM audit_entry a LEFT JOIN matter m ON m.id = a.matter_id",
        "scores": "SELECT unit_id, matter_id, delta, reason, at FROM score_event",
        "matters": "SELECT code, state, next_action_at FROM matter",
        "nodes": "SELECT matter_id, key, due_at, satisfied_at FROM node",
        "numbers": "SELECT person_id, matter_id, number, released_at FROM short_number",
        "outbound": "SELECT matter_id, person_id, kind, channel, address, context, due_at, "
                    "dedup_key, status FROM outbound_message",
        "clock": "SELECT matter_id, key, kind, due_at, done_at FROM clock_action",
    }
    found = {}
    for name, sql in queries.items():
        rows = await connection.execute_query_dict(sql)
        found[name] = sorted(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)
                             for row in rows)
    return found


async def test_issue10_a_batch_leaves_what_one_by_one_leaves(db):
    """The messages processed in batches, then again from scratch one by one in arrival
    order: every row either way the same (outcomes, feedback, moves, scores, nodes, short
    numbers, answers, forwards, clock actions)."""
    inbox = await setup()
    with counted() as batched:
        while await inbox.drain_batch(50):
            pass
    in_batches = await snapshot()

    await truncate_all()
    inbox = await setup()
    with counted() as alone:
        for row in await InboundMessage.all().order_by("id"):
            assert await inbox.process_next(row.channel, row.sender)
    one_by_one = await snapshot()

    for table in in_batches:
        assert in_batches[table] == one_by_one[table], table
    outcomes = [json.loads(r)["outcome"] for r in in_batches["inbound"]]
    assert "acknowledge D1" in outcomes and "progress D4" in outcomes  # the cases happened
    assert any(json.loads(r)["late"] for r in in_batches["feedback"])
    assert len(batched.statements) < len(alone.statements)


async def test_issue10_a_batch_costs_the_same_statements_whatever_its_size(db, ctx):
    """Progress reports of 4 senders and of 40 (one matter each): the batch's statements do
    not grow with it — it is set-based, not a loop of single messages."""
    await build_org()
    costs = []
    for senders in (4, 40):
        inbox = await many_senders(ctx, senders)
        with counted() as batch:
            assert await inbox.drain_batch(50) == senders
        costs.append(len(batch.statements))
        assert await InboundMessage.filter(status=Status.DONE).count() == senders
        await truncate_all()
        await build_org()
    assert costs[1] <= costs[0] + 2, costs  # allow a chunk boundary, nothing a message


async def many_senders(ctx, senders: int) -> Inbox:
    """`senders` operators of their own units, each with one matter, each reporting."""
    from models import Person, Role, Unit

    inbox = Inbox(ctx, later=True)
    for n in range(senders):
        unit = await Unit.create(key=f"u{n}", name=f"单位{n}")
        await Person.create(unit=unit, name=f"人{n}", role=Role.OPERATOR_A,
                            phone=f"+8613500{n:06d}")
        await new_matter(ctx, f"D{100 + n}", lead=f"u{n}")
    for n in range(senders):
        await inbox.inbound(InboundText("sms", f"+8613500{n:06d}", f"D{100 + n} 进展 已办理",
                                        f"many-{n}", {}))
    return inbox


async def test_issue10_a_message_that_breaks_the_batch_fails_alone(db, monkeypatch):
    """One receipt whose filing raises: the batch rolls back, its senders are processed
    one by one, and only that message ends `error` (its sender told to resend); the rest
    are done and answered."""
    inbox = await setup()
    real = replies.batch.quick_one

    def breaks_on_d3(row, person, mine, ctx):
        if row.text == "D3 收到":
            raise RuntimeError("bad message")
        return real(row, person, mine, ctx)

    monkeypatch.setattr(replies.batch, "quick_one", breaks_on_d3)
    while await inbox.drain_batch(50):
        pass
    rows = {r.provider_message_id: r for r in await InboundMessage.all()}  # up-<index>
    assert (rows["up-2"].status, rows["up-2"].outcome) == (Status.ERROR, "internal RuntimeError")
    assert rows["up-0"].outcome == "acknowledge D1"
    assert rows["up-6"].outcome == "progress D3"  # the broken one's sender, next message
    assert not await InboundMessage.filter(status=Status.RECEIVED).exists()


async def test_issue10_a_batch_leaves_a_sender_another_worker_is_on(db):
    """PostgreSQL: while another instance holds a sender's advisory lock (it is processing
    their previous message), a batch takes every other sender's message and not theirs;
    once it lets go, the next batch takes it."""
    if not is_postgres():
        pytest.skip("advisory locks: PostgreSQL only")
    import asyncpg

    await setup()
    first = {r.sender: r for r in reversed(await InboundMessage.all().order_by("id"))}
    busy = first[f"+86{OPERATOR}"]
    other = await asyncpg.connect(pg_dsn(db), timeout=10)
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                                replies.batch.sender_key(busy.channel, busy.sender))
            async with in_transaction():
                claimed = await asyncio.wait_for(replies.batch.claim_batch(50), timeout=10)
    finally:
        await other.close()
    assert busy.id not in [r.id for r in claimed]
    assert sorted(r.id for r in claimed) == sorted(
        r.id for s, r in first.items() if s != busy.sender)
    async with in_transaction():
        assert busy.id in [r.id for r in await replies.batch.claim_batch(50)]


async def test_issue10_a_second_worker_takes_the_next_senders_not_none(db):
    """PostgreSQL, two instances: while one batch holds the longest-waiting senders, a
    batch of another worker takes the senders after them (not an empty batch), and holds
    no sender beyond those it claimed."""
    if not is_postgres():
        pytest.skip("advisory locks: PostgreSQL only")
    import asyncpg

    await build_org()
    await many_senders(Context(clock=VirtualClock(START)), 6)
    waiting = await InboundMessage.all().order_by("id")
    other = await asyncpg.connect(pg_dsn(db), timeout=10)
    try:
        async with other.transaction():
            for row in waiting[:2]:  # the first worker's batch of two
                await other.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                                    replies.batch.sender_key(row.channel, row.sender))
            async with in_transaction():
                claimed = await asyncio.wait_for(replies.batch.claim_batch(2), timeout=10)
                held = await other.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid <> pg_backend_pid() AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())")
    finally:
        await other.close()
    assert [r.id for r in claimed] == [r.id for r in waiting[2:4]]
    assert held == 2  # senders 3 and 4; 5 and 6 were never tried


async def test_issue10_plain_values_are_the_values_the_orm_reads(db):
    """`plain_values` (the batch's reads on PostgreSQL, skipping the ORM's conversion):
    every value it returns, for each kind of column the batch reads — ids, text, booleans,
    instants, empty instants, an empty outer join — equals what the ORM returns."""
    inbox = await setup()
    while await inbox.drain_batch(50):
        pass
    await Matter.filter(code="D2").update(closed_at=START)
    queries = [
        Feedback.all().order_by("at", "id").values_list(
            "matter_id", "at", "ack_only", "returned_at", "late", "node_key"),
        Node.all().order_by("id").values_list("id", "matter_id", "key", "due_at",
                                              "satisfied_at"),
        Matter.all().order_by("assigned_at", "id").values_list(
            "id", "code", "lead_id", "cooperating__id", "closed_at"),
        ShortNumber.all().order_by("id").values_list("person_id", "matter_id", "number",
                                                     "released_at"),
        ClockAction.all().order_by("id").values_list("matter_id", "key"),
    ]
    for query in queries:
        through_orm = await query
        plain = await plain_values(query)
        assert through_orm and plain == through_orm
        assert [[type(v) for v in row] for row in plain] == [
            [type(v) for v in row] for row in through_orm]
