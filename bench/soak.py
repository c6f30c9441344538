"""Soak: `duban serve` on PostgreSQL under mixed load for N minutes, its memory sampled.

    .venv/bin/python bench/soak.py [--minutes 30] [--assign-every 2] [--replies 5]

The load, all at once: matters registered (each assignment notifies the lead unit's four
people by SMS), replies from the lead units' operators (a progress report each, answered by
SMS), and a DELIVRD receipt from the loopback SMSC for every part it accepts. With the SMPP
provider a handset's reply reaches duban the way the carrier hands it over, as a deliver_sm
from the SMSC. The serve process's RSS is sampled every few seconds; printed: RSS at start,
peak and end, the trend (MiB per 10 minutes, least squares after the first minute's
warm-up; then for each 10-minute stretch on its own, to show whether it levels), and
counts: submits, replies and receipts delivered, errors (deliver_sm refused, rows failed or
unknown, ERROR lines in serve's log).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    Smsc,
    fresh_database,
    rss_mib,
    sample_rss,
    slope_per_10_minutes,
    start_serve,
    stop,
)

UNITS = 20
WARM_UP = 60.0  # seconds left out of the trend: imports, pools and caches filling


async def seed_units(url: str) -> list[str]:
    """The district's units, their people, and an initiator; the operators' phones."""
    from models import BoardInitiator, Person, Role, Unit

    ducha = await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=ducha, name="陈主任", role=Role.HEAD, phone="+8613900000001")
    await BoardInitiator.create(board="daily", initiator=ducha)
    operators = []
    for u in range(UNITS):
        unit = await Unit.create(key=f"u{u}", name=f"单位{u}")
        for i, role in enumerate((Role.HEAD, Role.OPERATOR_A, Role.OPERATOR_B, Role.DIRECTOR)):
            phone = f"+86138{u:04d}{i:04d}"
            await Person.create(unit=unit, name=f"人{u}-{i}", role=role, phone=phone)
            if role is Role.OPERATOR_A:
                operators.append(phone)
    return operators


async def assign(number: int) -> str:
    """Register one matter (as the console does) and return its code."""
    from scheduler.clock import SystemClock
    from workflow.context import Context
    from workflow.records import Actor
    from workflow.service import MatterDraft, register_matter

    matter = await register_matter(Context(clock=SystemClock()), MatterDraft(
        board="daily", title=f"浸泡事项{number}", initiator="ducha", lead=f"u{number % UNITS}",
        approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True,
        klass="general"), Actor(None, "soak"))
    return matter.code


async def drive(smsc: Smsc, operators: list[str], seconds: float, assign_every: float,
                replies_per_second: float) -> dict[str, int]:
    """Assignments and replies side by side until `seconds` have passed."""
    end = time.monotonic() + seconds
    open_matters: list[tuple[str, str]] = []  # (code, its lead unit's operator's phone)
    counts = {"assigned": 0, "replied": 0}

    async def assignments() -> None:
        for number in itertools.count():
            code = await assign(number)
            open_matters.append((code, operators[number % UNITS]))
            counts["assigned"] += 1
            await asyncio.sleep(max(0.0, min(assign_every, end - time.monotonic())))
            if time.monotonic() >= end:
                return

    async def replies() -> None:
        started = time.monotonic()
        for number in itertools.count(1):
            await asyncio.sleep(max(0.0, started + number / replies_per_second - time.monotonic()))
            if time.monotonic() >= end:
                return
            if open_matters:
                code, phone = open_matters[number % len(open_matters)]
                smsc.reply(phone, f"{code} 进展 已办理第{number}项")
                counts["replied"] += 1

    await asyncio.gather(assignments(), replies())
    return counts


async def run(minutes: float, assign_every: float, replies_per_second: float,
              every: float) -> None:
    from service.db import close_database, open_database

    url = await fresh_database("bench_d_soak")
    await open_database(url)
    operators = await seed_units(url)
    smsc = Smsc(receipts=True)
    log = Path(tempfile.gettempdir()) / "bench_soak_serve.log"
    serve = start_serve(url, smsc.port, log=log, DUBAN_POLL_SECONDS="5")
    samples: list[tuple[float, float]] = []
    sampler = None
    try:
        await asyncio.sleep(5)  # serve binds and starts its loops
        sampler = asyncio.create_task(sample_rss(serve.pid, every, samples))
        counts = await drive(smsc, operators, minutes * 60, assign_every, replies_per_second)
        await asyncio.sleep(10)  # the last answers and receipts go through
        peak = rss_mib(serve.pid, "VmHWM")
        seen = smsc.report()
        troubled = await rows_in_trouble()
    finally:
        if sampler:
            sampler.cancel()
        stop(serve)
        smsc.close()
        await close_database()
    errors = sum(1 for line in log.read_text(errors="replace").splitlines() if " ERROR " in line)
    report(samples, peak, counts, seen, troubled, errors, minutes)


async def rows_in_trouble() -> int:
    from models import MessageStatus, OutboundMessage

    return await OutboundMessage.filter(
        status__in=[MessageStatus.FAILED, MessageStatus.UNKNOWN]).count()


def report(samples: list[tuple[float, float]], peak: float, counts: dict[str, int],
           seen: dict[str, float], troubled: int, errors: int, minutes: float) -> None:
    steady = [s for s in samples if s[0] >= WARM_UP] or samples
    print(f"soak: {minutes:g} min of `duban serve` on PostgreSQL, loopback SMSC with receipts")
    print(f"load: {counts['assigned']} matters assigned, {counts['replied']} replies sent by "
          f"handsets")
    print(f"at the SMSC: {seen['total']} parts submitted to {seen['numbers']} numbers; "
          f"{seen['receipts']} receipts and {seen['replies']} replies accepted by duban")
    print(f"errors: {seen['refused']} deliver_sm refused, {troubled} rows failed/unknown, "
          f"{errors} ERROR lines in serve's log")
    print(f"RSS of serve: start {samples[0][1]:.0f} MiB, after warm-up {steady[0][1]:.0f} MiB, "
          f"peak {peak:.0f} MiB, end {samples[-1][1]:.0f} MiB; trend "
          f"{slope_per_10_minutes(steady):+.2f} MiB per 10 min ({len(samples)} samples)")
    # Whether it levels: the trend of each 10-minute stretch after the warm-up on its own.
    stretches = [[s for s in steady if start <= s[0] < start + 600]
                 for start in range(int(WARM_UP), int(steady[-1][0]), 600)]
    print("trend by 10-minute stretch: " + ", ".join(
        f"{slope_per_10_minutes(part):+.1f}" for part in stretches if len(part) > 10)
        + " MiB per 10 min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--assign-every", type=float, default=2.0, help="seconds")
    parser.add_argument("--replies", type=float, default=5.0, help="replies a second")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    args = parser.parse_args()
    asyncio.run(run(args.minutes, args.assign_every, args.replies, args.every))


if __name__ == "__main__":
    main()
