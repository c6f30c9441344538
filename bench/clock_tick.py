"""How long one clock tick takes with N open matters, and the memory it needs.

Every tick recomputes each open matter's timeline (scheduler.rules.plan) and carries out
what is due. This registers N matters on in-memory SQLite (or --database), lets the
virtual clock run past their first reminders so there is work, then times idle ticks
(nothing due: the steady state) and a busy tick (urges due for every matter).

    .venv/bin/python bench/clock_tick.py --matters 10000 --postgres
    .venv/bin/python bench/clock_tick.py --quick --postgres     # 300 matters, under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dispatch.outbox import is_postgres
from models import BoardInitiator, Person, Role, Unit
from scheduler.clock import SHANGHAI, VirtualClock
from service.app import CLOCK_PARALLEL
from service.db import close_database, open_database
from workflow.chase import run_clock
from workflow.context import Context
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

START = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


async def seed(ctx: Context, matters: int, units: int) -> None:
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=ducha, name="陈主任", role=Role.HEAD, phone="+8613900000001")
    await BoardInitiator.create(board="daily", initiator=ducha)
    for u in range(units):
        unit = await Unit.create(key=f"u{u}", name=f"单位{u}")
        for i, role in enumerate((Role.HEAD, Role.OPERATOR_A, Role.OPERATOR_B, Role.DIRECTOR)):
            await Person.create(unit=unit, name=f"人{u}-{i}", role=role,
                                phone=f"+86138{u:04d}{i:04d}")
    for m in range(matters):
        await register_matter(ctx, MatterDraft(
            board="daily", title=f"事项{m}", initiator="ducha", lead=f"u{m % units}",
            approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True,
            klass="major" if m % 3 == 0 else "general"), Actor(None, "bench"))


async def timed_tick(ctx: Context) -> tuple[float, int]:
    started = time.perf_counter()
    done = await run_clock(ctx, parallel=CLOCK_PARALLEL if is_postgres() else 1)
    return time.perf_counter() - started, done


async def run(matters: int, units: int, database: str) -> None:
    await open_database(database)
    clock = VirtualClock(START)
    ctx = Context(clock=clock)
    started = time.perf_counter()
    await seed(ctx, matters, units)
    print(f"registered {matters} matters for {units} units in "
          f"{time.perf_counter() - started:.1f} s")
    clock.set(START + timedelta(hours=5))  # past the R37 resend: one busy tick
    busy, done = await timed_tick(ctx)
    idle = [await timed_tick(ctx) for _ in range(3)]
    clock.set(START + timedelta(hours=27))  # 1d deadline + 3 h: an urge for every matter
    tracemalloc.start()
    urge, urged = await timed_tick(ctx)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await close_database()
    print(f"busy tick (R37 resends): {busy:.2f} s, {done} actions")
    print(f"idle tick (nothing due):  {1000 * min(t for t, _ in idle):.1f} ms")
    print(f"urge tick:                {urge:.2f} s, {urged} actions; "
          f"peak traced {peak / 2**20:.1f} MiB")
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matters", type=int, default=1000)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--database", default="sqlite://:memory:")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--quick", action="store_true", help="300 matters")
    args = parser.parse_args()
    database = args.database
    if args.postgres:
        from bench.common import fresh_database

        database = asyncio.run(fresh_database("bench_f_tick"))
    asyncio.run(run(300 if args.quick else args.matters, args.units, database))


if __name__ == "__main__":
    main()
