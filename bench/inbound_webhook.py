"""P3: replies per second through the HTTP webhook of `duban serve` (Alibaba SmsUp push, one
reply a request), the latency at a fixed 200 replies/s, the reply worker's rate and the time
from a reply's arrival to its answer being sent, on PostgreSQL.

    .venv/bin/python bench/inbound_webhook.py [--seconds 20] [--clients 50] [--quick]
        [--units 50] [--worker-instances 0] [--reply-workers 1] [--pool 20]

Each reply is a progress report (`D12 进展 …`) from the lead unit's operator of a registered
matter. The webhook stores it raw and acknowledges; the reply worker of the same `duban serve`
parses, applies and answers it, and the dispatcher sends the answer to a local fake Alibaba
endpoint. Printed, with the ceiling of the same run beside them:
(a) acknowledged replies/s, clients back to back (ceiling: the same server refusing a wrong
    token, 403 — the HTTP stack alone);
(b) p50/p99 acknowledgement latency at 200 replies/s;
(c) the worker's parse-apply-answer rate, draining the backlog (a) left;
(d) median time from a reply's arrival (its row) to its answer's `submitted` event, for the
    replies of (b), and for replies arriving at half the rate (c) measured (a load the worker
    keeps up with).
What (a) left beyond (c)'s time limit is cleared in SQL before (b) (replies marked refused,
their unsent answers failed), so (b) and (d) start with empty queues rather than behind
(a)'s backlog; (d) is read once their answers are all sent.
`--quick` runs 5 s per phase with 50 matters.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
from aiohttp import ClientSession  # noqa: E402

from bench.common import (  # noqa: E402
    CpuMeter,
    arguments,
    dsn,
    fake_http_provider,
    free_port,
    fresh_database,
    start_serve,
    stop,
    wait_ready,
)

TOKEN = "bench-callback-token-0123456789"


async def seed(url: str, matters: int, units: int) -> list[tuple[str, str]]:
    """Matters and, for each, (its code, its lead unit's operator's phone)."""
    from tortoise import Tortoise

    from bench.clock_tick import seed as seed_org
    from models import Matter, Person, Role
    from scheduler.clock import SystemClock
    from service.db import close_database, open_database
    from workflow.context import Context

    await open_database(url)
    try:
        await seed_org(Context(clock=SystemClock()), matters, units)
        # The copies beyond one matter a unit are coded "C<n>-<i>", which no reply can name:
        # give them codes of the grammar, or their replies would be cheap parse errors.
        await Tortoise.get_connection("default").execute_query(
            "UPDATE matter SET code = 'D' || (id + 100000) WHERE code LIKE 'C%'")
        found = []
        for matter in await Matter.all().order_by("id"):
            operator = await Person.get(unit_id=matter.lead_id, role=Role.OPERATOR_A)
            found.append((matter.code, operator.phone))
        return found
    finally:
        await close_database()


async def closed_loop(base: str, token: str, replies, seconds: float, clients: int
                      ) -> tuple[float, list[float]]:
    """`clients` posting back to back for `seconds`: the rate they get through."""
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def client(session: ClientSession) -> None:
        while time.perf_counter() < end:
            code, phone, number = next(replies)
            await post(session, base, token, code, phone, number, latencies)

    async with ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return len(latencies) / (time.perf_counter() - started), latencies


async def open_loop(base: str, replies, seconds: float, rate: float) -> list[float]:
    """A reply every 1/rate s whatever the server does: its latency at that load."""
    latencies: list[float] = []
    async with ClientSession() as session:
        tasks = []
        started = time.perf_counter()
        for i in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            code, phone, number = next(replies)
            tasks.append(asyncio.create_task(
                post(session, base, TOKEN, code, phone, number, latencies)))
        await asyncio.gather(*tasks)
    return latencies


async def post(session: ClientSession, base: str, token: str, code: str, phone: str,
               number: int, latencies: list[float]) -> None:
    body = [{"phone_number": phone.removeprefix("+86"), "content": f"{code} 进展 已办理第{number}项",
             "send_time": "2026-11-23 10:00:00", "dest_code": "1069", "sequence_id": number}]
    started = time.perf_counter()
    async with session.post(f"{base}/sms/aliyun/up/{token}", json=body) as response:
        await response.read()
        if token == TOKEN and response.status != 200:
            raise SystemExit(f"webhook answered {response.status}")
    latencies.append(time.perf_counter() - started)


def p(latencies: list[float], q: int) -> float:
    return 1000 * statistics.quantiles(latencies, n=100)[q - 1]


async def waiting(url: str) -> tuple[int, int]:
    """Replies still `received`, and the last reply's id."""
    conn = await asyncpg.connect(dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'received') AS left,"
            " coalesce(max(id), 0) AS last FROM inbound_message")
        return row["left"], row["last"]
    finally:
        await conn.close()


async def worker_rate(url: str, limit: float) -> tuple[float, int]:
    """(c): replies processed per second while the worker drains the backlog (at most
    `limit` seconds); the rate and the replies still waiting at the end."""
    before, _ = await waiting(url)
    started = time.perf_counter()
    left = before
    while left and time.perf_counter() - started < limit:
        await asyncio.sleep(0.5)
        left, _ = await waiting(url)
    return (before - left) / (time.perf_counter() - started), left


async def clear_backlog(url: str) -> None:
    """The replies (a) left waiting, and the answers (c) left unsent, set aside so that (b)
    and (d) do not queue behind them."""
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute("UPDATE inbound_message SET status = 'refused', "
                           "outcome = 'bench: backlog cleared' WHERE status = 'received'")
        await conn.execute("UPDATE outbound_message SET status = 'failed', "
                           "error = 'bench: backlog cleared' WHERE status = 'pending'")
    finally:
        await conn.close()


async def answers_sent(url: str, limit: float) -> None:
    """Until no answer waits to be sent (at most `limit` seconds)."""
    conn = await asyncpg.connect(dsn(url))
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < limit and await conn.fetchval(
                "SELECT count(*) FROM outbound_message WHERE status IN ('pending', 'sending')"):
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def delays_at(url: str, base: str, replies, seconds: float, rate: float
                    ) -> tuple[list[float], list[float]]:
    """Replies at `rate` for `seconds`: their acknowledgement latencies, and (once the worker
    has drained them) the delays from their arrival to their answers' submission."""
    _, last = await waiting(url)
    latencies = await open_loop(base, replies, seconds, rate)
    await worker_rate(url, 10 * seconds)
    await answers_sent(url, 10 * seconds)
    return latencies, await answer_delays(url, last)


async def answer_delays(url: str, after_id: int) -> list[float]:
    """(d): seconds from each reply's arrival (id > after_id) to its answer's submission."""
    conn = await asyncpg.connect(dsn(url))
    try:
        rows = await conn.fetch("""
            SELECT extract(epoch FROM e.at - i.received_at) AS delay
            FROM inbound_message i
            JOIN outbound_message o ON o.dedup_key LIKE 'reply:' || i.id || ':%'
            JOIN message_event e ON e.message_id = o.id AND e.status = 'submitted'
            WHERE i.id > $1""", after_id)
        return [float(r["delay"]) for r in rows]
    finally:
        await conn.close()


async def run(matters: int, units: int, seconds: float, clients: int, instances: int,
              reply_workers: int, pool: int | None) -> None:
    url = await fresh_database("bench_f_inbound")
    pairs = await seed(url, matters, units=min(units, matters))
    numbers = itertools.count(1)
    replies = ((code, phone, next(numbers)) for code, phone in itertools.cycle(pairs))
    fake, fake_port, answered = await fake_http_provider()
    port = free_port()
    log = Path(tempfile.gettempdir()) / "bench_inbound_serve.log"
    aliyun = {"DUBAN_SMS__PROVIDER": "aliyun",
              "DUBAN_SMS__ALIYUN__ENDPOINT": f"http://127.0.0.1:{fake_port}/",
              "DUBAN_SMS__ALIYUN__ACCESS_KEY_ID": "bench",
              "DUBAN_SMS__ALIYUN__ACCESS_KEY_SECRET": "bench-secret-0123456789",
              "DUBAN_SMS__ALIYUN__SIGN_NAME": "督办", "DUBAN_SMS__ALIYUN__TEMPLATE_CODE": "SMS_1",
              "DUBAN_SMS__ALIYUN__CALLBACK_TOKEN": TOKEN}
    database = f"{url}?maxsize={pool}" if pool else url
    serve = start_serve(database, 1, log=log, DUBAN_PORT=str(port),
                        DUBAN_REPLY_WORKERS="0" if instances else str(reply_workers), **aliyun)
    # --worker-instances N: the webhooks' instance only stores and acknowledges; N more
    # instances on the same database parse, apply and answer (`reply_workers` each), and
    # send, on the other core(s): how duban scales out.
    workers = [start_serve(database, 1, log=log.with_suffix(f".worker{n}.log"),
                           DUBAN_INSTANCE=f"bench-worker-{n}",
                           DUBAN_REPLY_WORKERS=str(reply_workers), **aliyun)
               for n in range(instances)]
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        ceiling, _ = await closed_loop(base, "wrong-token-0123456789", replies, seconds, clients)
        rate, busy = await closed_loop(base, TOKEN, replies, seconds, clients)
        meter = CpuMeter([serve.pid] + [worker.pid for worker in workers])
        meter.start()
        processed, left = await worker_rate(url, 10 * seconds)
        meter.stop()
        await clear_backlog(url)
        steady, delays = await delays_at(url, base, replies, seconds, 200.0)
        kept_up = max(1.0, processed / 2)
        _, light = await delays_at(url, base, replies, seconds, kept_up)
    finally:
        stop(serve)
        for worker in workers:
            stop(worker)
        await fake.cleanup()
    shape = (f"a store-only instance + {instances} worker instance(s)" if instances
             else "one instance")
    shape += f", reply_workers {reply_workers}, pool {pool or 'default'}"
    print(f"{matters} matters of {min(units, matters)} units (one operator replying each), "
          f"{shape}; {clients} clients back to back for {seconds:.0f} s:")
    print(f"  (a) webhook, replies stored and acknowledged: {rate:,.0f} replies/s "
          f"(p50 {p(busy, 50):.0f} ms, p99 {p(busy, 99):.0f} ms; goal >= 1,000/s)")
    print(f"      ceiling, the same server refusing a wrong token: {ceiling:,.0f} requests/s "
          f"(a = {rate / ceiling:.0%} of it)")
    print(f"  (b) at 200 replies/s for {seconds:.0f} s: ack p50 {p(steady, 50):.0f} ms, "
          f"p99 {p(steady, 99):.0f} ms (goal p99 < 50 ms)")
    print(f"  (c) reply worker, parsed, applied and answered: {processed:,.0f} replies/s "
          f"(goal >= 1,000/s; c/a = {processed / rate:.0%}; {left} left after the limit)")
    print(f"      {meter.per_item(round(processed * meter.seconds))} (serve: the worker and the "
          f"dispatcher sending its answers; bench: the fake provider taking them)")
    for label, found in (("the replies of (b)", delays),
                         (f"replies at {kept_up:,.0f}/s (half of c)", light)):
        if found:
            print(f"  (d) arrival to answer submitted, {label}: median "
                  f"{statistics.median(found) * 1000:,.0f} ms, p90 {p(found, 90):,.0f} ms "
                  f"({len(found)} answers; goal median < 1 s)")
    print(f"  the fake provider took {answered():,} requests in the run")


def main() -> None:
    parser = arguments(__doc__, "5 s a phase, 50 matters")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--matters", type=int, default=500)
    parser.add_argument("--units", type=int, default=50,
                        help="units the matters are spread over; each unit's operator replies "
                             "on its matters, so also the senders")
    parser.add_argument("--worker-instances", type=int, default=0,
                        help="a store-only webhook instance and this many reply-worker "
                             "instances (0: one instance does everything)")
    parser.add_argument("--reply-workers", type=int, default=1,
                        help="batches the worker processes at once (the setting reply_workers; "
                             "duban's default, 1)")
    parser.add_argument("--pool", type=int, default=None,
                        help="database connections an instance (default: duban's, 20)")
    args = parser.parse_args()
    seconds, matters = (5.0, 50) if args.quick else (args.seconds, args.matters)
    asyncio.run(run(matters, args.units, seconds, args.clients, args.worker_instances,
                    args.reply_workers, args.pool))


if __name__ == "__main__":
    main()
