"""Issue 10: the statements and the time of one progress report through the reply path.

    .venv/bin/python bench/reply_path.py [--replies 500] [--quick]

In-memory SQLite, the test organisation (`tests.inbound.conftest`), three matters of the
sender's unit: one sender's "D2 进展 …" replies, each parsed, applied (feedback, nodes,
forward, catch-up) and answered by `Inbox`, as `duban simulate` and the reply worker run it.
Prints the statements of one reply (after the sender's short numbers exist) and the wall
and CPU milliseconds per reply.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import arguments  # noqa: E402
from dispatch.channel import InboundText  # noqa: E402
from replies.inbound import Inbox  # noqa: E402
from scheduler.clock import SHANGHAI, VirtualClock  # noqa: E402
from service.db import close_database, open_database  # noqa: E402
from tests.inbound.conftest import OPERATOR, build_org, new_matter  # noqa: E402
from workflow.context import Context  # noqa: E402


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def report(text: str) -> InboundText:
    return InboundText(channel="sms", sender=f"+86{OPERATOR}", text=text,
                       provider_message_id=None, raw={})


async def run(replies: int) -> None:
    await open_database("sqlite://:memory:")
    try:
        await build_org()
        ctx = Context(clock=VirtualClock(datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)))
        for code in ("D1", "D2", "D3"):
            await new_matter(ctx, code)
        inbox = Inbox(ctx)
        await inbox.inbound(report("D1 收到"))  # the sender's short numbers are given out
        logger, counter = logging.getLogger("tortoise.db_client"), Counter()
        logger.addHandler(counter)
        logger.setLevel(logging.DEBUG)
        await inbox.inbound(report("D2 进展 已清理三段"))
        logger.removeHandler(counter)
        logger.setLevel(logging.WARNING)
        wall, cpu = time.perf_counter(), time.process_time()
        for n in range(replies):
            await inbox.inbound(report(f"D{n % 3 + 1} 进展 第{n}段"))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"one progress report: {counter.count} statements; {replies} replies: "
              f"{wall / replies * 1000:.1f} ms a reply ({cpu / replies * 1000:.1f} ms of CPU)")
    finally:
        await close_database()


def main() -> None:
    parser = arguments(__doc__, "100 replies")
    parser.add_argument("--replies", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(100 if args.quick else args.replies))


if __name__ == "__main__":
    main()
