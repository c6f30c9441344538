"""A tortoise engine for a private in-memory SQLite database whose statements run on the
event loop's own thread.

aiosqlite runs every statement on a worker thread and hands the result back through the
loop: two thread switches per statement. `duban simulate` runs a year of the production
path on a database nobody else shares, one step after another, so those switches were about
half of its wall time and bought nothing. Here the same aiosqlite API runs its calls inline.
Only `duban simulate` uses it: a serving process must never block its loop on a statement.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

import aiosqlite
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite.client import SqliteClient

ENGINE = __name__


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection whose calls run on the caller's thread, no worker thread."""

    async def _execute(self, fn, *args, **kwargs):
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self):
        return self._connect().__await__()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class InlineSqliteClient(SqliteClient):
    """Tortoise's SQLite client on an `InlineConnection`, with the same pragmas."""

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        connector = partial(sqlite3.connect, self.filename, isolation_level=None)
        self._connection = await InlineConnection(connector, iter_chunk_size=64)
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            self._connection._conn.execute(f"PRAGMA {pragma}={value}")
        await self._post_connect()


def connection(database_url: str) -> dict[str, Any]:
    """The tortoise connection settings of an SQLite URL, on this engine."""
    return {**expand_db_url(database_url), "engine": ENGINE}


client_class = InlineSqliteClient
