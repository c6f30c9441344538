"""How long one clock tick takes with N matters due at once, and what it writes.

Registers one matter per unit through `register_matter` (the path the console and the CLI
use), copies them in SQL on PostgreSQL to N matters (the same facts, nodes and done clock
actions, so the clock sees N real matters), lets the virtual clock run past the R37 resend
(a busy tick) and then past the 1d deadline (an urge due for every matter). Before the urge
tick, a sample of matters is caught up one at a time (`catch_up`, what every tick did per
matter before the batches): its time per action is printed beside the batched tick's.

    .venv/bin/python bench/clock_tick.py --postgres                 # 10,000 matters
    .venv/bin/python bench/clock_tick.py --quick --postgres         # 1,000 matters
    .venv/bin/python bench/clock_tick.py --matters 300              # in-memory SQLite
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tortoise import Tortoise  # noqa: E402

from dispatch.outbox import is_postgres  # noqa: E402
from models import BoardInitiator, Matter, Person, Role, Unit  # noqa: E402
from scheduler.clock import SHANGHAI, VirtualClock  # noqa: E402
from service.db import close_database, open_database  # noqa: E402
from workflow.chase import catch_up, run_clock  # noqa: E402
from workflow.context import Context  # noqa: E402
from workflow.records import Actor  # noqa: E402
from workflow.service import MatterDraft, register_matter  # noqa: E402

START = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
WRITTEN = ("clock_action", "score_event", "audit_entry", "outbound_message", "message_event",
           "sms_fallback")
MATTER_COLUMNS = ("title, source, board, klass, deadline, approver, approved_on, not_classified, "
                  "state, created_at, assigned_at, initiator_id, lead_id, next_action_at, policy")


async def seed_org(units: int) -> None:
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=ducha, name="陈主任", role=Role.HEAD, phone="+8613900000001")
    await BoardInitiator.create(board="daily", initiator=ducha)
    for u in range(units):
        unit = await Unit.create(key=f"u{u}", name=f"单位{u}")
        for i, role in enumerate((Role.HEAD, Role.OPERATOR_A, Role.OPERATOR_B, Role.DIRECTOR)):
            await Person.create(unit=unit, name=f"人{u}-{i}", role=role,
                                phone=f"+86138{u:04d}{i:04d}")


async def register(ctx: Context, number: int, lead: int) -> Matter:
    return await register_matter(ctx, MatterDraft(
        board="daily", title=f"事项{number}", initiator="ducha", lead=f"u{lead}",
        approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True,
        klass="major" if number % 3 == 0 else "general"), Actor(None, "bench"))


async def copy_matters(template: Matter, copies: int, prefix: str) -> None:
    """`copies` matters like `template` (PostgreSQL): its row, nodes and done actions."""
    connection = Tortoise.get_connection("default")
    await connection.execute_query(
        f"INSERT INTO matter (code, {MATTER_COLUMNS}) SELECT $2 || i, {MATTER_COLUMNS} "
        "FROM matter, generate_series(1, $3) AS i WHERE id = $1", [template.id, prefix, copies])
    for table, columns in (("node", "key, due_at, satisfied_at"),
                           ("clock_action", "key, kind, due_at, done_at, skipped")):
        await connection.execute_query(
            f"INSERT INTO {table} (matter_id, {columns}) SELECT m.id, {columns} FROM {table} t "
            "JOIN matter m ON m.code LIKE $2 || '%' WHERE t.matter_id = $1",
            [template.id, prefix])


async def seed(ctx: Context, matters: int, units: int) -> None:
    """One matter per unit registered, the rest copied (PostgreSQL) or registered (SQLite)."""
    await seed_org(units)
    if not is_postgres():
        for m in range(matters):
            await register(ctx, m, m % units)
        return
    templates = [await register(ctx, u, u) for u in range(min(units, matters))]
    left = matters - len(templates)
    for i, template in enumerate(templates):
        await copy_matters(template, left // len(templates) + (i < left % len(templates)),
                           f"C{template.id}-")


async def rows_written() -> dict[str, int]:
    connection = Tortoise.get_connection("default")
    return {t: (await connection.execute_query_dict(f"SELECT count(*) AS n FROM {t}"))[0]["n"]
            for t in WRITTEN}


async def timed_tick(ctx: Context) -> tuple[float, float, int, dict[str, int]]:
    """Wall time, this process's CPU time (less sensitive to a loaded machine; the rest is
    the database's work and waiting for a core), actions done, rows written."""
    before = await rows_written()
    started, cpu = time.perf_counter(), time.process_time()
    done = await run_clock(ctx)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = await rows_written()
    return elapsed, cpu, done, {t: after[t] - before[t] for t in WRITTEN}


async def one_at_a_time(ctx: Context, sample: int) -> tuple[float, int]:
    """Catch `sample` due matters up one by one, as ticks did before the batches."""
    due = await Matter.filter(next_action_at__lte=ctx.clock.now()).order_by("id").limit(sample)
    started = time.perf_counter()
    done = sum([await catch_up(ctx, matter) for matter in due])
    return time.perf_counter() - started, done


def tick_line(name: str, elapsed: float, cpu: float, done: int, written: dict[str, int]
              ) -> str:
    per = f"{1000 * elapsed / done:.2f} ms/action" if done else "-"
    rows = ", ".join(f"{t} {n}" for t, n in written.items() if n)
    return (f"{name}: {elapsed:.2f} s ({cpu:.2f} s CPU in duban), {done} actions, {per}; "
            f"rows written: {rows}")


async def run(matters: int, units: int, sample: int, database: str) -> None:
    await open_database(database)
    clock = VirtualClock(START)
    ctx = Context(clock=clock)
    started = time.perf_counter()
    await seed(ctx, matters, units)
    print(f"{matters} matters for {units} units seeded in {time.perf_counter() - started:.1f} s"
          f" ({'PostgreSQL' if is_postgres() else database})")
    clock.set(START + timedelta(hours=5))  # past the R37 resend: one busy tick
    print(tick_line("resend tick (R37)", *await timed_tick(ctx)))
    idle = min([(await timed_tick(ctx))[0] for _ in range(3)])
    print(f"idle tick (nothing due): {1000 * idle:.1f} ms")
    clock.set(START + timedelta(hours=27))  # 1d deadline + 3 h: an urge for every matter
    alone, alone_done = await one_at_a_time(ctx, sample)
    elapsed, cpu, done, written = await timed_tick(ctx)
    print(tick_line("urge tick (batched)", elapsed, cpu, done, written))
    if alone_done and done:
        batched, single = elapsed / done, alone / alone_done
        print(f"one matter at a time (catch_up, {sample} matters first): "
              f"{1000 * single:.2f} ms/action; batched {single / batched:.1f}x faster per action")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    await close_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matters", type=int, default=10000)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--sample", type=int, default=200,
                        help="matters caught up one at a time for the old figure")
    parser.add_argument("--database", default="sqlite://:memory:")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--quick", action="store_true", help="1,000 matters")
    args = parser.parse_args()
    database = args.database
    if args.postgres:
        from bench.common import fresh_database

        database = asyncio.run(fresh_database("bench_b_tick"))
    asyncio.run(run(1000 if args.quick else args.matters, args.units, args.sample, database))


if __name__ == "__main__":
    main()
