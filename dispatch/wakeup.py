"""Waking a loop when there is work: at once in this process, and in every instance through
PostgreSQL LISTEN/NOTIFY. The dispatcher loop (outbox rows) and the reply worker (inbound
rows) each wait on a topic; whoever writes such rows announces the topic.

NOTIFY sent inside a transaction is delivered at its commit, so a listener never wakes before
the rows are visible to it; a wake-up in this process comes at once, possibly before the
commit, which is why a loop that found nothing after a wake-up looks again shortly
(`RECHECKS`). A periodic poll covers what no wake-up announces (a lost notification, another
process on SQLite).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tortoise import Tortoise

log = logging.getLogger("duban.wakeup")

# After a wake-up that found nothing, look again after these pauses (seconds) before sleeping.
RECHECKS = (0.02, 0.1, 0.5)
_waiting: dict[str, set[asyncio.Event]] = {}  # topic -> the events of this process's loops


def wake_here(topic: str) -> None:
    """Wake this process's loops of `topic` (no NOTIFY). An `announce` inside a transaction
    wakes them at once, before the commit, and other instances at the commit: a loop that
    looked too early (its rechecks spent while a slow transaction went on) is woken again
    by this after the commit."""
    for event in _waiting.get(topic, ()):
        event.set()


def is_postgres() -> bool:
    return Tortoise.get_connection("default").capabilities.dialect == "postgres"


async def announce(topic: str) -> None:
    """Rows for `topic` are there: wake its loops in this process and in every instance."""
    wake_here(topic)
    if is_postgres():
        await Tortoise.get_connection("default").execute_query(
            "SELECT pg_notify($1, '')", [topic])


class Wakeup:
    """What one loop waits on: announcements of its topic, its own `set()`, or a timeout."""

    def __init__(self, topic: str, database_url: str | None = None) -> None:
        self.topic = topic
        self.database_url = database_url  # for LISTEN, on PostgreSQL
        self.event = asyncio.Event()
        self.rechecks: tuple[float, ...] = ()
        self.listener: Any = None  # an asyncpg connection that LISTENs

    def start(self) -> None:
        _waiting.setdefault(self.topic, set()).add(self.event)

    def set(self) -> None:
        self.event.set()

    def clear(self) -> None:
        self.event.clear()

    async def wait(self, timeout: float) -> bool:
        """Until woken or `timeout` (shorter while rechecking after a wake-up); returns
        whether it was woken."""
        if self.rechecks:
            timeout = min(timeout, self.rechecks[0])
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see sms_gateway.long_link
                await self.event.wait()
        except TimeoutError:
            self.rechecks = self.rechecks[1:]
            return False
        self.rechecks = RECHECKS
        return True

    async def wait_or(self, tasks: Iterable[asyncio.Task]) -> None:
        """Until woken or one of `tasks` finishes (room for more work)."""
        waiter = asyncio.create_task(self.event.wait())
        try:
            await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
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
            await self.listener.add_listener(self.topic, lambda *_: self.event.set())
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("%s: cannot LISTEN (%s); polling only", self.topic,
                        type(exc).__name__)
            self.listener = None

    async def stop(self) -> None:
        _waiting.get(self.topic, set()).discard(self.event)
        if self.listener is not None and not self.listener.is_closed():
            await self.listener.close()


class WakeLoop:
    """The shape of a loop woken by its `Wakeup` (the dispatcher loop, the reply worker):
    (re)listen, take the wake-up, do a step; when the step says nothing is left, rest until
    woken. One failed step (a database hiccup) never ends the loop."""

    wake: Wakeup
    label = "loop"

    async def run(self) -> None:
        """Run until cancelled."""
        self.wake.start()
        try:
            while True:
                await self.wake.listen()
                self.wake.clear()
                try:
                    busy = await self.step()
                except Exception:
                    log.exception("%s: a step failed", self.label)
                    busy = False
                if not busy:
                    await self.rest()
        finally:
            await self.stop()

    async def step(self) -> bool:
        """Do what is there; True to look again at once."""
        raise NotImplementedError

    async def rest(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


def plain_dsn(url: str) -> str:
    """The database URL as asyncpg takes it: tortoise's pool options dropped."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
