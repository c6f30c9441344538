"""The dispatcher as its own loop, independent of the clock's tick.

It sleeps until rows are written (the outbox's wake-up in this process; PostgreSQL
LISTEN/NOTIFY from every instance) or the next row falls due, then drains: it claims batches
while there are due rows and keeps up to its capacity of rows in flight (at least 200, or
four times the channels' windows), claiming more as sends finish, so one slow send (an
unanswered submit_sm) never holds up the rest. A periodic poll covers what no wake-up announces (rows
whose retry time has come, a lost notification, another process on SQLite).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dispatch.dispatcher import Dispatcher
from dispatch.outbox import NOTIFY_CHANNEL, is_postgres, off_enqueue, on_enqueue
from models import MessageStatus, OutboundMessage

log = logging.getLogger("duban.dispatch")

# A row written inside a transaction wakes this process's loop before it commits; after a
# wake-up that found nothing the loop looks again after these pauses (seconds) before it
# sleeps. Across instances NOTIFY needs no such help: it is delivered at commit.
RECHECKS = (0.02, 0.1, 0.5)


class DispatchLoop:
    def __init__(self, dispatcher: Dispatcher, *, poll_seconds: float = 5.0,
                 database_url: str | None = None) -> None:
        self.dispatcher = dispatcher
        self.poll_seconds = poll_seconds
        self.database_url = database_url  # for LISTEN, on PostgreSQL
        self.wake = asyncio.Event()
        self.batches: set[asyncio.Task] = set()
        self.in_flight = 0  # rows claimed and not yet recorded
        self.listener: Any = None  # an asyncpg connection that LISTENs

    async def run(self) -> None:
        """Run until cancelled."""
        on_enqueue(self.wake)
        recheck: tuple[float, ...] = ()
        try:
            while True:
                await self.listen()
                self.wake.clear()
                try:
                    claimed = await self.fill()
                except Exception:  # a database hiccup must not end sending for good
                    log.exception("dispatch loop: claiming failed")
                    claimed = 0
                if claimed:
                    continue
                woken = await self.sleep(recheck[0] if recheck else None)
                recheck = RECHECKS if woken else recheck[1:]
        finally:
            off_enqueue(self.wake)
            await self.stop()

    async def fill(self) -> int:
        """Claim batches while there is room and due rows; returns how many rows."""
        d = self.dispatcher
        await d.recover_stale()
        d.prune_limits()
        total = 0
        while (room := d.capacity() - self.in_flight) > 0:
            rows = await d.claim(room)
            if not rows:
                break
            total += len(rows)
            self.in_flight += len(rows)
            task = asyncio.create_task(self.send_batch(rows))
            self.batches.add(task)
            task.add_done_callback(self.batches.discard)
        if total == 0 and self.batches:
            # Full or nothing due: wait until a batch finishes or rows are written.
            await self.wait_for_room()
            return 1
        return total

    async def send_batch(self, rows: list) -> None:
        try:
            await self.dispatcher.deliver_all(rows)
        except Exception:  # the rows' claims expire and recovery takes them over
            log.exception("dispatch loop: a batch of %d failed", len(rows))
        finally:
            self.in_flight -= len(rows)
            self.wake.set()  # room for more

    async def sleep(self, cap: float | None) -> bool:
        """Until woken, or the next row is due, or the poll interval (or `cap`) has passed.
        Returns whether it was woken."""
        timeout = min(self.poll_seconds, cap or self.poll_seconds)
        upcoming = await OutboundMessage.filter(status=MessageStatus.PENDING).order_by(
            "due_at").first().values_list("due_at", flat=True)
        if upcoming is not None:
            ahead = (upcoming - self.dispatcher.clock.now()).total_seconds()
            timeout = min(timeout, max(ahead, 0.05))
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_for_room(self) -> None:
        waiter = asyncio.create_task(self.wake.wait())
        try:
            await asyncio.wait({waiter, *self.batches}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    async def listen(self) -> None:
        """(Re)open the LISTEN connection on PostgreSQL; without it the poll still works."""
        if self.listener is not None and not self.listener.is_closed():
            return
        if not self.database_url or not is_postgres():
            return
        import asyncpg

        try:
            self.listener = await asyncpg.connect(plain_dsn(self.database_url), timeout=5)
            await self.listener.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake.set())
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("dispatch loop: cannot LISTEN (%s); polling only", type(exc).__name__)
            self.listener = None

    async def stop(self, grace: float = 5.0) -> None:
        """Let the sends in flight finish (a cut send's outcome would be unknown), briefly."""
        if self.batches:
            await asyncio.wait(self.batches, timeout=grace)
        for task in list(self.batches):
            task.cancel()
        await asyncio.gather(*self.batches, return_exceptions=True)
        if self.listener is not None and not self.listener.is_closed():
            await self.listener.close()


def plain_dsn(url: str) -> str:
    """The database URL as asyncpg takes it: tortoise's pool options dropped."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
