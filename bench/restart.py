"""A restart never blocks sending: with N open matters on PostgreSQL, how soon after `duban
serve` starts the first message reaches a loopback SMSC.

Seeds N open matters (one per unit registered through `register_matter`, the rest copied in
SQL with their nodes and done clock actions; their next moments are hours away), then
registers one matter a day old, last (the highest id), whose urge is due. Every message of
the seeding counts as sent, so the first submit the SMSC sees is that urge. Then starts a
real `duban serve` and times spawn → first submit_sm.

With `--forgotten`, a second start in the same run first sets every open matter's
`next_action_at` to NULL, as `serve` did at each start before (every matter replanned,
`REPLAN_CHUNK` a tick, the due matter last): the old behaviour beside the new.

    .venv/bin/python bench/restart.py                      # 100,000 open matters
    .venv/bin/python bench/restart.py --quick --forgotten  # 10,000, and the old start
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.clock_tick import copy_matters, register, seed_org  # noqa: E402
from bench.common import (  # noqa: E402
    Smsc,
    arguments,
    free_port,
    fresh_database,
    start_serve,
    stop,
)
from models import Matter, MessageStatus, OutboundMessage, YearEndList  # noqa: E402
from scheduler.clock import VirtualClock  # noqa: E402
from scheduler.rules import year_end_lists  # noqa: E402
from service.db import close_database, open_database  # noqa: E402
from workflow.context import Context  # noqa: E402
from workflow.states import OPEN  # noqa: E402

UNITS = 50


async def seed(url: str, matters: int) -> None:
    await open_database(url)
    now = datetime.now(UTC)
    ctx = Context(clock=VirtualClock(now - timedelta(minutes=10)))
    await seed_org(UNITS)
    templates = [await register(ctx, u, u) for u in range(UNITS)]
    left = matters - 1 - len(templates)  # and the due matter
    for i, template in enumerate(templates):
        await copy_matters(template, left // UNITS + (i < left % UNITS), f"C{template.id}-")
    await YearEndList.bulk_create([YearEndList(key=key, done_at=now)  # R23: not this bench's
                                   for key, _ in year_end_lists(now, now)])
    await close_database()


async def add_due_matter(url: str, *, forget: bool = False) -> None:
    """A matter a day old, with the highest id, its urge due; every message so far counts as
    sent. `forget`: then every open matter's next moment is forgotten, as `serve` did at
    each start before."""
    await open_database(url)
    ctx = Context(clock=VirtualClock(datetime.now(UTC) - timedelta(hours=28)))
    await register(ctx, await Matter.all().count(), 0)  # 1d deadline 4 h ago
    await OutboundMessage.all().update(status=MessageStatus.DELIVERED)
    if forget:
        await Matter.filter(state__in=list(OPEN)).update(next_action_at=None)
    await close_database()


def first_message(url: str, wait: float) -> tuple[float | None, float | None]:
    """Seconds from spawning `duban serve` to its /healthz answering and to the SMSC's first
    submit_sm (None: not within `wait`)."""
    smsc = Smsc()
    log = Path(tempfile.gettempdir()) / "bench_restart_serve.log"
    port = free_port()
    started = time.monotonic()
    serve = start_serve(url, smsc.port, log=log, DUBAN_PORT=str(port))
    listening = None
    try:
        while time.monotonic() - started < wait:
            if listening is None and answers(f"http://127.0.0.1:{port}/healthz"):
                listening = time.monotonic() - started
            first = smsc.report()["first"]
            if first:
                return listening, first - started
            time.sleep(0.05)
        return listening, None
    finally:
        stop(serve)
        smsc.close()


def answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(address, timeout=0.5):
            return True
    except (OSError, urllib.error.HTTPError):
        return False


def main() -> None:
    parser = arguments(__doc__, "10,000 open matters")
    parser.add_argument("--matters", type=int, default=100_000)
    parser.add_argument("--forgotten", action="store_true",
                        help="also start with every next moment forgotten (the old start)")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for a submit")
    args = parser.parse_args()
    matters = 10_000 if args.quick else args.matters
    url = asyncio.run(fresh_database("bench_b_restart"))
    started = time.perf_counter()
    asyncio.run(seed(url, matters))
    asyncio.run(add_due_matter(url))
    print(f"{matters:,} open matters seeded in {time.perf_counter() - started:.0f} s")
    listening, kept = first_message(url, args.wait)
    print(f"start with next moments kept (now): first message {text(kept, args.wait)} after "
          f"spawn; /healthz answered after {text(listening, args.wait)}")
    if args.forgotten:
        asyncio.run(add_due_matter(url, forget=True))
        listening, old = first_message(url, args.wait)
        ratio = f" ({old / kept:.0f}x)" if old and kept else ""
        print(f"start with next moments forgotten (before): first message "
              f"{text(old, args.wait)} after spawn{ratio}; /healthz answered after "
              f"{text(listening, args.wait)}")


def text(seconds: float | None, wait: float) -> str:
    return f"{seconds:.2f} s" if seconds is not None else f"not within {wait:.0f} s"


if __name__ == "__main__":
    main()
