"""Shared fixtures. The database comes from DUBAN_TEST_DATABASE (default: in-memory SQLite);
`./dev test` runs the whole suite once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
from datetime import datetime
from urllib.parse import urlsplit

import pytest
from tortoise import Tortoise

from scheduler.clock import SHANGHAI, VirtualClock
from service.db import close_database, open_database
from workflow.context import Context

TEST_DATABASE = os.environ.get("DUBAN_TEST_DATABASE", "sqlite://:memory:")


@pytest.fixture(scope="session")
async def database():
    await open_database(TEST_DATABASE)
    yield TEST_DATABASE
    await close_database()


@pytest.fixture
async def db(database):
    """A migrated, empty database for one test."""
    await truncate_all()
    yield database


async def truncate_all() -> None:
    connection = Tortoise.get_connection("default")
    tables = [model._meta.db_table for model in Tortoise.apps["models"].values()]
    tables += ["matter_cooperating"]
    if connection.capabilities.dialect == "postgres":
        await connection.execute_script(
            f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE;")
    else:
        script = "".join(f"DELETE FROM {t};" for t in tables)
        await connection.execute_script(script + "DELETE FROM sqlite_sequence;")


@pytest.fixture
def clock():
    return VirtualClock(datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
def ctx(clock):
    return Context(clock=clock)


def require(name: str, available: bool, how: str) -> None:
    """Skip a test whose peer is missing, with the reason shown (pytest runs with -rs); in
    CI (CI=true) the missing peer fails the run instead of passing it silently."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI (CI=true): {how}", pytrace=False)
    pytest.skip(f"{name} is not available: {how}")


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The Redis the webhook-mode dialog tests use."""
    url = os.environ.get("DUBAN_TEST_REDIS", "redis://127.0.0.1:6379/0")
    where = urlsplit(url)
    try:
        socket.create_connection((where.hostname, where.port or 6379), timeout=1).close()
        reachable = True
    except OSError:
        reachable = False
    require("Redis", reachable, f"start Redis at {url} (or set DUBAN_TEST_REDIS)")
    return url


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, for the web page tests in a real browser."""
    path = shutil.which("chromium")
    require("Chromium", path is not None, "apt-get install chromium")
    return path or ""
