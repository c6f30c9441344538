"""A task cancelled while it opens a transaction (a loop stopped mid-step, a shutdown) gives
the connection back: before, tortoise kept SQLite's one connection locked and every later
query waited forever (CI hung on the dispatcher loop's test), and on PostgreSQL it kept a
pool connection."""

from __future__ import annotations

import asyncio

from tortoise import connections
from tortoise.transactions import in_transaction

from models import Unit

TIMES = 25  # more than the PostgreSQL pool's connections: a leak would exhaust it


async def test_a_transaction_cancelled_while_it_begins_leaves_the_database_usable(
        db, monkeypatch) -> None:
    context = connections.get("default")._in_transaction()
    wrapper = type(getattr(context, "client", None) or context.connection)
    beginning = asyncio.Event()

    async def begin_forever(self) -> None:  # BEGIN is what the cancellation interrupts
        beginning.set()
        await asyncio.sleep(3600)

    with monkeypatch.context() as patch:
        patch.setattr(wrapper, "begin", begin_forever)
        for _ in range(TIMES):
            beginning.clear()
            task = asyncio.create_task(open_transaction())
            await beginning.wait()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    await asyncio.wait_for(Unit.create(key="water", name="区水务局"), 10)
    async with asyncio.timeout(10), in_transaction():
        await Unit.create(key="roads", name="区交通局")
    assert await asyncio.wait_for(Unit.all().count(), 10) == 2


async def open_transaction() -> None:
    async with in_transaction():
        await Unit.create(key="never", name="从未写入")
