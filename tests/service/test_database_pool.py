"""Issue 10: an instance's PostgreSQL pool is sized for its loops unless the URL says
otherwise (tortoise's own default, 5, let the reply workers starve the webhooks' stores:
p99 59 ms instead of 17 ms at 200 replies/s in bench/inbound_webhook.py)."""

from __future__ import annotations

import pytest
from tortoise import Tortoise

from service.db import POOL_SIZE, pool_room, pool_room_warning, tortoise_config, with_pool_size


@pytest.mark.parametrize("url, expected", [
    ("postgres://duban@db:5432/duban", f"postgres://duban@db:5432/duban?maxsize={POOL_SIZE}"),
    ("postgresql://u:p@db/duban?minsize=2", f"postgresql://u:p@db/duban?minsize=2&maxsize={POOL_SIZE}"),
    ("postgres://duban@db/duban?maxsize=7", "postgres://duban@db/duban?maxsize=7"),
    ("sqlite://duban.sqlite3", "sqlite://duban.sqlite3"),
    ("sqlite://:memory:", "sqlite://:memory:"),
])
def test_issue10_a_postgres_url_without_a_pool_size_gets_ours(url, expected):
    assert with_pool_size(url) == expected
    config = tortoise_config(url)["connections"]["default"]
    if url.startswith("sqlite"):
        assert config == expected
    else:
        assert config["credentials"]["maxsize"] == expected.rpartition("maxsize=")[2]


async def test_issue10_the_running_instance_has_that_pool(database):
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect != "postgres" or "maxsize" in database:
        pytest.skip("a PostgreSQL URL that leaves the pool size to duban")
    assert connection.pool_maxsize == POOL_SIZE


@pytest.mark.parametrize("pool, most, reserved, taken, fits", [
    (20, 100, 3, 10, True),
    (20, 100, 3, 77, True),  # exactly the 20 that are free
    (20, 100, 3, 78, False),  # four instances of 20 and a few tools: one too many
    (5, 10, 3, 3, False),
])
def test_issue10_the_pool_is_checked_against_the_free_connections(pool, most, reserved,
                                                                    taken, fits):
    warning = pool_room(pool, most, reserved, taken)
    assert (warning is None) == fits
    if warning:
        assert f"{most - reserved - taken} free" in warning and "maxsize" in warning


async def test_issue10_serve_warns_when_its_pool_is_more_than_the_server_has_free(
        database, monkeypatch):
    """`duban serve` asks the server at start (PostgreSQL): this run's pool fits; one of
    10,000 connections would not, and the warning says how many are free."""
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect != "postgres":
        assert await pool_room_warning() is None  # SQLite has no pool to size
        return
    assert await pool_room_warning() is None
    monkeypatch.setattr(connection, "pool_maxsize", 10_000)
    assert "max_connections" in await pool_room_warning()


def postgres_pool():
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect != "postgres":
        pytest.skip("asyncpg's pool: PostgreSQL only")
    return connection._pool


async def test_issue10_a_connection_goes_back_to_the_pool_without_reset_statements(db):
    """The server's own record of a pool connection's last statement: the one duban ran,
    not asyncpg's reset (a round trip and four statements at every release)."""
    pool = postgres_pool()
    async with pool.acquire() as watcher:
        async with pool.acquire() as connection:
            pid = await connection.fetchval("SELECT pg_backend_pid() AS mine")
        last = await watcher.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    assert last == "SELECT pg_backend_pid() AS mine"


async def test_issue10_a_transaction_left_open_is_still_rolled_back_on_release(db):
    """What the reset statement left out never held anything; an open transaction is still
    rolled back when its connection goes back, so nothing half-written is committed later."""
    pool = postgres_pool()
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("INSERT INTO unit (key, name, created_at) VALUES ('half', '半途', now())")
    for _ in range(pool.get_size()):  # whichever connection comes next, none is in it
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT count(*) FROM unit") == 0
