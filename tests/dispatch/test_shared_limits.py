"""Issue 10 "rate limits hold across instances": two instances (two dispatchers, each with its
own Redis client) share one per-number and one global bucket through a real Redis."""

from __future__ import annotations

import uuid

import pytest

from dispatch.ratelimit import Limit
from dispatch.shared_limits import SharedRateLimiter
from tests.dispatch.support import ScriptedChannel, make_people
from tests.dispatch.test_dispatcher import dispatcher, queue

A, B = "+8613800138000", "+8613800138001"


@pytest.fixture
async def redis_clients():
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisDown

    clients = [Redis.from_url("redis://127.0.0.1:6379/0") for _ in range(2)]
    try:
        await clients[0].ping()
    except RedisDown:
        pytest.skip("Redis on 127.0.0.1:6379 is needed for shared rate limits")
    prefix = f"test:{uuid.uuid4().hex}"
    yield clients, prefix
    for client in clients:
        keys = [k async for k in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def pair(clients, prefix, **limits) -> list[SharedRateLimiter]:
    return [SharedRateLimiter(c, prefix, **limits) for c in clients]


async def test_two_instances_share_one_per_number_bucket(redis_clients):
    clients, prefix = redis_clients
    one, two = pair(clients, prefix, per_number=[Limit(2, 60.0)])
    assert await one.acquire(A, 0.0) == 0.0
    assert await two.acquire(A, 0.0) == 0.0
    assert await one.acquire(A, 0.0) == pytest.approx(30.0)  # the other instance took it
    assert await two.acquire(A, 0.0) == pytest.approx(30.0)  # a refusal takes nothing
    assert await two.acquire(B, 0.0) == 0.0  # another number has its own bucket
    assert await one.acquire(A, 30.0) == 0.0


async def test_the_global_bucket_is_shared_and_an_oversize_cost_fits_a_full_one(redis_clients):
    """Issue 8 item 8 holds for shared buckets too."""
    clients, prefix = redis_clients
    one, two = pair(clients, prefix, global_limits=[Limit(5, 1.0)])
    assert await one.acquire(A, 0.0, cost=8) == 0.0
    assert await two.acquire(B, 0.0) == pytest.approx(0.8)  # 3 in debt, needs 1: 4 / 5 s


async def test_two_dispatchers_together_stay_within_the_shared_limit(db, clock, redis_clients):
    clients, prefix = redis_clients
    (person,) = await make_people(1, telegram=False)
    rows = []
    for _ in range(6):
        rows += await queue(clock, [person])
    channels = [ScriptedChannel("sms"), ScriptedChannel("sms")]
    instances = [dispatcher(clock, c, worker=f"w{i}") for i, c in enumerate(channels)]
    for d, limiter in zip(instances, pair(clients, prefix, per_number=[Limit(3, 60.0)]),
                          strict=True):
        d.limits = {"sms": limiter}
    for d in instances:
        await d.run_once(limit=3)
    assert sum(len(c.sent) for c in channels) == 3  # not 3 each


def test_serve_shares_its_limits_when_a_redis_is_configured():
    from service.app import build_service
    from service.config import Settings

    shared = build_service(Settings(rate_limit_redis_url="redis://127.0.0.1:6379/0"))
    assert {type(x) for x in shared.dispatcher.limits.values()} == {SharedRateLimiter}
    alone = build_service(Settings())
    assert not any(isinstance(x, SharedRateLimiter) for x in alone.dispatcher.limits.values())
