"""The reply worker: processes the replies that the webhooks (and the bot, and the SMPP/CMPP
sinks) stored and acknowledged at once (issue 10, "inbound at scale").

It sleeps until a reply is stored (`dispatch.wakeup`: in this process at once, from every
instance by PostgreSQL LISTEN/NOTIFY) and then drains in batches: each batch is the oldest
waiting message of up to `BATCH` senders, processed in one transaction (`Inbox.drain_batch`;
`replies.batch`), up to `parallel` batches at a time. One sender's messages are still
processed one at a time in arrival order: a batch holds one message a sender, and across
batches and instances an advisory lock per sender keeps them apart. The poll finds what no
wake-up announced: rows a crash left `received`, a lost notification.
"""

from __future__ import annotations

import asyncio
import logging

from dispatch.wakeup import WakeLoop, Wakeup
from models import InboundMessage
from replies.inbound import INBOUND_TOPIC, Inbox
from replies.store import Status

log = logging.getLogger("duban.replies")

# Batches processed at once (the setting `reply_workers`). One keeps a core busy: while it
# waits for the database, the dispatcher and the webhooks of the same process run. More
# measured slower on two cores (bench/inbound_webhook.py): their work only interleaves.
PARALLEL = 1
# Senders a batch: enough that its statements cost little per message (measured with
# bench/inbound_webhook.py, a thousand units replying: 50 gave ~585 replies/s, 250 ~750,
# the database's CPU a reply halved), few enough that its transaction (and the matters it
# locks) stays well under a second. Under light load a batch is what is waiting.
BATCH = 250
# While replies arrive at this instance's own webhooks, batches of this size: the
# acknowledgements share the process, and a provider resends a callback left unanswered
# (measured: at 250 the webhooks' rate in one instance fell from ~1,400 to ~1,000/s).
# Stored replies wait safely; answers follow within the second all the same.
BATCH_WHILE_ARRIVING = 50
# When every waiting sender is another worker's, look again after this pause, not in a
# busy loop.
ELSEWHERE_PAUSE = 0.05


class ReplyWorker(WakeLoop):
    label = "reply worker"

    def __init__(self, inbox: Inbox, *, parallel: int = PARALLEL, batch: int = BATCH,
                 poll_seconds: float = 5.0, database_url: str | None = None) -> None:
        self.inbox = inbox
        self.parallel = parallel
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.wake = Wakeup(INBOUND_TOPIC, database_url)
        self.draining: set[asyncio.Task] = set()
        self.arrived = inbox.arrived

    async def step(self) -> bool:
        await self.fill()
        return False

    async def rest(self) -> None:
        if self.draining:
            await self.until_one_finishes()
        else:
            await self.wake.wait(self.poll_seconds)

    async def fill(self) -> None:
        """Start draining while there is room and a message waits."""
        if len(self.draining) >= self.parallel or not await anything_waiting():
            return
        while len(self.draining) < self.parallel:
            task = asyncio.create_task(self.drain())
            self.draining.add(task)
            task.add_done_callback(self.draining.discard)

    async def drain(self) -> None:
        """Batch after batch until none can be claimed."""
        try:
            if not await self.inbox.drain_batch(self.size()):
                await asyncio.sleep(ELSEWHERE_PAUSE)  # another worker is on them
                return
            while await self.inbox.drain_batch(self.size()):
                pass
        except Exception:  # its rows stay `received`; the next look takes them up again
            log.exception("reply worker: a batch failed")

    def size(self) -> int:
        """The next batch's size: small while this instance's webhooks are storing
        replies (any since the last batch began), full when they are quiet."""
        arriving, self.arrived = self.inbox.arrived != self.arrived, self.inbox.arrived
        return min(self.batch, BATCH_WHILE_ARRIVING) if arriving else self.batch

    async def until_one_finishes(self) -> None:
        """Until a drain ends (room for another) or a reply is stored."""
        await self.wake.wait_or(self.draining)

    async def run_once(self) -> int:
        """Process every waiting reply now; returns how many (for tests and tools)."""
        total = 0
        while done := await self.inbox.drain_batch(self.batch):
            total += done
        return total

    async def stop(self, grace: float = 5.0) -> None:
        """Let the batches being processed finish, briefly; a batch cut after that rolls
        back and stays `received`, to be processed after the restart."""
        if self.draining:
            await asyncio.wait(self.draining, timeout=grace)
        for task in list(self.draining):
            task.cancel()
        await asyncio.gather(*self.draining, return_exceptions=True)
        await self.wake.stop()


async def anything_waiting() -> bool:
    return await InboundMessage.filter(status=Status.RECEIVED).exists()
