"""Issue 10: an instance's PostgreSQL pool is sized for its loops unless the URL says
otherwise (tortoise's own default, 5, let the reply workers starve the webhooks' stores:
p99 59 ms instead of 17 ms at 200 replies/s in bench/inbound_webhook.py)."""

from __future__ import annotations

import pytest
from tortoise import Tortoise

from service.db import POOL_SIZE, tortoise_config, with_pool_size


@pytest.mark.parametrize("url, expected", [
    ("postgres://duban@db:5432/duban", f"postgres://duban@db:5432/duban?maxsize={POOL_SIZE}"),
    ("postgresql://u:p@db/duban?minsize=2", f"postgresql://u:p@db/duban?minsize=2&maxsize={POOL_SIZE}"),
    ("postgres://duban@db/duban?maxsize=7", "postgres://duban@db/duban?maxsize=7"),
    ("sqlite://duban.sqlite3", "sqlite://duban.sqlite3"),
    ("sqlite://:memory:", "sqlite://:memory:"),
])
def test_issue10_a_postgres_url_without_a_pool_size_gets_ours(url, expected):
    assert with_pool_size(url) == expected
    assert tortoise_config(url)["connections"]["default"] == expected


async def test_issue10_the_running_instance_has_that_pool(database):
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect != "postgres" or "maxsize" in database:
        pytest.skip("a PostgreSQL URL that leaves the pool size to duban")
    assert connection.pool_maxsize == POOL_SIZE
