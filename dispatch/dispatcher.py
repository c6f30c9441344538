"""The dispatcher: claims due rows in batches, renders them, hands them to their channels
concurrently, records what happened. Retry, failover and stale-send recovery are small
separate steps; `DispatchLoop` (dispatch/loop.py) runs it continuously.

Exactly-once: a row is marked `sending` (committed) before the channel sees it. If the
process dies before the outcome is recorded, the row's claim expires; it is sent again only
through a channel that drops repeats of one message id (`idempotent`), otherwise it is
marked `unknown` for a person to check, never blindly resent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q

from dispatch import metrics
from dispatch.channel import Button, Channel, FailureKind, Outgoing, SendResult
from dispatch.failover import fail_over
from dispatch.outbox import GROUP_COMMIT_WAIT, SubmittedWriter, claim_due, record, start_sending
from dispatch.ratelimit import RateLimiter
from dispatch.render import Renderer
from dispatch.shared_limits import SharedRateLimiter
from models import MessageStatus, OutboundMessage, ProviderId
from scheduler.clock import Clock

log = logging.getLogger("duban.dispatch")

MAX_ATTEMPTS = 8
BATCH = 50  # rows claimed at once by run_once (the loop sizes its batches to the channels)
IN_FLIGHT = 200  # at least this many rows in flight in the loop: big batches, few commits
THROTTLE_PAUSE = 1.0  # seconds, when a throttled peer did not say how long to wait

Limiter = RateLimiter | SharedRateLimiter  # in this process, or shared through Redis
ButtonsFor = Callable[[OutboundMessage], tuple[tuple[Button, ...], ...]]


@dataclass
class Ready:
    """A claimed row, rendered, within its limits: about to be sent."""

    row: OutboundMessage
    channel: Channel
    text: str


class Dispatcher:
    def __init__(self, channels: dict[str, Channel], renderer: Renderer, clock: Clock,
                 worker: str, lease: timedelta = timedelta(seconds=60),
                 buttons_for: ButtonsFor | None = None,
                 limits: dict[str, Limiter] | None = None,
                 group_commit_wait: float = GROUP_COMMIT_WAIT) -> None:
        self.channels = channels
        self.limits = limits or {}
        self.renderer = renderer
        self.clock = clock
        self.worker = worker
        self.lease = lease
        self.buttons_for = buttons_for
        # How many sends may be in flight on each channel (SMPP: window x binds).
        self.submitted = SubmittedWriter(group_commit_wait)
        self.slots = {name: asyncio.Semaphore(concurrency(channel))
                      for name, channel in channels.items()}

    def capacity(self) -> int:
        """How many rows may usefully be claimed and in flight at once: enough to keep every
        channel's window full while the next rows are rendered and recorded."""
        return max(IN_FLIGHT, 4 * sum(concurrency(c) for c in self.channels.values()))

    async def run_once(self, limit: int = BATCH) -> int:
        """Send what is due now. Returns how many rows were handled."""
        await self.recover_stale()
        self.prune_limits()
        rows = await self.claim(limit)
        await self.deliver_all(rows)
        return len(rows)

    async def claim(self, limit: int) -> list[OutboundMessage]:
        return await claim_due(self.clock.now(), self.worker, self.lease, limit)

    async def drain(self) -> int:
        """Send everything due now, batch after batch (rows written while sending, e.g. a
        failover's copy, included). Stale claims are looked for once: they only appear as
        time passes."""
        await self.recover_stale()
        self.prune_limits()
        total = 0
        while rows := await self.claim(BATCH):
            await self.deliver_all(rows)
            total += len(rows)
        return total

    def prune_limits(self) -> None:
        for limiter in self.limits.values():
            limiter.prune(self.clock.now().timestamp())  # forget numbers whose buckets refilled

    async def recover_stale(self) -> None:
        now = self.clock.now()
        stale = Q(status=MessageStatus.SENDING, claim_until__lt=now)
        for row in await OutboundMessage.filter(stale):
            channel = self.channels.get(row.channel)
            if channel is not None and getattr(channel, "idempotent", False):
                await record(row, MessageStatus.PENDING, now, "claim expired while sending; "
                             "the channel drops repeats, so it is sent again", only_if=stale)
            elif await record(row, MessageStatus.UNKNOWN, now, "claim expired while sending; "
                              "outcome unknown, not resent", only_if=stale):
                log.warning("message %s: outcome unknown after a crash, not resent", row.id)

    async def deliver(self, row: OutboundMessage) -> None:
        await self.deliver_all([row])

    async def deliver_all(self, rows: list[OutboundMessage]) -> None:
        """Prepare every row, mark the sendable ones `sending` in one commit, then send them
        concurrently (each channel up to its window) and record the outcomes in batches."""
        ready = [r for row in rows if (r := await self.prepare(row)) is not None]
        if not ready:
            return
        now = self.clock.now()  # the sends' own lease starts now
        started = set(await start_sending([(r.row, r.text) for r in ready], self.worker, now,
                                          now + self.lease))
        for r in ready:
            if r.row.id not in started:
                log.info("message %s: claim lost before sending, left to its new holder",
                         r.row.id)
        sends = [self.send_and_record(r) for r in ready if r.row.id in started]
        await asyncio.gather(*sends)

    async def prepare(self, row: OutboundMessage) -> Ready | None:
        """Render the row and check its limits; a row that cannot go now is recorded here."""
        channel = self.channels.get(row.channel)
        if channel is None:
            await self.failed(row, f"no {row.channel} channel is configured")
            return None
        try:
            text = row.text or self.renderer.render(row.kind, row.context)
            wait = await self.rate_wait(row, text)
        except Exception as exc:  # a bad row must not block the rest of its batch forever
            log.exception("message %s cannot be prepared", row.id)
            await record(row, MessageStatus.FAILED, self.clock.now(), f"cannot render: {exc}",
                         error=f"cannot render: {exc}")
            return None
        if wait:
            # Only while this very claim still holds: after its lease ran out another
            # dispatcher may have claimed the row again.
            held = Q(status=MessageStatus.CLAIMED, claimed_by=self.worker,
                     claim_until=row.claim_until)
            await record(row, MessageStatus.PENDING, self.clock.now(), f"rate limited {wait:.1f}s",
                         text=text, due_at=self.clock.now() + timedelta(seconds=wait),
                         only_if=held)
            return None
        return Ready(row, channel, text)

    async def rate_wait(self, row: OutboundMessage, text: str) -> float:
        """Seconds this row must wait for the channel's per-address and global limits."""
        limiter = self.limits.get(row.channel)
        if limiter is None:
            return 0.0
        return await limiter.acquire(row.address, self.clock.now().timestamp(),
                                     limiter.cost(text))

    async def send_and_record(self, ready: Ready) -> None:
        async with self.slots.setdefault(ready.row.channel, asyncio.Semaphore(1)):
            started = time.perf_counter()
            result = await self.send(ready.channel, ready.row, ready.text)
            metrics.SUBMIT_SECONDS.labels(ready.row.channel).observe(
                time.perf_counter() - started)
        await self.outcome(ready.row, result)

    async def send(self, channel: Channel, row: OutboundMessage, text: str) -> SendResult:
        buttons = self.buttons_for(row) if self.buttons_for and row.channel == "telegram" else ()
        message = Outgoing(message_id=row.id, channel=row.channel, to=row.address, text=text,
                           kind=row.kind, matter_code=row.context.get("code"), buttons=buttons,
                           sent_parts=tuple(row.provider_ids))
        try:
            return await channel.send(message)
        except Exception as exc:  # a channel bug must not stop the dispatcher
            log.exception("channel %s raised on message %s", row.channel, row.id)
            return SendResult.failed(FailureKind.UNKNOWN, f"channel raised {exc!r}")

    async def outcome(self, row: OutboundMessage, result: SendResult) -> None:
        now = self.clock.now()
        status = MessageStatus.SUBMITTED
        # Parts of a long SMS accepted before a failure keep their ids: their receipts match,
        # and the next attempt (Outgoing.sent_parts) sends only the missing parts.
        ids = {"provider_ids": list(result.provider_ids)}
        if result.ok:
            await self.submitted.add(row, result.provider_ids, now)
        elif result.throttled:
            # The peer asked us to slow down: not the message's fault, so not an attempt
            # (issue 8 item 11); it waits as long as the peer asked.
            status = MessageStatus.PENDING
            pause = timedelta(seconds=result.retry_after or THROTTLE_PAUSE)
            await record(row, status, now, result.detail, attempts=row.attempts - 1,
                         due_at=now + pause, **ids)
        elif result.failure is FailureKind.RETRYABLE and row.attempts < MAX_ATTEMPTS:
            status = MessageStatus.PENDING
            await record(row, status, now, result.detail,
                         due_at=now + self.backoff(row.attempts, result.retry_after), **ids)
        elif result.failure is FailureKind.UNKNOWN:
            status = MessageStatus.UNKNOWN
            await record(row, status, now, result.detail, error=result.detail, **ids)
        else:
            status = MessageStatus.FAILED
            await self.failed(row, result.detail)
        if not result.ok and status is not MessageStatus.FAILED:
            for provider_id in result.provider_ids:
                await ProviderId.get_or_create(channel=row.channel, provider_id=provider_id,
                                               defaults={"message_id": row.id})
        metrics.MESSAGES.labels(row.channel, status.value).inc()

    @staticmethod
    def backoff(attempts: int, retry_after: float | None) -> timedelta:
        if retry_after is not None:
            return timedelta(seconds=retry_after)
        return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))

    async def failed(self, row: OutboundMessage, detail: str) -> None:
        """A permanent failure; the message goes to the person's other channel if any."""
        now = self.clock.now()
        await record(row, MessageStatus.FAILED, now, detail, error=detail)
        await fail_over(row, now)


def concurrency(channel: Channel) -> int:
    return max(1, int(getattr(channel, "concurrency", 1)))
