"""`duban link-code PHONE`: issue a one-time messenger link code and text it to the person."""

from __future__ import annotations

from dispatch.outbox import enqueue
from models import Person
from sms_gateway.text import to_e164
from workflow.context import Context


class UnknownPerson(ValueError):
    """No active person has that phone."""


async def send_link_code(ctx: Context, phone: str) -> str:
    """Issue the code, queue it by SMS (the running service sends it), return it."""
    from bot.accounts import issue_link_code

    person = await Person.get_or_none(phone=to_e164(phone), active=True)
    if person is None:
        raise UnknownPerson(f"no registered person has the phone {phone}")
    now = ctx.clock.now()
    link = await issue_link_code(person, now)
    context = {"reason": "link_code", "link_code": link.code,
               "valid_until": link.expires_at.astimezone(ctx.tz).strftime("%m-%d %H:%M")}
    await enqueue(kind="reply", people=[person], context=context, due_at=now, now=now,
                  only_channel="sms")
    return link.code
