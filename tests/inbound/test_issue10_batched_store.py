"""Issue 10 "inbound at scale": under `duban serve` the replies that arrive together are stored
raw by one INSERT (replies.store, a group commit) and the reply workers are woken once for
them; every reply is still its own row, in arrival order, and a provider's resend is stored
once whether it comes in the same batch or later."""

from __future__ import annotations

import asyncio

from dispatch.channel import InboundText
from dispatch.wakeup import Wakeup
from models import InboundMessage
from replies.inbound import INBOUND_TOPIC, Inbox, Status
from replies.store import store, store_many
from tests.inbound.conftest import OPERATOR, OPERATOR_B
from tests.statements import counted


def reply(number: int, provider_id: str | None = None, sender: str = OPERATOR) -> InboundText:
    return InboundText("sms", sender, f"D1 进展 第{number}项", provider_id,
                       {"sequence_id": number, "note": "含\x00空字符"})


def inserts(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("INSERT INTO INBOUND")]


async def test_issue10_replies_arriving_together_are_stored_by_one_insert(org, ctx):
    inbox, wake = Inbox(ctx, later=True), Wakeup(INBOUND_TOPIC)
    wake.start()
    try:
        messages = [reply(n, f"up-{n}", (OPERATOR, OPERATOR_B)[n % 2]) for n in range(30)]
        with counted() as counter:
            await asyncio.gather(*(inbox.inbound(m) for m in messages))
        assert len(inserts(counter.statements)) == 1, counter.statements
        assert len([s for s in counter.statements if "pg_notify" in s]) <= 1  # one wake-up
        assert wake.event.is_set()
    finally:
        await wake.stop()
    rows = await InboundMessage.all().order_by("id")
    assert [(r.sender, r.text) for r in rows] == [(m.sender, m.text) for m in messages]
    assert {r.status for r in rows} == {Status.RECEIVED}
    assert rows[3].provider_message_id == "up-3"
    assert rows[3].raw_data == {"sequence_id": 3, "note": "含空字符"}  # no NUL in storage


async def test_issue10_a_resend_is_stored_once_in_the_same_batch_or_later(org, ctx):
    same = reply(1, "up-1")
    twice = reply(2)  # no provider id: the same text sent twice is two messages
    stored = await store_many([same, twice, same, twice], ctx.clock.now())
    rows = await InboundMessage.all().order_by("id")
    assert [(r.provider_message_id, r.text) for r in rows] == [
        ("up-1", same.text), (None, twice.text), (None, twice.text)]
    assert [row.id if row else None for row in stored] == [rows[0].id, rows[1].id, rows[0].id,
                                                           rows[2].id]
    # Still waiting to be processed, a resend gives the row back (it completes it) ...
    assert (await store(same, ctx.clock.now())).id == rows[0].id
    # ... once handled, a resend changes nothing and wakes nobody.
    await InboundMessage.filter(id=rows[0].id).update(status=Status.DONE)
    fresh = reply(3, "up-3")
    assert [row and row.text for row in await store_many([same, fresh], ctx.clock.now())] == [
        None, fresh.text]
    assert await InboundMessage.all().count() == 4


async def test_issue10_a_batch_of_handled_resends_wakes_no_worker(org, ctx):
    await InboundMessage.create(channel="sms", sender=OPERATOR, text="D1 收到",
                                provider_message_id="up-9", raw_data={},
                                received_at=ctx.clock.now(), status=Status.DONE)
    inbox, wake = Inbox(ctx, later=True), Wakeup(INBOUND_TOPIC)
    wake.start()
    try:
        await inbox.inbound(InboundText("sms", OPERATOR, "D1 收到", "up-9"))
        assert not wake.event.is_set()
    finally:
        await wake.stop()
    assert await InboundMessage.all().count() == 1


async def test_issue10_a_non_finite_number_in_raw_data_is_kept_as_text(org, ctx):
    odd = InboundText("sms", OPERATOR, "D1 收到", "up-nan",
                      {"a": float("nan"), "b": [float("inf")], "c": 1.5})
    row, _ = await store_many([odd, reply(1)], ctx.clock.now())
    stored = await InboundMessage.get(id=row.id)
    assert stored.raw_data == {"a": "nan", "b": ["inf"], "c": 1.5}


async def test_issue10_a_failed_wake_up_neither_fails_the_webhook_nor_stores_twice(
        org, ctx, monkeypatch, caplog):
    async def broken(topic: str) -> None:
        raise ConnectionError("the database went away after the INSERT")

    monkeypatch.setattr("replies.inbound.announce", broken)
    inbox = Inbox(ctx, later=True)
    await asyncio.gather(inbox.inbound(reply(1)), inbox.inbound(reply(2)))  # no provider ids
    assert await InboundMessage.all().count() == 2  # the worker's poll finds them
    assert "poll finds the stored replies" in caplog.text
