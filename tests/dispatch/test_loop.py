"""Issue 10: the dispatcher is its own loop, woken when rows are written (in process, and
across instances by PostgreSQL NOTIFY), sending concurrently up to each channel's window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from dispatch.dispatcher import Dispatcher
from dispatch.loop import DispatchLoop
from dispatch.outbox import NOTIFY_CHANNEL, is_postgres
from dispatch.render import Renderer
from models import MessageStatus, OutboundMessage
from tests.dispatch.support import ScriptedChannel, make_people, ok, pg_dsn
from tests.dispatch.test_dispatcher import queue

NEVER = 3600.0  # a poll interval no test waits for: only a wake-up can make the loop send


@asynccontextmanager
async def running(clock, *channels, database_url: str | None = None
                  ) -> AsyncIterator[DispatchLoop]:
    dispatcher = Dispatcher({c.name: c for c in channels}, Renderer("【督办】"), clock, "loop")
    loop = DispatchLoop(dispatcher, poll_seconds=NEVER, database_url=database_url)
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.sleep(0.2)  # it has looked once and found nothing: asleep now
        yield loop
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> float:
    """Wait (real time) until `condition` holds; returns how long it took. With the polls an
    hour away, arriving at all proves the wake-up; how fast is the benches' figure, not a
    timed test's (a loaded machine must not fail it)."""
    started = time.perf_counter()
    while not condition():
        assert time.perf_counter() - started < seconds, "timed out"
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def test_writing_a_row_wakes_the_loop_without_a_tick(db, clock) -> None:
    """Issue 10 "answers in under a second": the enqueue itself wakes the sleeping loop;
    the clock is virtual and never moves, so no poll or tick can be what sends it."""
    sms = ScriptedChannel("sms")
    people = await make_people(1, telegram=False)
    async with running(clock, sms):
        (row,) = await queue(clock, people)
        await until(lambda: sms.ids() == [row.id])
    assert (await OutboundMessage.get(id=row.id)).status is MessageStatus.SUBMITTED


async def test_sends_run_concurrently_up_to_the_channel_window(db, clock) -> None:
    """Issue 10: up to `concurrency` sends in flight on a channel, never more."""
    release = asyncio.Event()
    in_flight, most = 0, 0

    async def slow(message):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        return ok(message)

    sms = ScriptedChannel("sms", [slow])
    sms.concurrency = 5
    people = await make_people(20, telegram=False)
    async with running(clock, sms):
        await queue(clock, people)
        await until(lambda: in_flight == 5)
        await asyncio.sleep(0.1)
        assert most == 5
        release.set()
        await until(lambda: len(sms.sent) == 20)
        await until(lambda: in_flight == 0)
    assert await OutboundMessage.filter(status=MessageStatus.SUBMITTED).count() == 20


async def test_one_hanging_send_does_not_stall_the_others(db, clock) -> None:
    """Issue 10: an unanswered submit used to stall all sending for 30 s."""
    hang = asyncio.Event()

    async def first_hangs(message):
        if len(sms.sent) == 1:
            await hang.wait()
        return ok(message)

    sms = ScriptedChannel("sms", [first_hangs])
    sms.concurrency = 2
    people = await make_people(10, telegram=False)
    async with running(clock, sms):
        rows = await queue(clock, people[:5])
        await until(lambda: len(sms.sent) == 5)
        rows += await queue(clock, people[5:])  # a later batch while the first still hangs
        await until(lambda: len(sms.sent) == 10)
        await asyncio.sleep(0.2)
        submitted = await OutboundMessage.filter(status=MessageStatus.SUBMITTED).count()
        hang.set()
    assert submitted == 9  # all but the one still hanging


async def test_a_notify_from_another_instance_wakes_the_loop(db, clock) -> None:
    """Issue 10: across instances PostgreSQL LISTEN/NOTIFY wakes every dispatcher loop; the
    notification is delivered when the writing transaction commits."""
    if not is_postgres():
        pytest.skip("LISTEN/NOTIFY: PostgreSQL only")
    import asyncpg

    (row,) = await queue(clock, await make_people(1, telegram=False))
    await OutboundMessage.filter(id=row.id).update(status=MessageStatus.FAILED)
    sms = ScriptedChannel("sms")
    async with running(clock, sms, database_url=db):
        other = await asyncpg.connect(pg_dsn(db), timeout=10)  # "another instance"
        try:
            async with other.transaction():
                await other.execute("UPDATE outbound_message SET status = 'pending' "
                                    "WHERE id = $1", row.id)
                await other.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
                await asyncio.sleep(0.3)
                assert sms.sent == []  # not before the commit
            await until(lambda: sms.ids() == [row.id])
        finally:
            await other.close()


def test_a_channel_that_states_no_concurrency_gets_the_services_default():
    from service.app import HTTP_CONCURRENCY, with_concurrency

    plain, stated = ScriptedChannel("sms"), ScriptedChannel("sms")
    stated.concurrency = 20
    assert with_concurrency(plain, HTTP_CONCURRENCY).concurrency == HTTP_CONCURRENCY
    assert with_concurrency(stated, HTTP_CONCURRENCY).concurrency == 20
