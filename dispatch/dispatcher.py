"""The dispatcher: claims due rows, renders them, hands them to their channel, records what
happened. Retry, failover and stale-send recovery are small separate steps.

Exactly-once: a row is marked `sending` (committed) before the channel sees it. If the
process dies before the outcome is recorded, the row's claim expires; it is sent again only
through a channel that drops repeats of one message id (`idempotent`), otherwise it is
marked `unknown` for a person to check, never blindly resent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from tortoise.expressions import Q

from dispatch.channel import Button, Channel, FailureKind, Outgoing, SendResult
from dispatch.failover import fail_over
from dispatch.outbox import claim_due, record
from dispatch.render import Renderer
from models import MessageStatus, OutboundMessage, ProviderId
from scheduler.clock import Clock
from sms_gateway.ratelimit import RateLimiter
from sms_gateway.text import count_segments

log = logging.getLogger("duban.dispatch")

MAX_ATTEMPTS = 8

ButtonsFor = Callable[[OutboundMessage], tuple[tuple[Button, ...], ...]]


class Dispatcher:
    def __init__(self, channels: dict[str, Channel], renderer: Renderer, clock: Clock,
                 worker: str, lease: timedelta = timedelta(seconds=60),
                 buttons_for: ButtonsFor | None = None,
                 limits: dict[str, RateLimiter] | None = None) -> None:
        self.channels = channels
        self.limits = limits or {}
        self.renderer = renderer
        self.clock = clock
        self.worker = worker
        self.lease = lease
        self.buttons_for = buttons_for

    async def run_once(self, limit: int = 50) -> int:
        """Send what is due now. Returns how many rows were handled."""
        await self.recover_stale()
        for limiter in self.limits.values():
            limiter.prune(self.clock.now().timestamp())  # forget numbers whose buckets refilled
        rows = await claim_due(self.clock.now(), self.worker, self.lease, limit)
        for row in rows:
            await self.deliver(row)
        return len(rows)

    async def drain(self) -> int:
        total = 0
        while count := await self.run_once():
            total += count
        return total

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
        channel = self.channels.get(row.channel)
        if channel is None:
            await self.failed(row, f"no {row.channel} channel is configured")
            return
        try:
            text = row.text or self.renderer.render(row.kind, row.context)
        except Exception as exc:  # a bad row must not block the rest of its batch forever
            log.exception("message %s cannot be rendered", row.id)
            await record(row, MessageStatus.FAILED, self.clock.now(), f"cannot render: {exc}",
                         error=f"cannot render: {exc}")
            return
        # Only while this very claim still holds: after its lease ran out another dispatcher
        # (or another tick of this one) may have claimed the row again.
        held = Q(status=MessageStatus.CLAIMED, claimed_by=self.worker, claim_until=row.claim_until)
        if wait := self.rate_wait(row, text):
            await record(row, MessageStatus.PENDING, self.clock.now(), f"rate limited {wait:.1f}s",
                         text=text, due_at=self.clock.now() + timedelta(seconds=wait),
                         only_if=held)
            return
        now = self.clock.now()  # the send's own lease starts now
        if not await record(row, MessageStatus.SENDING, now, text=text,
                            attempts=row.attempts + 1, claim_until=now + self.lease,
                            only_if=held):
            log.info("message %s: claim lost before sending, left to its new holder", row.id)
            return
        result = await self.send(channel, row, text)
        await self.outcome(row, result)

    def rate_wait(self, row: OutboundMessage, text: str) -> float:
        """Seconds this row must wait for the channel's per-address and global limits."""
        limiter = self.limits.get(row.channel)
        if limiter is None:
            return 0.0
        cost = count_segments(text) if row.channel == "sms" else 1
        return limiter.take(row.address, self.clock.now().timestamp(), cost)

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
        # Parts of a long SMS accepted before a failure keep their ids: their receipts match,
        # and the next attempt (Outgoing.sent_parts) sends only the missing parts.
        ids = {"provider_ids": list(result.provider_ids)}
        if result.ok:
            await record(row, MessageStatus.SUBMITTED, now, ",".join(result.provider_ids),
                         sent_at=now, **ids)
        elif result.failure is FailureKind.RETRYABLE and row.attempts < MAX_ATTEMPTS:
            await record(row, MessageStatus.PENDING, now, result.detail,
                         due_at=now + self.backoff(row.attempts, result.retry_after), **ids)
        elif result.failure is FailureKind.UNKNOWN:
            await record(row, MessageStatus.UNKNOWN, now, result.detail, error=result.detail,
                         **ids)
        else:
            await self.failed(row, result.detail)
            return
        for provider_id in result.provider_ids:
            await ProviderId.get_or_create(channel=row.channel, provider_id=provider_id,
                                           defaults={"message_id": row.id})

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
