"""Push Chinese notices through SmppChannel to smpp34's SMSC on loopback; report rate and memory.

    .venv/bin/python bench/smpp_throughput.py [--count 20000] [--window 10]
        [--contacts 2000] [--tracemalloc]

The SMSC runs in a child process so the figures are the channel's own: its CPU does not
share our event loop and its memory is not in our RSS. --tracemalloc adds the peak of
Python allocations (and slows the run, so the rate is best read from a run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import socket
import subprocess
import sys
import time
import tracemalloc

from dispatch.channel import InboundText, Outgoing, Receipt
from sms_gateway.smpp import SmppChannel, SmppSettings
from sms_gateway.text import DEFAULT_SIGNATURE, count_segments

NOTICE = "{code} 关于城区道路积水整治的督办事项已交办贵单位，请于24小时内回复“1”确认收到。"


class NullSink:
    async def inbound(self, message: InboundText) -> None: ...

    async def receipt(self, receipt: Receipt) -> None: ...


async def serve_smsc(port: int) -> None:
    """Child process: accept every submit_sm with a fresh id."""
    import smpp34

    server = smpp34.Server(host="127.0.0.1", port=port, system_id="BENCH")
    await server.start()
    print("ready", flush=True)
    ids = itertools.count(1)
    while True:
        event = await server.next()
        if isinstance(event, smpp34.SubmitSmEvent):
            event.accept(f"m{next(ids)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def messages(count: int, contacts: int) -> list[Outgoing]:
    return [
        Outgoing(
            i, "sms", f"+86138{i % contacts:08d}", NOTICE.format(code=f"D{i % 900 + 100}"),
            "assigned",
        )
        for i in range(count)
    ]  # fmt: skip


async def push(channel: SmppChannel, queue: list[Outgoing], failures: list[str]) -> None:
    while queue:
        result = await channel.send(queue.pop())
        if not result.ok:
            failures.append(result.detail)


async def run(count: int, window: int, contacts: int, port: int) -> None:
    channel = SmppChannel(
        SmppSettings(
            host="127.0.0.1", port=port, system_id="bench", password="bench",
            source_addr="10690357", window=window,
        ),
        NullSink(),
    )  # fmt: skip
    await channel.start()
    if not await channel.wait_bound(10):
        raise SystemExit(f"could not bind: {channel.health()['last_error']}")
    queue = messages(count, contacts)
    failures: list[str] = []
    rss_before = _max_rss_mib()
    started = time.perf_counter()
    # More senders than window slots, as a dispatcher with a backlog would have.
    await asyncio.gather(*(push(channel, queue, failures) for _ in range(window * 4)))
    elapsed = time.perf_counter() - started
    await channel.stop()
    report(count, window, contacts, elapsed, failures, rss_before)


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def report(
    count: int, window: int, contacts: int, elapsed: float, failures: list[str], rss_before: float
) -> None:
    segments = count_segments(DEFAULT_SIGNATURE + NOTICE.format(code="D100"))
    print(f"messages:        {count} ({segments} segment each) to {contacts} numbers")
    print(f"window:          {window}")
    print(f"failed:          {len(failures)}{' e.g. ' + failures[0] if failures else ''}")
    print(f"elapsed:         {elapsed:.2f} s")
    print(f"throughput:      {count / elapsed:,.0f} messages/s")
    print(f"peak RSS:        {_max_rss_mib():.1f} MiB ({rss_before:.1f} MiB before sending)")
    if tracemalloc.is_tracing():
        _, peak = tracemalloc.get_traced_memory()
        print(f"tracemalloc peak: {peak / 2**20:.1f} MiB (Python allocations)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=10)
    # A district's units have a few thousand heads and operators, messaged again and again.
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # child: run the SMSC
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_smsc(args.serve))
        return
    port = free_port()
    smsc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert smsc.stdout is not None and smsc.stdout.readline().strip() == "ready"
        if args.tracemalloc:
            tracemalloc.start()
        asyncio.run(run(args.count, args.window, args.contacts, port))
    finally:
        smsc.terminate()
        smsc.wait(5)


if __name__ == "__main__":
    main()
