"""P5: `duban simulate`'s private database runs its statements on the loop's own thread
(service/inline_sqlite.py), with the same transactions as aiosqlite's worker thread.

Each case opens its own database in a subprocess: the suite's session database stays open
in this process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, json, sys, threading
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction
from models import Unit
from service.db import close_database, open_database

async def main(inline):
    before = threading.active_count()
    await open_database("sqlite://:memory:", inline=inline)
    await Unit.create(key="kept", name="甲")
    try:
        async with in_transaction():
            await Unit.create(key="undone", name="乙")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    try:
        await Unit.create(key="kept", name="重复")
    except IntegrityError:
        duplicate = "refused"
    threads = threading.active_count() - before
    keys = sorted(await Unit.all().values_list("key", flat=True))
    await close_database()
    print(json.dumps({"keys": keys, "duplicate": duplicate, "threads": threads}))

asyncio.run(main(sys.argv[1] == "inline"))
"""


def run(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_p5_the_simulation_database_runs_statements_without_a_worker_thread():
    inline, threaded = run("inline"), run("threaded")
    assert inline == {"keys": ["kept"], "duplicate": "refused", "threads": 0}
    # The same script on tortoise's own engine starts aiosqlite's thread: the count above
    # would catch the inline engine falling back to it.
    assert threaded == {"keys": ["kept"], "duplicate": "refused", "threads": 1}
