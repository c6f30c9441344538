"""The reply worker: processes the replies that the webhooks (and the bot, and the SMPP/CMPP
sinks) stored and acknowledged at once (issue 10, "inbound at scale").

It sleeps until a reply is stored (`dispatch.wakeup`: in this process at once, from every
instance by PostgreSQL LISTEN/NOTIFY) and then drains: up to `parallel` senders at a time,
each sender's messages one by one in arrival order (`Inbox.drain`; across instances an
advisory lock per sender). A sender whose messages another instance is on is left to it.
The poll finds what no wake-up announced: rows a crash left `received`, a lost notification.
"""

from __future__ import annotations

import asyncio
import logging

from dispatch.wakeup import Wakeup
from replies.inbound import INBOUND_TOPIC, Inbox, waiting_senders

log = logging.getLogger("duban.replies")

# Senders processed at once: each holds a database connection while it processes a message,
# and the pool (5 by default) is shared with the webhooks, the dispatcher and the clock.
PARALLEL = 3
# A sender another instance is on is looked at again after this pause, not in a busy loop.
ELSEWHERE_PAUSE = 0.05

Sender = tuple[str, str]  # (channel, sender)


class ReplyWorker:
    def __init__(self, inbox: Inbox, *, parallel: int = PARALLEL, poll_seconds: float = 5.0,
                 database_url: str | None = None) -> None:
        self.inbox = inbox
        self.parallel = parallel
        self.poll_seconds = poll_seconds
        self.wake = Wakeup(INBOUND_TOPIC, database_url)
        self.draining: dict[Sender, asyncio.Task] = {}

    async def run(self) -> None:
        """Run until cancelled."""
        self.wake.start()
        try:
            while True:
                await self.wake.listen()
                self.wake.clear()
                try:
                    await self.fill()
                except Exception:  # a database hiccup must not end processing for good
                    log.exception("reply worker: looking for replies failed")
                if self.draining:
                    await self.until_one_finishes()
                else:
                    await self.wake.wait(self.poll_seconds)
        finally:
            await self.stop()

    async def fill(self) -> None:
        """Start draining waiting senders while there is room."""
        room = self.parallel - len(self.draining)
        if room <= 0:
            return
        for key in await waiting_senders(room + len(self.draining)):
            if key not in self.draining and len(self.draining) < self.parallel:
                task = asyncio.create_task(self.drain(key))
                self.draining[key] = task
                task.add_done_callback(lambda _, key=key: self.draining.pop(key, None))

    async def drain(self, key: Sender) -> None:
        try:
            if not await self.inbox.drain(*key):
                await asyncio.sleep(ELSEWHERE_PAUSE)  # another worker is on this sender
        except Exception:  # its rows stay `received`; the next look takes them up again
            log.exception("reply worker: draining %s failed", key[0])

    async def until_one_finishes(self) -> None:
        """Until a sender is drained (room for another) or a reply is stored."""
        waiter = asyncio.create_task(self.wake.event.wait())
        try:
            await asyncio.wait({waiter, *self.draining.values()},
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    async def run_once(self) -> int:
        """Process every waiting reply now; returns how many (for tests and tools)."""
        total = 0
        while keys := await waiting_senders(self.parallel):
            done = sum(await asyncio.gather(*(self.inbox.drain(*key) for key in keys)))
            if not done:
                break  # all of them are another worker's
            total += done
        return total

    async def stop(self, grace: float = 5.0) -> None:
        """Let the senders being drained finish, briefly; a message cut after that rolls
        back and stays `received`, to be processed after the restart."""
        if self.draining:
            await asyncio.wait(self.draining.values(), timeout=grace)
        for task in list(self.draining.values()):
            task.cancel()
        await asyncio.gather(*self.draining.values(), return_exceptions=True)
        await self.wake.stop()
