"""Rate limits shared by every instance, kept in Redis: several instances on one database
must together stay within what the carrier allows one account and one number.

The same token buckets as `dispatch.ratelimit` (an oversize cost fits a full bucket and
leaves it in debt), checked and taken for all of a send's buckets in one Lua script, so two
instances never both take the last token. Time is passed in, as everywhere in dispatch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from dispatch.ratelimit import Limit

# KEYS: one hash per bucket. ARGV: now, cost, then count and per of each bucket in turn.
# Returns the wait in seconds (a string, Redis floats do not survive), taking nothing unless 0.
TAKE = """
local now, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local levels, wait = {}, 0
for i, key in ipairs(KEYS) do
  local count, per = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local rate = count / per
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(state[1]) or count, tonumber(state[2]) or now
  local level = math.min(count, tokens + math.max(0, now - at) * rate)
  levels[i] = level
  wait = math.max(wait, (math.min(cost, count) - level) / rate)
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local count, per = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local left = levels[i] - cost
  redis.call('HSET', key, 'tokens', left, 'at', now)
  -- Forgotten once it would be full again: an absent bucket reads as full.
  redis.call('PEXPIRE', key, math.ceil((count - left) / (count / per) * 1000) + 1000)
end
return '0'
"""


class SharedRateLimiter:
    """The interface of `RateLimiter.acquire`, with the buckets in Redis under `prefix`."""

    def __init__(self, redis: Any, prefix: str, per_number: Sequence[Limit] = (),
                 global_limits: Sequence[Limit] = (),
                 cost: Callable[[str], int] = lambda text: 1) -> None:
        self.redis = redis  # a redis.asyncio.Redis
        self.prefix = prefix
        self.per_number = tuple(per_number)
        self.global_limits = tuple(global_limits)
        self.cost = cost
        self.script = redis.register_script(TAKE)

    async def acquire(self, number: str, now: float | datetime, cost: int = 1) -> float:
        """Take `cost` from every bucket of `number` and the global ones if all allow it now
        and return 0; else return the seconds to wait, taking nothing."""
        if cost < 1:
            raise ValueError(f"a send costs at least 1, got {cost}")
        at = now.timestamp() if isinstance(now, datetime) else float(now)
        keys = [f"{self.prefix}:n{i}:{number}" for i in range(len(self.per_number))]
        keys += [f"{self.prefix}:g{i}" for i in range(len(self.global_limits))]
        limits = (*self.per_number, *self.global_limits)
        if not keys:
            return 0.0
        args = [at, cost, *(x for limit in limits for x in (limit.count, limit.per))]
        wait = float(await self.script(keys=keys, args=args))
        return 0.0 if wait <= 0 or math.isclose(wait, 0.0) else wait

    def prune(self, now: float | datetime) -> int:
        """Nothing to do: Redis forgets a bucket once it would be full again."""
        return 0
