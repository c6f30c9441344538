"""Token buckets for carrier send limits, per number and global, with time passed in.

Carriers cap how often one handset may be messaged (e.g. 1/min, 5/h, 10/day) and how
fast a whole account may submit. The dispatcher asks how long to wait and reschedules
the message instead of sleeping, so nothing here reads a clock or does I/O.

A message may cost more than a bucket holds (an 8-segment SMS against 5 per minute): it is
allowed once the bucket is full and leaves it in debt, so it waits its turn like any other
message instead of never fitting (issue 8 item 8).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

Now = float | datetime


@dataclass(frozen=True)
class Limit:
    """At most `count` sends per `per` seconds, with bursts up to `count`."""

    count: int
    per: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.per <= 0:
            raise ValueError(f"a limit needs count >= 1 and per > 0, got {self}")

    @property
    def rate(self) -> float:
        return self.count / self.per


@dataclass
class _Bucket:
    limit: Limit
    tokens: float
    at: float

    def level(self, now: float) -> float:
        # A clock stepping backwards refills nothing rather than draining the bucket.
        elapsed = max(0.0, now - self.at)
        return min(self.limit.count, self.tokens + elapsed * self.limit.rate)

    def wait(self, now: float, cost: int) -> float:
        # An oversize cost needs a full bucket, not more than it can ever hold.
        need = min(cost, self.limit.count)
        return max(0.0, (need - self.level(now)) / self.limit.rate)

    def consume(self, now: float, cost: int) -> None:
        self.tokens = self.level(now) - cost
        self.at = max(self.at, now)

    def full(self, now: float) -> bool:
        return self.level(now) >= self.limit.count


class RateLimiter:
    """Every per-number limit for the recipient and every global limit must allow a send."""

    def __init__(
        self, per_number: Sequence[Limit] = (), global_limits: Sequence[Limit] = (),
        cost: Callable[[str], int] = lambda text: 1,
    ) -> None:
        self.cost = cost  # what one message text costs, e.g. its SMS segment count
        self._per_number = tuple(per_number)
        self._global = [_fresh(limit) for limit in global_limits]
        self._numbers: dict[str, list[_Bucket]] = {}

    def delay(self, number: str, now: Now, cost: int = 1) -> float:
        """Seconds until `cost` sends to `number` are allowed; 0 means now. Changes nothing."""
        t = _seconds(now)
        self._check_cost(cost)
        # A number never seen has full buckets, which always allow a send.
        buckets = self._numbers.get(number, []) + self._global
        return max((b.wait(t, cost) for b in buckets), default=0.0)

    def take(self, number: str, now: Now, cost: int = 1) -> float:
        """Record `cost` sends if allowed now and return 0; else return the delay, taking nothing.

        `cost` is the number of submits, e.g. the segment count of a long SMS where the
        carrier counts parts.
        """
        wait = self.delay(number, now, cost)
        if wait == 0.0:
            t = _seconds(now)
            for bucket in self._buckets(number) + self._global:
                bucket.consume(t, cost)
        return wait

    async def acquire(self, number: str, now: Now, cost: int = 1) -> float:
        """`take`, as the dispatcher calls every limiter (a shared one asks Redis)."""
        return self.take(number, now, cost)

    def prune(self, now: Now) -> int:
        """Forget numbers whose buckets have refilled (lossless); returns how many."""
        t = _seconds(now)
        idle = [n for n, bs in self._numbers.items() if all(b.full(t) for b in bs)]
        for number in idle:
            del self._numbers[number]
        return len(idle)

    def _buckets(self, number: str) -> list[_Bucket]:
        buckets = self._numbers.get(number)
        if buckets is None:
            buckets = self._numbers[number] = [_fresh(limit) for limit in self._per_number]
        return buckets

    @staticmethod
    def _check_cost(cost: int) -> None:
        if cost < 1:
            raise ValueError(f"a send costs at least 1, got {cost}")


def _fresh(limit: Limit) -> _Bucket:
    # Start full, stamped at -inf so any "now" sees a full bucket.
    return _Bucket(limit, float(limit.count), float("-inf"))


def _seconds(now: Now) -> float:
    return now.timestamp() if isinstance(now, datetime) else float(now)
