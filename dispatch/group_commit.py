"""Group commit: many concurrent callers' writes made as one batch.

What callers add while one batch is being written goes into the next, so under load one
statement and one commit serve dozens of callers, and an idle caller's item is written at
once (after `wait`). Each caller gets its own item's result, or the batch's exception.
Used for the outcomes the dispatcher records and for the raw replies the webhooks store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Callable[[list[T]], Awaitable[Sequence[R]]], wait: float) -> None:
        """`write` takes a batch and returns one result per item, in order. `wait`: how long
        a batch waits for more items before it is written."""
        self.write = write
        self.wait = wait
        self.queue: list[tuple[T, asyncio.Future]] = []
        self.writing: asyncio.Task | None = None

    def submit(self, item: T) -> asyncio.Future:
        """Queue `item`; the future is done once its batch is committed."""
        done = asyncio.get_running_loop().create_future()
        self.queue.append((item, done))
        if self.writing is None or self.writing.done():
            self.writing = asyncio.create_task(self.write_all())
        return done

    async def add(self, item: T) -> R:
        return await self.submit(item)

    async def write_all(self) -> None:
        while self.queue:
            await asyncio.sleep(self.wait)
            batch, self.queue = self.queue, []
            try:
                results = await self.write([item for item, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():  # a waiter cancelled meanwhile (shutdown)
                        done.set_exception(exc)
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(result)
