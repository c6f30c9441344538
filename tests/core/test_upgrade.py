"""An upgrade migrates a database that already holds an organisation and matters, on both
databases: every column this round added to a table with rows gets a value for those rows."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.conftest import TEST_DATABASE

ROOT = Path(__file__).parents[2]
BEFORE_THIS_ROUND = "models.0005_review_and_dialog_state"
SCRIPT = """
import asyncio, sys
from tortoise import Tortoise
from tortoise.migrations.api import migrate
from service.db import tortoise_config

async def main(url, target):
    try:
        await steps(url, target)
    finally:
        await Tortoise.close_connections()

async def steps(url, target):
    await migrate(config=tortoise_config(url), target=target)
    connection = Tortoise.get_connection("default")
    if target:  # an existing deployment: a unit with a person
        await connection.execute_script(
            "INSERT INTO unit (key, name, created_at) "
            "VALUES ('water', '区水务局', '2026-01-01 00:00:00+00:00');"
            "INSERT INTO person (unit_id, name, role, phone, active) "
            "VALUES (1, '李一', 'operator_a', '+8613800000002', TRUE);")
    else:
        rows = await connection.execute_query_dict("SELECT channel_preference FROM person")
        print([row["channel_preference"] for row in rows])

asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
"""


def run(url: str, *target: str) -> str:
    result = subprocess.run([sys.executable, "-c", SCRIPT, url, *target], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


async def fresh_database(tmp_path: Path) -> tuple[str, str | None]:
    """(url, name): an empty database of the kind the suite runs on."""
    if urlsplit(TEST_DATABASE).scheme == "sqlite":
        return f"sqlite://{tmp_path / 'upgrade.sqlite3'}", None
    name = f"duban_upgrade_{uuid.uuid4().hex[:8]}"
    server = urlsplit(TEST_DATABASE)._replace(scheme="postgresql")
    connection = await asyncpg.connect(urlunsplit(server))
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return urlunsplit(urlsplit(TEST_DATABASE)._replace(path=f"/{name}")), name


async def drop(name: str) -> None:
    server = urlsplit(TEST_DATABASE)._replace(scheme="postgresql")
    connection = await asyncpg.connect(urlunsplit(server))
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


async def test_an_upgrade_keeps_the_people_and_gives_them_the_default_preference(tmp_path):
    """Issue 9 part 4 on an existing deployment: migration 0006 adds person.channel_preference
    NOT NULL; without a database default it failed on every table that had people."""
    url, name = await fresh_database(tmp_path)
    try:
        run(url, BEFORE_THIS_ROUND)
        assert run(url) == "['both']"
    finally:
        if name:
            await drop(name)
