"""Helpers of the dispatch tests: a scripted channel, seed data, and the `duban serve`
subprocesses of the restart and two-instance tests.

Run as a module it seeds a database of its own (the test process keeps its own tortoise
connection): `python -m tests.dispatch.support seed DATABASE_URL COUNT`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dispatch.channel import FailureKind, Outgoing, SendResult
from models import MessageEvent, OutboundMessage, Person, Role, Unit

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ScriptedChannel:
    """A channel that answers what its script says and remembers every message it saw.

    `answers` are used in turn (the last one repeats); an answer that is an exception is
    raised, a callable is called with the message."""

    name: str
    answers: list[Any] = field(default_factory=list)
    idempotent: bool = False
    sent: list[Outgoing] = field(default_factory=list)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]:
        return {"kind": "scripted"}

    async def send(self, message: Outgoing) -> SendResult:
        self.sent.append(message)
        answer = self.answers[min(len(self.sent), len(self.answers)) - 1] if self.answers \
            else SendResult.sent(f"{self.name}-{message.message_id}-{len(self.sent)}")
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            answer = answer(message)
            if asyncio.iscoroutine(answer):
                answer = await answer
        return answer

    def ids(self) -> list[int]:
        return [m.message_id for m in self.sent]


def ok(message: Outgoing) -> SendResult:
    return SendResult.sent(f"ok-{message.message_id}")


def retryable(detail: str = "busy", retry_after: float | None = None) -> SendResult:
    return SendResult.failed(FailureKind.RETRYABLE, detail, retry_after)


def permanent(detail: str = "no such number") -> SendResult:
    return SendResult.failed(FailureKind.PERMANENT, detail)


def unknown(detail: str = "timed out after submit") -> SendResult:
    return SendResult.failed(FailureKind.UNKNOWN, detail)


def remind_context(number: int) -> dict[str, Any]:
    return {"code": f"DB{number:04d}", "title": f"第{number}号督办事项", "node": "3d",
            "deadline": "2026-11-25 17:00", "reason": None, "number": number}


async def make_people(count: int, *, phone: bool = True, telegram: bool = True,
                      start: int | None = None) -> list[Person]:
    """`count` new people (numbered on from those there are), by default on both channels."""
    unit, _ = await Unit.get_or_create(key="u1", defaults={"name": "区住建局"})
    if start is None:
        start = await Person.all().count()
    people = []
    for i in range(start, start + count):
        people.append(await Person.create(
            unit=unit, name=f"人员{i}", role=Role.OPERATOR_A,
            phone=f"+86138{i:08d}" if phone else None,
            telegram_chat_id=700000 + i if telegram else None))
    return people


async def history(row: OutboundMessage | int) -> list[str]:
    """The statuses a row went through, in order."""
    row_id = row if isinstance(row, int) else row.id
    return list(await MessageEvent.filter(message_id=row_id).order_by("id")
                .values_list("status", flat=True))


async def seed(database_url: str, count: int) -> None:
    """`count` due outbound rows (half SMS, half messenger) in a freshly migrated database."""
    from tortoise.transactions import in_transaction

    from dispatch.outbox import enqueue
    from scheduler.clock import SystemClock
    from service.db import close_database, open_database

    await open_database(database_url)
    try:
        now = SystemClock().now()
        async with in_transaction():  # one commit: quick on a SQLite file too
            people = await make_people((count + 1) // 2)
            made = 0
            for i, person in enumerate(people):
                only = "sms" if made == count - 1 else None
                rows = await enqueue(kind="remind", people=[person], context=remind_context(i),
                                     due_at=now - timedelta(minutes=1), now=now,
                                     only_channel=only, dedup=f"seed:{i}")
                made += len(rows)
        assert made == count, made
    finally:
        await close_database()


# --- `duban serve` subprocesses ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**settings: str) -> dict[str, str]:
    """The environment of a child: ours without any DUBAN_* setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_seed(database_url: str, count: int, timeout: float = 120) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.dispatch.support", "seed", database_url,
                           str(count)], cwd=REPO, env=clean_env(), timeout=timeout,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"seeding failed:\n{done.stderr[-3000:]}"


def duban_command() -> list[str]:
    """`duban` (the console script's entry point), run from this checkout."""
    return [sys.executable, "-m", "service.cli"]


@dataclass
class Server:
    """One `duban serve` child process and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def start_server(name: str, database_url: str, log_dir: Path, *, poll: float = 0.2,
                 lease: float = 2.0) -> Server:
    log = log_dir / f"{name}.log"
    env = clean_env(DUBAN_DATABASE_URL=database_url, DUBAN_POLL_SECONDS=str(poll),
                    DUBAN_CLAIM_SECONDS=str(lease), DUBAN_INSTANCE=name,
                    DUBAN_PORT=str(free_port()), DUBAN_CONSOLE__PORT=str(free_port()),
                    DUBAN_SMS__PROVIDER="dev",
                    DUBAN_DEVELOPMENT="1")  # the dev channel exists only in development mode
    with log.open("ab") as out:
        process = subprocess.Popen([*duban_command(), "serve"], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, process, log)


def stop_all(servers: Iterable[Server]) -> None:
    for server in servers:
        try:
            server.stop(timeout=5)
        except Exception:  # cleanup goes on for the others
            server.process.kill()


# --- a database of their own for the children, read with plain SQL -----------------------


@asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path, admin_url: str, name: str
                         ) -> AsyncIterator[str]:
    """A new, empty database: a SQLite file, or a PostgreSQL database created next to the
    test database (`admin_url`) and dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite://{tmp_path / f'{name}.sqlite3'}"
        return
    import asyncpg

    dbname = f"{name}_{os.getpid()}"
    admin = await asyncpg.connect(pg_dsn(admin_url), timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{dbname}"')
        parts = urlsplit(admin_url)
        yield urlunsplit(parts._replace(path=f"/{dbname}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()


class Probe:
    """Reads the database the children use, with plain SQL (one connection, kept open)."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.pg: Any = None

    async def __aenter__(self) -> Probe:
        if not self.url.startswith("sqlite://"):
            import asyncpg

            self.pg = await asyncpg.connect(pg_dsn(self.url), timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pg is not None:
            await self.pg.close()

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.pg is None:
            path = self.url.removeprefix("sqlite://")
            return await asyncio.to_thread(sqlite_rows, path, sql)
        return [tuple(r) for r in await self.pg.fetch(sql)]

    async def value(self, sql: str) -> Any:
        return (await self.rows(sql))[0][0]

    async def statuses(self) -> dict[str, int]:
        return dict(await self.rows(
            "SELECT status, count(*) FROM outbound_message GROUP BY status"))

    async def delivered(self) -> int:
        return await self.value("SELECT count(*) FROM dev_delivery")

    async def in_flight(self) -> int:
        """Rows not finished yet: pending, claimed or sending."""
        return await self.value("SELECT count(*) FROM outbound_message "
                                "WHERE status IN ('pending', 'claimed', 'sending')")

    async def events(self) -> dict[int, list[tuple[str, str]]]:
        """Every row's history, in order: (status, detail)."""
        found: dict[int, list[tuple[str, str]]] = {}
        for message_id, status, detail in await self.rows(
                "SELECT message_id, status, detail FROM message_event ORDER BY id"):
            found.setdefault(message_id, []).append((status, detail))
        return found


def sqlite_rows(path: str, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def pg_dsn(url: str) -> str:
    for prefix in ("postgres://", "asyncpg://", "psql://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


async def until(check: Callable[[], Awaitable[Any]], timeout: float, interval: float = 0.05,
                what: str = "condition", progress: Callable[[], Awaitable[Any]] | None = None,
                stall: float = 30.0) -> Any:
    """Await `check()` until it is truthy; fail after `timeout` seconds, or sooner when
    `progress()` has not changed for `stall` seconds."""
    started = last_change = time.monotonic()
    seen: Any = None
    while True:
        result = await check()
        if result:
            return result
        now = time.monotonic()
        if progress is not None:
            value = await progress()
            if value != seen:
                seen, last_change = value, now
            elif now - last_change > stall:
                raise TimeoutError(f"{what}: no progress for {stall:.0f} s (stuck at {value})")
        if now - started > timeout:
            raise TimeoutError(f"{what}: not reached within {timeout} s")
        await asyncio.sleep(interval)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "seed":
        asyncio.run(seed(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit("usage: python -m tests.dispatch.support seed DATABASE_URL COUNT")


Check = Callable[[Probe, str, Path, list[Server], set[int]], Awaitable[None]]


async def with_seeded_servers(backend: str, tmp_path: Path, prefix: str, rows: int,
                              check: Check) -> None:
    """A fresh database seeded with `rows` due messages; `check` starts servers (appending
    them to the list) and asserts. Servers are always stopped; their logs are shown when
    the check fails."""
    from tests.conftest import TEST_DATABASE

    servers: list[Server] = []
    async with fresh_database(backend, tmp_path, TEST_DATABASE, prefix) as url:
        run_seed(url, rows)
        try:
            async with Probe(url) as probe:
                ids = {i for (i,) in await probe.rows("SELECT id FROM outbound_message")}
                assert len(ids) == rows and await probe.statuses() == {"pending": rows}
                await check(probe, url, tmp_path, servers, ids)
        except BaseException:
            for server in servers:
                print(f"--- {server.name} (exit {server.process.poll()}) ---\n"
                      f"{server.log_tail()}")
            raise
        finally:
            stop_all(servers)
