"""Turns of the event loop inside a batch's pure work.

A batch (the reply worker's, a clock tick's) plans and renders for many matters between two
statements, without awaiting anything. In `duban serve` the webhooks share the event loop
with it, and a provider waiting for its acknowledgement must not wait for the whole batch:
`paced` lets the loop run other tasks whenever the work has held it for `PACE`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

T = TypeVar("T")

# The longest a batch's pure work holds the event loop: a small part of the acknowledgement
# latency a webhook is allowed (p99 < 50 ms).
PACE = 0.001


async def paced(items: Iterable[T]) -> AsyncIterator[T]:
    """The items, with a turn of the event loop for other tasks whenever `PACE` has passed
    since the last (wall time, of this process's work: no domain clock)."""
    turn = time.perf_counter() + PACE
    for item in items:
        yield item
        if time.perf_counter() > turn:
            await asyncio.sleep(0)
            turn = time.perf_counter() + PACE
