"""Outbound messages as rows: queued before they are sent, claimed by one dispatcher at a time.

A row is written in the same transaction as the change that causes it, so a crash never
loses a message; the dedup key makes the same clock action produce its rows once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import Matter, MessageEvent, MessageStatus, OutboundMessage, Person


def person_channels(person: Person) -> list[tuple[str, str]]:
    """Every (channel, address) a person has: SMS first, then the messenger (R3)."""
    found = []
    if person.phone:
        found.append(("sms", person.phone))
    if person.telegram_chat_id is not None:
        found.append(("telegram", str(person.telegram_chat_id)))
    if person.wecom_userid:
        found.append(("wecom", person.wecom_userid))
    return found


async def enqueue(
    *,
    kind: str,
    people: Iterable[Person],
    context: dict[str, Any],
    due_at: datetime,
    now: datetime,
    matter: Matter | None = None,
    only_channel: str | None = None,
    dedup: str | None = None,
) -> list[OutboundMessage]:
    """One row per person and channel. `dedup` makes a repeated call a no-op per row."""
    rows = []
    for person in people:
        for channel, address in person_channels(person):
            if only_channel and channel != only_channel:
                continue
            key = f"{dedup}:{person.id}:{channel}" if dedup else None
            row = await create_row(
                matter=matter, person=person, unit_id=person.unit_id, kind=kind,
                channel=channel, address=address,
                context=context | {"person": person.name, "channel": channel},
                due_at=due_at, now=now, dedup_key=key)
            if row is not None:
                rows.append(row)
    return rows


async def create_row(*, now: datetime, **fields: Any) -> OutboundMessage | None:
    try:
        async with in_transaction():
            row = await OutboundMessage.create(created_at=now, **fields)
            await MessageEvent.create(message=row, status=MessageStatus.PENDING, at=now)
    except IntegrityError:
        return None  # this dedup key is queued already
    return row


async def record(row: OutboundMessage, status: MessageStatus, now: datetime, detail: str = "",
                 *, only_if: Q | None = None, **changes: Any) -> bool:
    """Move a row to `status` and append it to the row's history, in one transaction.

    With `only_if` the move is conditional: it happens (and is recorded) only if the row
    still matches, so of two dispatchers racing for one transition exactly one wins."""
    async with in_transaction():
        query = OutboundMessage.filter(id=row.id)
        if only_if is not None:
            query = query.filter(only_if)
        updated = await query.update(status=status, **changes)
        if only_if is not None and not updated:
            return False
        await MessageEvent.create(message_id=row.id, status=status, at=now, detail=detail)
    row.status = status
    for name, value in changes.items():
        setattr(row, name, value)
    return True


def claimable(now: datetime) -> Q:
    due = Q(status=MessageStatus.PENDING, due_at__lte=now)
    return due | Q(status=MessageStatus.CLAIMED, claim_until__lt=now)


async def claim_due(now: datetime, worker: str, lease: timedelta, limit: int = 50
                    ) -> list[OutboundMessage]:
    """Claim due rows for this worker. Each claim is a conditional update committed before
    anything is sent, so two dispatchers never hold the same row; on PostgreSQL the
    candidates are read FOR UPDATE SKIP LOCKED so instances do not queue behind each other."""
    async with in_transaction():
        query = OutboundMessage.filter(claimable(now)).order_by("due_at", "id").limit(limit)
        if is_postgres():
            query = query.select_for_update(skip_locked=True)
        claimed = []
        for row in await query:
            won = await OutboundMessage.filter(claimable(now), id=row.id).update(
                status=MessageStatus.CLAIMED, claimed_by=worker, claim_until=now + lease)
            if won:
                claimed.append(row.id)
    return await OutboundMessage.filter(id__in=claimed).order_by("due_at", "id")


def is_postgres() -> bool:
    return Tortoise.get_connection("default").capabilities.dialect == "postgres"
