"""Database start-up: the tortoise configuration and migrations."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate as run_migrations

APP = "models"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
        "apps": {APP: {"models": ["models"], "migrations": "models.migrations",
                       "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(database_url: str) -> None:
    """Bring the schema up to date (built-in tortoise migrations)."""
    await run_migrations(config=tortoise_config(database_url))


async def open_database(database_url: str, *, migrate_first: bool = True) -> None:
    """Connect, then migrate on the same connection (an in-memory database lives in it)."""
    await Tortoise.init(config=tortoise_config(database_url))
    if migrate_first:
        await migrate(database_url)


async def close_database() -> None:
    await Tortoise.close_connections()


# `tortoise -c service.db.TORTOISE_ORM makemigrations` uses this.
TORTOISE_ORM = tortoise_config("sqlite://duban.sqlite3")
