"""Database start-up: the tortoise configuration and migrations."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.client import TransactionContextPooled
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite.client import SqliteTransactionContext
from tortoise.migrations.api import migrate as run_migrations

from dispatch.wakeup import is_postgres
from service import inline_sqlite

APP = "models"
CONNECT_TIMEOUT = 5.0  # seconds
# PostgreSQL connections an instance may hold when its URL does not say (`?maxsize=`).
# tortoise's own default, 5, is too few under load: the reply workers hold one each while
# they process a sender, beside the webhooks' stores, the dispatcher and the clock.
POOL_SIZE = 20
POSTGRES_SCHEMES = ("postgres", "postgresql", "asyncpg", "psycopg")


def tortoise_config(database_url: str, inline: bool = False) -> dict[str, Any]:
    """`inline`: an SQLite database private to one sequential run, its statements on the
    loop's thread (`service.inline_sqlite`; `duban simulate` only)."""
    return {
        "connections": {"default": inline_sqlite.connection(database_url) if inline
                        else connection_config(database_url)},
        "apps": {APP: {"models": ["models"], "migrations": "models.migrations",
                       "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


class SessionlessConnection(asyncpg.Connection):
    """A pool connection that is given back without asyncpg's reset statements.

    asyncpg resets every connection it takes back into its pool (`SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`): a round trip, awaited by
    the releasing task, and four statements each time a statement outside a transaction, or
    a transaction, ends (in-process, 6,000 answers through the Alibaba channel with the
    outbox polled between batches: 0.81–0.95 ms of CPU a message with it, 0.64–0.67
    without). duban leaves no session state on a pool connection to reset: its advisory
    locks are transaction-scoped (`pg_try_advisory_xact_lock`), LISTEN has a connection of
    its own (`dispatch.wakeup`), nothing SETs a session setting or opens a cursor outside a
    transaction. A transaction left open is still rolled back: asyncpg does that before the
    reset statement, which is all this leaves out."""

    def get_reset_query(self) -> str:
        return ""


def connection_config(database_url: str) -> str | dict[str, Any]:
    """The tortoise connection for a URL: PostgreSQL through asyncpg with our pool size and
    `SessionlessConnection`; others as given."""
    url = with_pool_size(database_url)
    config = expand_db_url(url) if urlsplit(url).scheme in POSTGRES_SCHEMES else {}
    if config.get("engine") != "tortoise.backends.asyncpg":
        return url
    config["credentials"]["connection_class"] = SessionlessConnection
    return config


def with_pool_size(database_url: str) -> str:
    """A PostgreSQL URL with `maxsize` (POOL_SIZE unless it names its own); others as given."""
    url = urlsplit(database_url)
    if url.scheme not in POSTGRES_SCHEMES or "maxsize" in parse_qs(url.query):
        return database_url
    return urlunsplit(url._replace(query="&".join(filter(None, (url.query,
                                                               f"maxsize={POOL_SIZE}")))))


async def pool_room_warning() -> str | None:
    """PostgreSQL: what to say when this instance's pool may take more connections than the
    server has free now (its `max_connections`, less the reserved ones and those other
    connections hold); None when it fits, and on SQLite. Instances × pool must stay under
    `max_connections`: an instance that cannot get a connection holds its webhooks up."""
    if not is_postgres():
        return None
    connection = Tortoise.get_connection("default")
    [row] = await connection.execute_query_dict(
        "SELECT current_setting('max_connections')::int AS most, "
        "current_setting('superuser_reserved_connections')::int AS reserved, "
        "(SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        "AND backend_type = 'client backend')::int AS taken")
    return pool_room(connection.pool_maxsize, row["most"], row["reserved"], row["taken"])


def pool_room(pool: int, most: int, reserved: int, taken: int) -> str | None:
    free = most - reserved - taken
    if pool <= free:
        return None
    return (f"the database pool may open {pool} connections, but PostgreSQL has {free} free "
            f"(max_connections {most}, {reserved} reserved, {taken} taken by others): "
            "lower ?maxsize= in database_url, or raise max_connections")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or created; the message says which and why."""


async def migrate(database_url: str, inline: bool = False) -> None:
    """Bring the schema up to date (built-in tortoise migrations)."""
    await check_reachable(database_url)
    await run_migrations(config=tortoise_config(database_url, inline))


async def open_database(database_url: str, *, migrate_first: bool = True,
                        inline: bool = False) -> None:
    """Connect, then migrate on the same connection (an in-memory database lives in it)."""
    await check_reachable(database_url)
    make_transaction_entry_cancel_safe()
    await Tortoise.init(config=tortoise_config(database_url, inline))
    if migrate_first:
        await migrate(database_url, inline)


async def check_reachable(database_url: str) -> None:
    """Fail at once with one line rather than a traceback or a wait: an SQLite file in a
    missing folder (SQLite would wait on a lock forever), a PostgreSQL that does not answer."""
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        path = database_url.removeprefix("sqlite://").split("?")[0]
        folder = Path(path).parent
        if path != ":memory:" and not folder.is_dir():
            raise DatabaseUnavailable(f"the SQLite database's folder {folder} does not exist")
        return
    try:
        connection = await asyncpg.connect(
            urlunsplit(url._replace(scheme="postgresql", query="")), timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = f"{url.hostname}:{url.port or 5432}/{url.path.lstrip('/')}"  # no password
        raise DatabaseUnavailable(f"cannot reach PostgreSQL at {where}: {exc}") from None
    await connection.close()


def make_transaction_entry_cancel_safe() -> None:
    """Tortoise takes the connection (SQLite: the one connection's lock; PostgreSQL: a pool
    connection) in `in_transaction().__aenter__` and then awaits BEGIN. A task cancelled
    during that BEGIN (a loop stopped, a shutdown) never reaches `__aexit__`, so the lock or
    connection was never given back: on SQLite every later query waited forever. Here a
    failed entry that got that far is undone by the context's own `__aexit__` (roll back,
    give back), then the cancellation goes on. Idempotent."""
    for context in (SqliteTransactionContext, TransactionContextPooled):
        if not getattr(context.__aenter__, "cancel_safe", False):
            context.__aenter__ = _undone_on_failure(context.__aenter__)


def _undone_on_failure(enter):
    async def __aenter__(self):
        try:
            return await enter(self)
        except BaseException as exc:
            if hasattr(self, "token"):  # set once the connection is held, just before BEGIN
                with contextlib.suppress(Exception):  # a rollback of a BEGIN that never ran
                    await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    __aenter__.cancel_safe = True
    return __aenter__


async def close_database() -> None:
    await Tortoise.close_connections()


# `tortoise -c service.db.TORTOISE_ORM makemigrations` uses this.
TORTOISE_ORM = tortoise_config("sqlite://duban.sqlite3")
