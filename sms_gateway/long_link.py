"""What every long-connection SMS protocol needs around its own messages: stay connected
with jittered exponential backoff, and say why a connection ended.

(CMPP uses this loop; the SMPP adapter, which also counts crashed binds, has a loop of its
own and shares `reconnect_delay`.)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

L = TypeVar("L")


async def keep_connected(connect: Callable[[], Awaitable[L]], serve: Callable[[L], Awaitable[None]],
                         *, timeout: float, errors: tuple[type[BaseException], ...],
                         on_error: Callable[[str], None], low: float, high: float) -> None:
    """Connect, serve until the link ends, wait, again; runs until cancelled."""
    failures = 0
    while True:
        try:
            # Not `wait_for`: on Python 3.11 a stop that lands as the connect fails is lost
            # there (the failure is raised instead), and the loop would never end.
            async with asyncio.timeout(timeout):
                link = await connect()
        except errors as exc:
            on_error(f"connect failed: {exc}")
            failures += 1
        else:
            failures = 0
            await serve(link)
        await asyncio.sleep(reconnect_delay(failures, low, high))


def reconnect_delay(failures: int, low: float, high: float) -> float:
    delay = min(high, low * 2 ** min(failures, 30))
    # Jitter keeps a fleet of gateways from reconnecting in lockstep after an outage.
    return delay * random.uniform(0.5, 1.0)


def end_reason(task: asyncio.Task[Any], peer: str) -> str:
    """Why the first of a connection's tasks to finish ended it."""
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    if isinstance(exc, asyncio.IncompleteReadError):
        return f"connection closed by {peer}"
    return repr(exc) if exc is not None else str(task.result())
