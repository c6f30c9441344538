"""Supervisor views in WeCom: the bot's read-only /matter, /overdue and /stats as text, with
the bot's queries and templates; and the rows that carry any answer the WeCom sink gives
itself (views, card prompts), so those too are outbox rows like every other message (R36).
"""

from __future__ import annotations

import re

from tortoise.transactions import in_transaction

from bot.days import local_today
from bot.texts import chunks, render, say
from dispatch.outbox import create_row
from models import InboundMessage, Person
from replies.inbound import Status
from scheduler.rules import Kind
from workflow import queries
from workflow.context import Context
from workflow.queries import Period

VIEW = re.compile(r"/(matter|overdue|stats)(?:@\S*)?(?:\s+(.*))?", re.DOTALL)
# message/send takes 2048 bytes of text; CJK characters are 3 bytes in UTF-8.
TEXT_LIMIT = 600


async def view(ctx: Context, command: str, args: str, boards: list[str]) -> str:
    now, tz = ctx.clock.now(), ctx.tz
    if command == "overdue":
        return render("overdue", rows=await queries.overdue(boards, now), tz=tz)
    if command == "stats":
        period = Period.parse(args, local_today(now, tz), tz)
        if period is None:
            return say("supervisor", "bad_period")
        return render("stats", stats=await queries.stats(boards, period, now))
    if not args:
        return say("supervisor", "matter_usage")
    found = await queries.matter_view(args, boards)
    return render("matter", view=found, tz=tz) if found else say(
        "supervisor", "not_found", code=args)


async def answer(ctx: Context, row: InboundMessage, person: Person, outcome: str,
                 text: str) -> None:
    """The answer as reply rows on WeCom (one per WeCom-sized piece); the row marked done."""
    now = ctx.clock.now()
    async with in_transaction():
        for index, piece in enumerate(chunks(text, TEXT_LIMIT)):
            await create_row(
                kind=Kind.REPLY.value, channel="wecom", address=person.wecom_userid,
                person=person, unit_id=person.unit_id, text=piece, due_at=now, now=now,
                context={"reason": "wecom", "channel": "wecom", "person": person.name},
                dedup_key=f"reply:{row.id}:{person.id}:wecom:{index}")
        await InboundMessage.filter(id=row.id).update(
            status=Status.DONE.value, person_id=person.id, outcome=outcome)
