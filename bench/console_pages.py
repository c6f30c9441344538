"""Server time of the console's heaviest pages: the overview and the matters list with
100,000 matters (first page, a unit's view, a light filter, a title search, the next page)
and the detail page of a matter with 500 timeline entries. The time is the app's own (its Server-Timing header),
over a real loopback HTTP connection: wall time, and the handler's CPU time (the Python work
alone, steadier than the wall time on a shared machine). Goal: under 100 ms each on PostgreSQL.

    .venv/bin/python bench/console_pages.py --database postgres://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/console_pages.py --quick      # 20,000 matters, on in-memory SQLite

The database is emptied first: never point it at one you need.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import aiohttp
from aiohttp import web
from tortoise import Tortoise

from console.app import build_console_app
from console.auth import open_session
from models import (
    AuditEntry,
    BoardInitiator,
    InboundMessage,
    MessageEvent,
    OutboundMessage,
    Person,
    Role,
    Unit,
)
from scheduler.clock import SHANGHAI, VirtualClock
from service.app import build_service
from service.config import Settings
from service.db import close_database, open_database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
UNITS = 100
BATCH = 5000
STATES = ["assigned", "acknowledged", "in_progress", "supervised", "closed"]


async def fresh(database: str) -> None:
    """A PostgreSQL bench database is dropped and created again; SQLite in memory is new."""
    if not database.startswith(("postgres://", "asyncpg://", "psql://")):
        return
    import asyncpg

    server, name = database.rsplit("/", 1)
    conn = await asyncpg.connect(server.split("://", 1)[1].join(("postgresql://", "/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def sql(text: str, postgres: bool) -> str:
    """Positional parameters: $1.. on PostgreSQL, ? on SQLite."""
    if not postgres:
        return text
    parts = text.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


async def seed(matters: int) -> Person:
    conn = Tortoise.get_connection("default")
    postgres = conn.capabilities.dialect == "postgres"
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    await BoardInitiator.create(board="daily", initiator=ducha)
    supervisor = await Person.create(unit=ducha, name="陈督办", role=Role.SUPERVISOR,
                                     phone="+8613900000002")
    units = [await Unit.create(key=f"u{u}", name=f"单位{u}") for u in range(UNITS)]
    start = NOW.astimezone(UTC) - timedelta(days=400)
    matter_sql = sql("INSERT INTO matter (code, title, source, board, klass, initiator_id, "
                     "lead_id, approver, approved_on, not_classified, state, created_at, "
                     "assigned_at) VALUES (?,?,'','daily','general',?,?,'张副区长',?,?,?,?,?)",
                     postgres)
    node_sql = sql("INSERT INTO node (matter_id, key, due_at, satisfied_at) VALUES (?,?,?,?)",
                   postgres)
    for first in range(1, matters + 1, BATCH):
        rows, nodes = [], []
        for m in range(first, min(first + BATCH, matters + 1)):
            at = start + timedelta(minutes=5 * m * 100_000 // matters)
            rows.append((f"D{m}", f"事项{m} 清理河道垃圾第{m % 977}段", ducha.id,
                         units[m % UNITS].id, date(2026, 1, 1), True, STATES[m % 5], at, at))
            for key, days in (("1d", 1), ("3d", 3), ("7d", 7)):
                due = at + timedelta(days=days)
                nodes.append((m, key, due, at if m % 4 else None))
        await conn.execute_many(matter_sql, rows)
        await conn.execute_many(node_sql, nodes)
    await conn.execute_script("ANALYZE")  # what autovacuum does after a bulk load
    return supervisor


async def long_timeline(code_id: int, entries: int) -> None:
    """One matter with `entries` timeline entries: audit rows, messages with their status
    history, and inbound replies, in equal parts."""
    at = NOW - timedelta(days=30)
    third = entries // 3
    await AuditEntry.bulk_create([AuditEntry(matter_id=code_id, actor_label="clock",
                                             channel="clock", action="urge", at=at,
                                             detail={}) for _ in range(third)])
    for i in range(third):
        row = await OutboundMessage.create(matter_id=code_id, kind="urge", channel="sms",
                                           address="+8613800000002", context={},
                                           text=f"催办第{i}次", status="delivered", due_at=at,
                                           created_at=at)
        await MessageEvent.bulk_create([MessageEvent(message=row, status=s, at=at)
                                        for s in ("pending", "sending", "submitted",
                                                  "delivered")])
    await InboundMessage.bulk_create([InboundMessage(
        channel="sms", sender="+8613800000002", text=f"D1 进展 第{i}次", received_at=at,
        matter_id=code_id, status="done", outcome="progress") for i in range(entries - 2 * third)])


async def timings(base: str, cookie: str, path: str, repeat: int) -> list[tuple[float, float]]:
    """(wall ms, CPU ms) of each request, from its Server-Timing header."""
    found = []
    async with aiohttp.ClientSession(cookies={"duban_session": cookie}) as client:
        for _ in range(repeat):
            async with client.get(base + path, allow_redirects=False) as response:
                assert response.status == 200, (path, response.status)
                await response.read()
                app, cpu = response.headers["Server-Timing"].split(", ")
                found.append((float(app.split("dur=")[1]), float(cpu.split("dur=")[1])))
    return found


async def run(database: str, matters: int, entries: int, repeat: int) -> None:
    await fresh(database)
    await open_database(database)
    started = time.perf_counter()
    supervisor = await seed(matters)
    await long_timeline(1, entries)
    unit_person = await Person.create(unit_id=(await Unit.get(key="u1")).id, name="李一",
                                      role=Role.OPERATOR_A, phone="+8613800000002")
    print(f"seeded {matters} matters, {3 * matters} nodes, a {entries}-entry timeline in "
          f"{time.perf_counter() - started:.1f} s ({database.split('://')[0]})")
    service = build_service(Settings(database_url=database), clock=VirtualClock(NOW))
    runner = web.AppRunner(build_console_app(service))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    boss = (await open_session(supervisor, NOW, 1)).token
    unit = (await open_session(unit_person, NOW, 1)).token
    pages = [("overview (counts per board, lights)", boss, "/"),
             ("matters list, first page", boss, "/matters"),
             ("matters list, next page", boss, f"/matters?after={matters // 2}"),
             ("matters list, a unit's own", unit, "/matters"),
             ("matters list, light=yellow", boss, "/matters?light=yellow"),
             ("matters list, board+state", boss, "/matters?board=daily&state=supervised"),
             ("matters list, title search", boss, "/matters?q=第976段"),
             (f"detail, {entries} timeline entries", boss, "/matters/D1")]
    print(f"{'page':40} {'median ms':>10} {'max ms':>8} {'CPU ms':>8}")
    for name, cookie, path in pages:
        wall, cpu = zip(*await timings(base, cookie, path, repeat), strict=True)
        print(f"{name:40} {statistics.median(wall):>10.1f} {max(wall):>8.1f} "
              f"{statistics.median(cpu):>8.1f}")
    await runner.cleanup()
    await close_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="sqlite://:memory:")
    parser.add_argument("--matters", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20,000 matters, 3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.matters, args.repeat = 20_000, 3
    asyncio.run(run(args.database, args.matters, args.entries, args.repeat))


if __name__ == "__main__":
    main()
