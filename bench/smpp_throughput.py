"""Push Chinese notices through SmppChannel to smpp34's SMSC on loopback; report rate and memory.

    .venv/bin/python bench/smpp_throughput.py [--count 20000] [--window 10] [--binds 1]
        [--contacts 2000] [--tracemalloc]

In the same run, smpp34's own client (same window) sends the same messages to the same
SMSC before and after the channel: the channel's rate is printed next to it as a ratio,
which depends less on how busy the machine is than either rate. The channel is driven the way the
dispatcher drives it: `channel.concurrency` sends in flight at once, each bind's window
full. The SMSC runs in a child process so the figures are the channel's own: its CPU
does not share our event loop and its memory is not in our RSS. --tracemalloc adds the
peak of Python allocations (and slows the run, so the rate is best read without it).
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


async def raw_client_rate(count: int, window: int, contacts: int, port: int) -> float:
    """smpp34's client sending the same signed UCS-2 notices with the same window."""
    import smpp34

    client = smpp34.Client("127.0.0.1", port, "raw", "raw", window_size=window)
    session = await client.connect()
    queue = messages(count, contacts)

    async def submit_all() -> None:
        while queue:
            message = queue.pop()
            await session.submit_sm(
                message.to.removeprefix("+"), (DEFAULT_SIGNATURE + message.text).encode(
                    "utf-16-be"), source_addr="10690357", data_coding=8, registered_delivery=1,
            )  # fmt: skip

    started = time.perf_counter()
    await asyncio.gather(*(submit_all() for _ in range(window)))
    elapsed = time.perf_counter() - started
    await session.unbind()
    return count / elapsed


async def run(count: int, window: int, binds: int, contacts: int, port: int) -> None:
    raw_before = await raw_client_rate(count, window * binds, contacts, port)
    channel = SmppChannel(
        SmppSettings(
            host="127.0.0.1", port=port, system_id="bench", password="bench",
            source_addr="10690357", window=window, binds=binds,
        ),
        NullSink(),
    )  # fmt: skip
    await channel.start()
    if not await channel.wait_bound(10) or channel.health()["binds_up"] < binds:
        await asyncio.sleep(1)  # the other binds come up right after the first
    queue = messages(count, contacts)
    failures: list[str] = []
    rss_before = _max_rss_mib()
    started = time.perf_counter()
    # As the dispatcher does: `concurrency` sends in flight, every window kept full.
    await asyncio.gather(*(push(channel, queue, failures) for _ in range(channel.concurrency)))
    elapsed = time.perf_counter() - started
    health = channel.health()
    await channel.stop()
    # Before and after, so a neighbour's load on a shared machine weighs on both sides.
    raw_rate = (raw_before + await raw_client_rate(count, window * binds, contacts, port)) / 2
    report(count, window, binds, contacts, elapsed, failures, rss_before)
    print(f"binds up:        {health['binds_up']} of {binds}")
    print(f"raw smpp34:      {raw_rate:,.0f} messages/s (its client, window {window * binds})")
    print(f"channel / raw:   {count / elapsed / raw_rate:.0%}")


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def report(
    count: int, window: int, binds: int, contacts: int, elapsed: float, failures: list[str],
    rss_before: float,
) -> None:
    segments = count_segments(DEFAULT_SIGNATURE + NOTICE.format(code="D100"))
    print(f"messages:        {count} ({segments} segment each) to {contacts} numbers")
    print(f"window x binds:  {window} x {binds} (concurrency {window * binds})")
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
    parser.add_argument("--binds", type=int, default=1)
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
        asyncio.run(run(args.count, args.window, args.binds, args.contacts, port))
    finally:
        smsc.terminate()
        smsc.wait(5)


if __name__ == "__main__":
    main()
