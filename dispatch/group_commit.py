"""Group commit: many concurrent callers' writes made as one batch.

What callers add while one batch is being written goes into the next, so under load one
statement and one commit serve dozens of callers, and an idle caller's item is written at
once (after `wait`). Each caller gets its own item's result or exception: when a batch
fails, its items are written again one by one, so one bad item fails only its own caller.
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
                if len(batch) == 1:
                    settle(batch[0][1], error=exc)
                else:  # one bad item must not fail the others: each alone, its own outcome
                    for item, done in batch:
                        await self.write_alone(item, done)
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    settle(done, result)

    async def write_alone(self, item: T, done: asyncio.Future) -> None:
        try:
            [result] = await self.write([item])
        except Exception as exc:
            settle(done, error=exc)
        else:
            settle(done, result)


def settle(done: asyncio.Future, result: object = None, error: Exception | None = None) -> None:
    if done.done():  # its waiter was cancelled meanwhile (shutdown)
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
