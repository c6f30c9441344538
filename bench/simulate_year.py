"""P5: `duban simulate` of a year with 1,000 matters (goal < 30 s), timed as a user runs it.

    .venv/bin/python bench/simulate_year.py [--matters 1000] [--days 365] [--quick]

Ten units; every matter is replied to once (acknowledged) and otherwise left to the clock,
so the year is full of reminders, urges and escalations. `--quick` runs 20 matters.

Beside the time it prints, measured in the same run, what one ORM query on in-memory SQLite
costs on this machine now (the simulation's unit of work: it runs the production path, about
25 statements per clock moment), so figures from a busy machine can be compared; and the CPU seconds the run used.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import arguments  # noqa: E402

START = datetime.fromisoformat("2026-01-05T09:00:00+08:00")


def scenario(matters: int, days: int) -> dict:
    units = [{"id": f"u{u}", "name": f"单位{u}",
              "head": {"name": f"负责人{u}", "phone": f"1380000{u:04d}"},
              "operators": [{"name": f"经办{u}", "phone": f"1381000{u:04d}"}]}
             for u in range(10)]
    units.append({"id": "ducha", "name": "区政府督查室",
                  "head": {"name": "陈主任", "phone": "13900000001"},
                  "operators": [{"name": "周干事", "phone": "13900000002"}]})
    items, events = [], []
    for m in range(matters):
        created = START + timedelta(minutes=m)
        items.append({"code": f"D{m + 1}", "board": "daily",
                      "class": "major" if m % 3 == 0 else "general", "title": f"督办事项{m}",
                      "initiator": "ducha", "lead": f"u{m % 10}",
                      "created_at": created.isoformat()})
        events.append({"at": (created + timedelta(hours=2)).isoformat(), "channel": "sms",
                       "from": f"1381000{m % 10:04d}", "text": f"D{m + 1} 收到"})
    return {"units": units, "matters": items, "events": events,
            "until": (START + timedelta(days=days)).isoformat()}


async def query_cost(count: int = 2000) -> float:
    """Seconds per ORM query on a fresh in-memory SQLite database, as the simulation runs."""
    from models import Matter
    from service.db import close_database, open_database

    await open_database("sqlite://:memory:")
    try:
        started = time.perf_counter()
        for _ in range(count):
            await Matter.filter(next_action_at__isnull=False).order_by("next_action_at").first()
        return (time.perf_counter() - started) / count
    finally:
        await close_database()


def main() -> None:
    parser = arguments(__doc__, "20 matters")
    parser.add_argument("--matters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    matters = 20 if args.quick else args.matters
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(scenario(matters, args.days), file, ensure_ascii=False)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "service.cli", "simulate", file.name],
                          cwd=REPO, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - started
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = child.ru_utime + child.ru_stime  # on a shared machine: what the run itself used
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    lines = done.stdout.count("\n")
    query = asyncio.run(query_cost())
    print(f"duban simulate: {matters} matters, {args.days} days: {elapsed:.1f} s "
          f"({cpu:.1f} s of CPU), "
          f"{lines:,} output lines (P5 goal: 1,000 matters, a year, < 30 s); "
          f"one ORM query on in-memory SQLite in the same run: {query * 1000:.2f} ms, "
          f"so the run took {elapsed / query:,.0f} query-times")


if __name__ == "__main__":
    main()
