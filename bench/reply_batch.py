"""Issue 10: the reply worker's batches against one message at a time, in the same run.

    .venv/bin/python bench/reply_batch.py [--replies 2000] [--matters 500] [--units 50]
        [--quick]

PostgreSQL (a fresh database), the organisation of `bench/inbound_webhook.py` (`--units`
units, 50 by default, one operator replying each, the matters spread over them: a batch
holds one message a sender, so at most that many). `--replies` progress reports ("D… 进展 …",
cycling over the matters) are stored raw, as the webhooks store them; then the reply worker
(`ReplyWorker.run_once`: batches of up to 250 senders) parses, applies and answers them. The
same replies are then stored again and processed one message at a time (`Inbox.drain`, a
sender after another: the path before the batches and `duban simulate`'s). Printed for
each: replies/s, CPU milliseconds and statements a reply. The dispatcher does not run: the
answers stay queued, so this is the worker alone.
"""

from __future__ import annotations

import asyncio
import sys
import time
from itertools import cycle
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import arguments, fresh_database  # noqa: E402
from bench.inbound_webhook import seed  # noqa: E402
from dispatch.channel import InboundText  # noqa: E402
from tests.statements import counted  # noqa: E402


async def run(replies: int, matters: int, units: int) -> None:
    from replies.inbound import Inbox
    from replies.worker import ReplyWorker
    from scheduler.clock import SystemClock
    from service.db import close_database, open_database
    from workflow.context import Context

    url = await fresh_database("bench_f_reply_batch")
    pairs = await seed(url, matters, units=min(units, matters))
    await open_database(url)
    try:
        inbox = Inbox(Context(clock=SystemClock()), later=True)
        worker = ReplyWorker(inbox, database_url=url)

        async def batches() -> int:
            return await worker.run_once()

        async def one_by_one() -> int:
            senders = dict.fromkeys(phone for _, phone in pairs)
            return sum([await inbox.drain("sms", phone) for phone in senders])

        for label, process in (("in batches (the reply worker)", batches),
                               ("one message at a time", one_by_one)):
            await inbox.store_waiting([
                InboundText("sms", phone, f"{code} 进展 {label}第{n}项", f"{label}-{n}", {})
                for n, (code, phone) in zip(range(replies), cycle(pairs))])
            with counted() as statements:
                wall, cpu = time.perf_counter(), time.process_time()
                done = await process()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{label}: {done:,} replies in {wall:.1f} s = {done / wall:,.0f} replies/s; "
                  f"{cpu / done * 1000:.2f} ms of CPU and "
                  f"{len(statements.statements) / done:.1f} statements a reply")
        await worker.wake.stop()
    finally:
        await close_database()


def main() -> None:
    parser = arguments(__doc__, "500 replies on 50 matters")
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--matters", type=int, default=500)
    parser.add_argument("--units", type=int, default=50)
    args = parser.parse_args()
    replies, matters = (500, 50) if args.quick else (args.replies, args.matters)
    asyncio.run(run(replies, matters, args.units))


if __name__ == "__main__":
    main()
