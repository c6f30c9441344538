"""Failover: a message that failed for good on one channel goes to the person's other one.

Called when a channel refuses a message (the dispatcher) and when a delivery receipt says
it failed or expired (the receipt path). A message is failed over once, never back again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from dispatch.outbox import create_row
from models import MessageStatus, OutboundMessage, Person

log = logging.getLogger("duban.dispatch")

OTHER_CHANNEL = {"sms": "telegram", "telegram": "sms", "wecom": "sms"}
GAVE_UP = (MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.UNKNOWN)


async def fail_over(row: OutboundMessage, now: datetime) -> OutboundMessage | None:
    """Queue the message on the person's other channel, if they have one."""
    other = OTHER_CHANNEL.get(row.channel)
    if row.failover_of_id is not None or row.person_id is None or other is None:
        return None
    if await OutboundMessage.exists(failover_of_id=row.id):
        return None  # a second failure report for the same message
    if await OutboundMessage.exists(
            person_id=row.person_id, matter_id=row.matter_id, kind=row.kind, channel=other,
            created_at=row.created_at, status__not_in=GAVE_UP):
        return None  # the same message went out on the other channel already (R3)
    person = await Person.get(id=row.person_id)
    address = {"sms": person.phone,
               "telegram": str(person.telegram_chat_id) if person.telegram_chat_id else None,
               "wecom": person.wecom_userid}
    if not address.get(other):
        return None
    copy = await create_row(matter_id=row.matter_id, person_id=row.person_id,
                            unit_id=row.unit_id, kind=row.kind, channel=other,
                            address=address[other], context=row.context | {"channel": other},
                            due_at=now, now=now, failover_of_id=row.id)
    log.info("message %s failed on %s; failed over to %s", row.id, row.channel, other)
    return copy
