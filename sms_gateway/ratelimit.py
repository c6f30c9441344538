"""Token buckets for carrier send limits, per number and global, with time passed in.

Carriers cap how often one handset may be messaged (e.g. 1/min, 5/h, 10/day) and how
fast a whole account may submit. The dispatcher asks how long to wait and reschedules
the message instead of sleeping, so nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        return max(0.0, (cost - self.level(now)) / self.limit.rate)

    def consume(self, now: float, cost: int) -> None:
        self.tokens = self.level(now) - cost
        self.at = max(self.at, now)

    def full(self, now: float) -> bool:
        return self.level(now) >= self.limit.count


class RateLimiter:
    """Every per-number limit for the recipient and every global limit must allow a send."""

    def __init__(
        self, per_number: Sequence[Limit] = (), global_limits: Sequence[Limit] = ()
    ) -> None:
        self._per_number = tuple(per_number)
        self._global = [_fresh(limit) for limit in global_limits]
        self._numbers: dict[str, list[_Bucket]] = {}

    def delay(self, number: str, now: Now, cost: int = 1) -> float:
        """Seconds until `cost` sends to `number` are allowed; 0 means now. Changes nothing."""
        t = _seconds(now)
        self._check_cost(cost)
        # A number never seen has full buckets, which always fit a valid cost.
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

    def _check_cost(self, cost: int) -> None:
        limits = (*self._per_number, *(b.limit for b in self._global))
        if cost < 1 or any(cost > limit.count for limit in limits):
            raise ValueError(f"cost {cost} can never fit these limits: {limits}")


def _fresh(limit: Limit) -> _Bucket:
    # Start full, stamped at -inf so any "now" sees a full bucket.
    return _Bucket(limit, float(limit.count), float("-inf"))


def _seconds(now: Now) -> float:
    return now.timestamp() if isinstance(now, datetime) else float(now)
