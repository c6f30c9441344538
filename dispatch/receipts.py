"""Delivery receipts: a provider's report on a message we sent, matched by its provider id.

Receipts belong to dispatch, not to the reply path. A receipt moves a row only forward: once a
receipt made it delivered, failed or expired, a later or contradictory one (`failed` after
`delivered`, a second report of the same part) is kept in the row's history and changes
nothing, so a delivered message is never failed over into a second copy (issue 8 item 13).
"""

from __future__ import annotations

import logging
from datetime import datetime

from tortoise.expressions import Q

from dispatch.channel import Receipt
from dispatch.failover import fail_over
from dispatch.outbox import provider_ids_written, record
from models import MessageEvent, MessageStatus, OutboundMessage, ProviderId

log = logging.getLogger("duban.dispatch")

RECEIPT_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "failed": MessageStatus.FAILED,
    "expired": MessageStatus.EXPIRED,
}
FINAL_FAILURES = (MessageStatus.FAILED, MessageStatus.EXPIRED)
# What a receipt may move: a row the channel accepted whole, or whose outcome was unknown.
# Delivered, failed and expired are never left again because of a receipt.
MOVABLE = (MessageStatus.SUBMITTED, MessageStatus.UNKNOWN)


async def apply_receipt(receipt: Receipt, now: datetime) -> None:
    """Record what a receipt says about the message it names; unknown ids are ignored."""
    status = RECEIPT_STATUS.get(receipt.status)
    ref = await ProviderId.get_or_none(channel=receipt.channel,
                                       provider_id=receipt.provider_message_id)
    if ref is None and await provider_ids_written(receipt.channel, receipt.provider_message_id):
        ref = await ProviderId.get_or_none(channel=receipt.channel,
                                           provider_id=receipt.provider_message_id)
    if status is None or ref is None:
        log.info("receipt %s (%s) on %s matches no message; ignored",
                 receipt.provider_message_id, receipt.status, receipt.channel)
        return
    detail = f"receipt {receipt.provider_message_id}"
    if receipt.detail:
        detail += f": {receipt.detail}"
    row = await OutboundMessage.get(id=ref.message_id)
    # Conditional, so of two receipts racing for one row exactly one moves it.
    if not await record(row, status, now, detail, only_if=Q(status__in=MOVABLE)):
        # A later part of a long SMS, a provider's repeat, a contradiction, or a part sent
        # while its other parts wait for a retry (issue 8 item 10): history only.
        await MessageEvent.create(message_id=row.id, status=status.value, at=now, detail=detail)
        return
    if status in FINAL_FAILURES:
        await fail_over(row, now)  # a failed or expired delivery: try the other channel
