"""Who is behind a chat: linking a Telegram chat to a registered person.

A chat is linked by proof the service trusts: the person's own phone number as Telegram
verified it (a shared contact), or a one-time code an administrator handed out. One chat
belongs to one person; linking a chat again moves it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from models import LinkCode, Person
from sms_gateway.text import to_e164
from workflow.records import Actor, audit

log = logging.getLogger(__name__)


async def person_for_chat(chat_id: int) -> Person | None:
    return await Person.get_or_none(telegram_chat_id=chat_id, active=True)


async def link_by_phone(phone: str, chat_id: int, now: datetime) -> Person | None:
    """Link the chat to the active person registered with this phone, if any."""
    e164 = contact_e164(phone)
    person = await Person.get_or_none(phone=e164, active=True) if e164 else None
    if person:
        await _attach(person, chat_id, now, via="contact")
    return person


LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # nothing to misread: no 0/O, 1/I
LINK_CODE_LIFETIME = timedelta(hours=24)


async def issue_link_code(person: Person, now: datetime) -> LinkCode:
    """A fresh single-use code for `/start CODE`, valid for a day."""
    while True:
        code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(8))
        if not await LinkCode.exists(code=code):
            return await LinkCode.create(person=person, code=code,
                                         expires_at=now + LINK_CODE_LIFETIME)


async def link_by_code(code: str, chat_id: int, now: datetime) -> Person | None:
    """Spend a one-time code: unused, unexpired, of an active person."""
    row = await LinkCode.get_or_none(code=code.strip().upper()).prefetch_related("person")
    if row is None or row.used_at is not None or row.expires_at <= now or not row.person.active:
        return None
    async with in_transaction():
        # The conditional update makes the code single-use even under concurrent presses.
        if not await LinkCode.filter(id=row.id, used_at=None).update(used_at=now):
            return None
        await _attach(row.person, chat_id, now, via="code")
    return row.person


def contact_e164(phone: str) -> str | None:
    """Telegram gives contacts in international form, often without the plus sign."""
    try:
        return to_e164("+" + "".join(ch for ch in phone if ch.isdigit()))
    except ValueError:
        return None


async def _attach(person: Person, chat_id: int, now: datetime, *, via: str) -> None:
    async with in_transaction():
        moved = await Person.filter(telegram_chat_id=chat_id).exclude(id=person.id).update(
            telegram_chat_id=None
        )
        person.telegram_chat_id = chat_id
        await person.save(update_fields=["telegram_chat_id"])
        await audit(None, Actor(person, "telegram"), "link_chat", None, None, now,
                    chat_id=chat_id, via=via, moved_from_other=bool(moved))
    log.info("telegram chat %s linked to person %s via %s", chat_id, person.id, via)
