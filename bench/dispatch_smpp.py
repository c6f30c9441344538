"""P1/P2: due rows on PostgreSQL sent by `duban serve` to a loopback SMSC, beside the raw
smpp34 client's rate measured in the same run, and every message checked at the SMSC.

    .venv/bin/python bench/dispatch_smpp.py [--count 100000] [--window 100] [--binds 1] [--quick]

P1 is the ratio of the two rates (goal >= 40 %). P2 is `--count 100000`: every row due in the
same minute, all submitted within 60 s, 0 duplicates and 0 lost counted at the SMSC (each row
goes to its own number, so a number that got more parts than one message has is a duplicate,
a number that got none a loss). `--quick` sends 3,000 for a run under a minute.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Smsc, arguments, fresh_database, seed_due_rows, start_serve, stop  # noqa: E402
from dispatch.render import Renderer  # noqa: E402
from sms_gateway.text import DEFAULT_SIGNATURE, Encoding, count_segments, encode  # noqa: E402

SAMPLE = {"code": "B1", "title": "第1号督办事项", "node": "3d", "deadline": "2026-11-25 17:00",
          "reason": None, "number": 1, "channel": "sms"}


async def raw_rate(count: int, window: int, segments: int) -> float:
    """smpp34's own client, one bind, `window` outstanding: the wire's ceiling here. It sends
    as many submit_sm per message as duban's messages have parts."""
    import smpp34

    smsc = Smsc()
    try:
        client = smpp34.Client("127.0.0.1", smsc.port, "raw", "raw", window_size=window)
        session = await client.connect()
        text = encode(Renderer(DEFAULT_SIGNATURE).render("remind", SAMPLE)[:60], Encoding.UCS2)
        numbers = iter(range(count * segments))

        async def push() -> None:
            for i in numbers:
                await session.submit_sm(f"86139{i:08d}", text, data_coding=8)

        started = time.perf_counter()
        await asyncio.gather(*(push() for _ in range(window * 4)))
        elapsed = time.perf_counter() - started
        await session.unbind()
        await client.stop()
        return count / elapsed
    finally:
        smsc.close()


async def serve_rate(count: int, window: int, binds: int, timeout: float) -> dict[str, float]:
    url = await fresh_database("bench_f_dispatch")
    await seed_due_rows(url, count)
    segments = count_segments(Renderer(DEFAULT_SIGNATURE).render("remind", SAMPLE))
    smsc = Smsc()
    log = Path(tempfile.gettempdir()) / "bench_dispatch_serve.log"
    started = time.monotonic()
    serve = start_serve(url, smsc.port, log=log, DUBAN_SMS__SMPP__WINDOW=str(window),
                        DUBAN_SMS__SMPP__BINDS=str(binds), DUBAN_POLL_SECONDS="5")
    try:
        seen = smsc.report()
        while seen["total"] < count * segments and time.monotonic() - started < timeout:
            await asyncio.sleep(0.5)
            seen = smsc.report()
        await asyncio.sleep(1.0)  # anything late (a duplicate) would arrive now
        seen = smsc.report()
    finally:
        stop(serve)
        smsc.close()
    return seen | {"segments": segments, "started": started}


def main() -> None:
    parser = arguments(__doc__, "3,000 messages")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=100, help="submit_sm outstanding a bind")
    parser.add_argument("--binds", type=int, default=1, help="duban's binds (raw: one)")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    count = 3_000 if args.quick else args.count
    segments = count_segments(Renderer(DEFAULT_SIGNATURE).render("remind", SAMPLE))
    raw = asyncio.run(raw_rate(count, args.window, segments))
    seen = asyncio.run(serve_rate(count, args.window, args.binds, args.timeout))
    sending = max(seen["last"] - seen["first"], 1e-9)
    rate = count / sending
    print(f"messages: {count} due at once, {seen['segments']} segment(s) each, window "
          f"{args.window}, {args.binds} bind(s)")
    print(f"raw smpp34 client:  {raw:,.0f} msg/s (the ceiling, same run)")
    print(f"duban serve:        {rate:,.0f} msg/s from first to last submit "
          f"= {100 * rate / raw:.0f} % of raw (P1 goal >= 40 %)")
    print(f"all submitted {seen['last'] - seen['started']:.1f} s after `duban serve` started "
          f"(first submit after {seen['first'] - seen['started']:.1f} s; P2 goal: 100,000 "
          f"within 60 s)")
    lost = count - seen["numbers"]
    duplicated = seen["most"] > seen["segments"]
    print(f"at the SMSC: {seen['total']} parts to {seen['numbers']} numbers; lost {lost}; "
          f"duplicates {'YES' if duplicated else 0}")


if __name__ == "__main__":
    main()
