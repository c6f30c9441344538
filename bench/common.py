"""Shared pieces of the benches: a fresh PostgreSQL database, an SMSC child process that
counts what reached it (and can answer with receipts and send replies), `duban serve` as a
child process, and its memory over time."""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("DUBAN_BENCH_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")


def arguments(doc: str, quick: str) -> argparse.ArgumentParser:
    """A bench's command line: its first doc line, and `--quick` (a run under a minute)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dsn(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


async def fresh_database(name: str) -> str:
    """An empty, migrated PostgreSQL database `name` (dropped first if it exists)."""
    import asyncpg

    from service.db import close_database, open_database

    admin = await asyncpg.connect(dsn(ADMIN_URL))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    await open_database(url)
    await close_database()
    return url


async def seed_due_rows(url: str, count: int, *, due: str = "now() - interval '1 minute'"
                        ) -> None:
    """`count` pending SMS rows, each to its own number, rendered by the dispatcher."""
    import asyncpg

    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute(f"""
            INSERT INTO outbound_message (kind, channel, address, context, status, due_at,
                attempts, provider_ids, created_at)
            SELECT 'remind', 'sms', '+86138' || lpad(i::text, 8, '0'),
                json_build_object('code', 'B' || i, 'title', '第' || i || '号督办事项',
                    'node', '3d', 'deadline', '2026-11-25 17:00', 'reason', null,
                    'number', i, 'channel', 'sms'),
                'pending', {due}, 0, '[]', now()
            FROM generate_series(1, $1) AS i""", count)
    finally:
        await conn.close()


class Smsc:
    """smpp34's SMSC in a child process: accepts every submit_sm and counts them per number.
    With `receipts` it answers each accepted part with a DELIVRD receipt; `reply` has it
    deliver a handset's reply (mobile originated) to whoever is bound."""

    def __init__(self, *, receipts: bool = False) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "smsc", str(self.port), str(int(receipts))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def report(self) -> dict[str, float]:
        """Submits so far: total, distinct numbers, the most to one number, first and last
        arrival (monotonic); receipts and replies delivered, and deliver_sm refused."""
        total, numbers, most, first, last, receipts, replies, refused = self.ask("report")
        return {"total": int(total), "numbers": int(numbers), "most": int(most),
                "first": float(first), "last": float(last), "receipts": int(receipts),
                "replies": int(replies), "refused": int(refused)}

    def reply(self, phone: str, text: str) -> None:
        """The handset `phone` (E.164) replies `text`; it goes out in the background."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"reply {phone.removeprefix('+')} {text}\n")
        self.process.stdin.flush()

    def ask(self, command: str) -> list[str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().split()

    def close(self) -> None:
        self.process.kill()
        self.process.wait(5)


RECEIPT = ("id:{id} sub:001 dlvrd:001 submit date:2611230900 done date:2611230901 stat:DELIVRD "
           "err:000 text:")


async def serve_smsc(port: int, receipts: bool) -> None:
    import smpp34

    server = smpp34.Server(host="127.0.0.1", port=port, system_id="BENCH")
    await server.start()
    per_number: collections.Counter[str] = collections.Counter()
    delivered: collections.Counter[str] = collections.Counter()
    times = [0.0, 0.0]
    ids = iter(range(1, 1 << 62))
    sessions: dict[str, smpp34.Esme] = {}
    background: set[asyncio.Task] = set()

    async def deliver(esme: smpp34.Esme, kind: str, to: str, text: bytes, **fields) -> None:
        try:
            answer = await asyncio.wait_for(esme.deliver_sm(to, text, **fields), 30)
            if answer.is_success:
                delivered[kind] += 1
            else:
                refused(kind, f"status {answer.command_status:#x}")
        except (smpp34.SmppError, TimeoutError, OSError) as exc:
            refused(kind, repr(exc))

    def refused(kind: str, why: str) -> None:
        delivered["refused"] += 1
        if delivered["refused"] <= 5:  # the first few say why; the count says how many
            print(f"smsc: {kind} not delivered: {why}", file=sys.stderr)

    def later(coroutine) -> None:
        task = asyncio.create_task(coroutine)
        background.add(task)
        task.add_done_callback(background.discard)

    async def accept() -> None:
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                sessions[event.session_id] = event
            elif isinstance(event, smpp34.SubmitSmEvent):
                message_id = f"m{next(ids)}"
                event.accept(message_id)
                per_number[event.destination_addr] += 1
                now = time.monotonic()
                times[0] = times[0] or now
                times[1] = now
                if receipts and event.session_id in sessions:
                    later(deliver(sessions[event.session_id], "receipts", event.source_addr,
                                  RECEIPT.format(id=message_id).encode(),
                                  source_addr=event.destination_addr, esm_class=0x04))

    task = asyncio.create_task(accept())
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, _, rest = line.strip().partition(" ")
        if command == "report":
            most = max(per_number.values(), default=0)
            print(sum(per_number.values()), len(per_number), most, *times, delivered["receipts"],
                  delivered["replies"], delivered["refused"], flush=True)
        elif command == "reply" and sessions:
            phone, _, text = rest.partition(" ")
            esme = [s for s in sessions.values() if s.can_receive][-1]
            later(deliver(esme, "replies", "10690357", text.encode("utf-16-be"),
                          source_addr=phone, data_coding=8))
    task.cancel()


def start_serve(url: str, smsc_port: int, *, log: Path, **env: str) -> subprocess.Popen:
    """`duban serve` on `url`, sending SMS to the SMSC, with the carrier limits lifted."""
    settings = {
        "DUBAN_DATABASE_URL": url, "DUBAN_PORT": str(free_port()), "DUBAN_INSTANCE": "bench",
        "DUBAN_CONSOLE__PORT": str(free_port()),
        "DUBAN_SMS__PROVIDER": "smpp", "DUBAN_SMS__SMPP__HOST": "127.0.0.1",
        "DUBAN_SMS__SMPP__PORT": str(smsc_port), "DUBAN_SMS__SMPP__SYSTEM_ID": "bench",
        "DUBAN_SMS__SMPP__PASSWORD": "bench", "DUBAN_SMS__SMPP__SOURCE_ADDR": "10690357",
        "DUBAN_SMS__PER_SECOND": "1000000", "DUBAN_SMS__PER_NUMBER_PER_MINUTE": "1000",
    } | env
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")} | settings
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=REPO,
                                env=child_env, stdout=out, stderr=subprocess.STDOUT)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process now (VmRSS) or at its peak (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class CpuMeter:
    """CPU seconds used by `duban serve` processes, by the PostgreSQL server (every
    `postgres` process on the machine: the benches run it on loopback) and by this bench
    process (its load clients and fake peers), between `start` and `stop`: what a figure
    cost, beside the machine's cores, the ceiling a figure meets on this machine."""

    def __init__(self, serve_pids: list[int]) -> None:
        self.serve_pids = serve_pids
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self.started, self.began = self.read(), time.perf_counter()

    def stop(self) -> None:
        self.used = {k: v - self.started.get(k, 0.0) for k, v in self.read().items()}
        self.seconds = time.perf_counter() - self.began

    def read(self) -> dict[str, float]:
        return {"serve": sum(cpu_seconds(p) for p in self.serve_pids),
                "postgres": sum(cpu_seconds(p) for p in processes_named("postgres")),
                "bench": cpu_seconds(os.getpid())}

    def per_item(self, count: int) -> str:
        """Milliseconds of CPU an item, by process, and what the machine's cores allow at
        that cost."""
        total = sum(self.used.values())
        if not count or not total:
            return "no CPU measured"
        parts = ", ".join(f"{k} {v / count * 1000:.2f}" for k, v in self.used.items())
        cores = os.cpu_count() or 1
        return (f"CPU ms an item: {parts}; all {total / count * 1000:.2f} ms, so {cores} cores "
                f"allow at most {cores * count / total:,.0f}/s")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def wait_ready(base: str) -> None:
    """Until the `duban serve` at `base` answers /healthz (up to 20 s)."""
    from aiohttp import ClientSession

    async with ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status in (200, 503):
                        return
            except OSError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("duban serve did not come up")


async def fake_http_provider() -> tuple[Any, int, Callable[[], int]]:
    """An HTTP SMS provider on loopback answering every request OK as Alibaba does: its
    runner, its port, and how many requests it has answered so far."""
    import uuid

    from aiohttp import web

    count = [0]

    async def send(request: web.Request) -> web.Response:
        await request.read()
        count[0] += 1
        return web.json_response({"Code": "OK", "Message": "OK", "BizId": uuid.uuid4().hex,
                                  "RequestId": uuid.uuid4().hex})

    app = web.Application()
    app.add_routes([web.post("/{tail:.*}", send), web.get("/{tail:.*}", send)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port, lambda: count[0]


async def sample_rss(pid: int, every: float, samples: list[tuple[float, float]]) -> None:
    """Append (seconds since the start, RSS MiB) of `pid` every `every` seconds until
    cancelled or the process is gone."""
    started = time.monotonic()
    while Path(f"/proc/{pid}").exists():
        if rss := rss_mib(pid):  # none yet while the process is being created
            samples.append((time.monotonic() - started, rss))
        await asyncio.sleep(every)


def slope_per_10_minutes(samples: list[tuple[float, float]]) -> float:
    """The least-squares trend of (seconds, MiB) samples, in MiB per 10 minutes."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_m = sum(m for _, m in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return 0.0
    return 600 * sum((t - mean_t) * (m - mean_m) for t, m in samples) / spread


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


if __name__ == "__main__" and sys.argv[1:2] == ["smsc"]:
    sys.path.insert(0, str(REPO))
    asyncio.run(serve_smsc(int(sys.argv[2]), sys.argv[3] == "1"))
