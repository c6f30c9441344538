"""Messages whose outcome is `unknown` (the channel may or may not have sent them): a person
decides — it arrived (mark delivered) or send it again. Each decision is an audit row."""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from dispatch.outbox import create_row, record
from models import MessageStatus, OutboundMessage, Person
from workflow.errors import Refused
from workflow.records import Actor, audit

UNKNOWN = Q(status=MessageStatus.UNKNOWN)


async def mark_delivered(message_id: int, person: Person, now: datetime) -> None:
    row = await unknown_row(message_id)
    async with in_transaction():
        if not await record(row, MessageStatus.DELIVERED, now, f"confirmed by {person.name}",
                            only_if=UNKNOWN):
            raise Refused("not_unknown")
        await audit(await row.matter, Actor(person, "web"), "message_delivered", None, None,
                    now, message=row.id)


async def send_again(message_id: int, person: Person, now: datetime) -> OutboundMessage:
    """A new row with the same content; the old one is closed as failed, naming the new."""
    row = await unknown_row(message_id)
    async with in_transaction():
        again = await create_row(
            now=now, matter_id=row.matter_id, person_id=row.person_id, unit_id=row.unit_id,
            kind=row.kind, channel=row.channel, address=row.address, context=row.context,
            due_at=now)
        if not await record(row, MessageStatus.FAILED, now,
                            f"outcome unknown; sent again as #{again.id} by {person.name}",
                            only_if=UNKNOWN):
            raise Refused("not_unknown")
        await audit(await row.matter, Actor(person, "web"), "message_resent", None, None, now,
                    message=row.id, again=again.id)
    return again


async def unknown_row(message_id: int) -> OutboundMessage:
    row = await OutboundMessage.get_or_none(id=message_id, status=MessageStatus.UNKNOWN)
    if row is None:
        raise Refused("not_unknown")
    return row


async def unknown_messages(limit: int = 100) -> list[OutboundMessage]:
    return await OutboundMessage.filter(UNKNOWN).order_by("created_at").limit(limit
                                                                           ).prefetch_related(
        "person", "matter")
