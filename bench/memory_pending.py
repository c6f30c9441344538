"""P4: resident memory of `duban serve` with 1,000,000 pending rows on PostgreSQL, beside the
same number of reminders held as APScheduler jobs, measured in the same run.

    .venv/bin/python bench/memory_pending.py [--rows 1000000] [--jobs 1000000] [--quick]

The rows are due tomorrow, so the dispatcher loop holds none of them: memory must not grow
with the backlog. `--quick` uses 200,000 rows and 100,000 jobs and extrapolates the jobs'
memory linearly to the rows' number (printed as such).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Smsc, arguments, fresh_database, rss_mib, seed_due_rows, start_serve, stop  # noqa: E402

JOBS = """
import asyncio, sys, datetime, os
from apscheduler.schedulers.asyncio import AsyncIOScheduler
sys.path.insert(0, {repo!r})
from bench.common import rss_mib
from bench.memory_pending import remind

async def main(n):
    base = rss_mib(os.getpid())
    scheduler = AsyncIOScheduler()
    scheduler.start()
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    for i in range(n):
        scheduler.add_job(remind, "date", run_date=at, args=[i, "+86138%08d" % i],
                          id=str(i))
    print(base, rss_mib(os.getpid()), flush=True)

asyncio.run(main(int(sys.argv[1])))
"""


async def remind(number: int, phone: str) -> None:
    """What one APScheduler job would run (never, here)."""


def jobs_rss(jobs: int) -> tuple[float, float]:
    repo = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", JOBS.format(repo=repo), str(jobs)],
                          capture_output=True, text=True, timeout=600, check=True)
    before, after = map(float, done.stdout.split())
    return before, after


async def serve_rss(rows: int, settle: float) -> tuple[float, float]:
    url = await fresh_database("bench_f_memory")
    await seed_due_rows(url, rows, due="now() + interval '1 day'")
    smsc = Smsc()
    log = Path(tempfile.gettempdir()) / "bench_memory_serve.log"
    serve = start_serve(url, smsc.port, log=log, DUBAN_POLL_SECONDS="1")
    try:
        time.sleep(settle)  # ticks and dispatcher loop cycles have run meanwhile
        rss = rss_mib(serve.pid)
        peak = rss_mib(serve.pid, "VmHWM")
    finally:
        stop(serve)
        smsc.close()
    return rss, peak


def main() -> None:
    parser = arguments(__doc__, "200,000 rows, 100,000 jobs")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--settle", type=float, default=15.0)
    args = parser.parse_args()
    rows, jobs = (200_000, 100_000) if args.quick else (args.rows, args.jobs)
    rss, peak = asyncio.run(serve_rss(rows, args.settle))
    before, after = jobs_rss(jobs)
    per_job = (after - before) / jobs
    print(f"duban serve with {rows:,} pending rows: RSS {rss:.0f} MiB, peak {peak:.0f} MiB "
          f"after {args.settle:.0f} s (P4 goal < 200 MB)")
    print(f"APScheduler, {jobs:,} date jobs in memory: +{after - before:.0f} MiB "
          f"({per_job * 1024:.2f} KiB a job; {per_job * rows:.0f} MiB for {rows:,} and "
          f"{per_job * 1_000_000:.0f} MiB for 1,000,000, extrapolated)")


if __name__ == "__main__":
    main()
