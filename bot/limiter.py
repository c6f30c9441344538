"""Telegram's flood limits, kept on our side: about 1 message a second per chat and 25 a
second overall (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits).

The limiter never sleeps. `reserve` either takes a slot or says how long to wait; the
channel answers RETRYABLE with that delay and the dispatcher reschedules the row, so one
busy chat never holds up the others. It measures wire time with a monotonic clock, not the
domain clock: a simulated clock may stand still while real requests go out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

_WINDOW = 1.0  # seconds of the overall limit
_PRUNE_AT = 1024  # chats remembered before stale entries are dropped


class SendLimiter:
    def __init__(
        self,
        per_chat_interval: float = 1.0,
        per_second: int = 25,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = per_chat_interval
        self._per_second = per_second
        self._monotonic = monotonic
        self._chat_free_at: dict[int, float] = {}
        self._recent: deque[float] = deque()

    def reserve(self, chat_id: int) -> float:
        """0.0 when a send may go now (the slot is taken), else the seconds to wait."""
        now = self._monotonic()
        self._forget(now)
        wait = max(self._chat_free_at.get(chat_id, now) - now, self._overall_wait(now))
        if wait > 0:
            return wait
        self._chat_free_at[chat_id] = now + self._interval
        self._recent.append(now)
        return 0.0

    def back_off(self, chat_id: int, seconds: float) -> None:
        """Telegram answered 429 for this chat: keep it quiet that long."""
        until = self._monotonic() + seconds
        self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, until), until)

    def pending_chats(self) -> int:
        return len(self._chat_free_at)

    def _overall_wait(self, now: float) -> float:
        if len(self._recent) < self._per_second:
            return 0.0
        return self._recent[0] + _WINDOW - now

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - _WINDOW:
            self._recent.popleft()
        if len(self._chat_free_at) > _PRUNE_AT:
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}
