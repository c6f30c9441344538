"""Shared fixtures. The database comes from DUBAN_TEST_DATABASE (default: in-memory SQLite);
`./dev test` runs the whole suite once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import os
from datetime import datetime

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
