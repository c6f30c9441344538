"""The dispatcher as its own loop, independent of the clock's tick.

It sleeps until rows are written (`dispatch.wakeup`: in this process at once, from every
instance by PostgreSQL LISTEN/NOTIFY) or the next row falls due, then drains: it claims batches
while there are due rows and keeps up to its capacity of rows in flight (at least 200, or
four times the channels' windows), claiming more as sends finish, so one slow send (an
unanswered submit_sm) never holds up the rest. A periodic poll covers what no wake-up
announces (rows whose retry time has come, a lost notification, another process on SQLite).
"""

from __future__ import annotations

import asyncio
import logging

from dispatch.dispatcher import Dispatcher
from dispatch.outbox import NOTIFY_CHANNEL
from dispatch.wakeup import Wakeup
from models import MessageStatus, OutboundMessage

log = logging.getLogger("duban.dispatch")


class DispatchLoop:
    def __init__(self, dispatcher: Dispatcher, *, poll_seconds: float = 5.0,
                 database_url: str | None = None) -> None:
        self.dispatcher = dispatcher
        self.poll_seconds = poll_seconds
        self.wake = Wakeup(NOTIFY_CHANNEL, database_url)
        self.batches: set[asyncio.Task] = set()
        self.in_flight = 0  # rows claimed and not yet recorded

    async def run(self) -> None:
        """Run until cancelled."""
        self.wake.start()
        try:
            while True:
                await self.wake.listen()
                self.wake.clear()
                try:
                    claimed = await self.fill()
                except Exception:  # a database hiccup must not end sending for good
                    log.exception("dispatch loop: claiming failed")
                    claimed = 0
                if claimed:
                    continue
                await self.sleep()
        finally:
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

    async def sleep(self) -> None:
        """Until woken, or the next row is due, or the poll interval has passed."""
        timeout = self.poll_seconds
        upcoming = await OutboundMessage.filter(status=MessageStatus.PENDING).order_by(
            "due_at").first().values_list("due_at", flat=True)
        if upcoming is not None:
            ahead = (upcoming - self.dispatcher.clock.now()).total_seconds()
            timeout = min(timeout, max(ahead, 0.05))
        await self.wake.wait(timeout)

    async def wait_for_room(self) -> None:
        waiter = asyncio.create_task(self.wake.event.wait())
        try:
            await asyncio.wait({waiter, *self.batches}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    async def stop(self, grace: float = 5.0) -> None:
        """Let the sends in flight finish (a cut send's outcome would be unknown), briefly."""
        if self.batches:
            await asyncio.wait(self.batches, timeout=grace)
        for task in list(self.batches):
            task.cancel()
        await asyncio.gather(*self.batches, return_exceptions=True)
        await self.wake.stop()
