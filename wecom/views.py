"""Supervisor views in WeCom: the bot's read-only /matter, /overdue and /stats as text.

Decisions (同意 D17, 退回 D17 理由, 评定 D17 良好, /approve D17 …) are replies like any other
and go to the inbox. A view is no reply to a matter, so the WeCom sink answers it itself,
with the bot's queries and templates: the message is stored raw first, and the answer is
an outbox row on WeCom like every other message. Anyone who is not a supervisor of a board
gets what the inbox answers to any text it does not understand.
"""

from __future__ import annotations

import re
from datetime import datetime

from tortoise.transactions import in_transaction

from bot.days import local_today
from bot.roles import supervised_boards
from bot.texts import chunks, render, say
from dispatch.channel import InboundText, Receipt
from dispatch.outbox import create_row
from models import InboundMessage, Person
from replies.inbound import Inbox, Status, identify, store
from scheduler.rules import Kind
from workflow import queries
from workflow.queries import Period

VIEW = re.compile(r"/(matter|overdue|stats)(?:@\S*)?(?:\s+(.*))?", re.DOTALL)
# message/send takes 2048 bytes of text; CJK characters are 3 bytes in UTF-8.
TEXT_LIMIT = 600


class WeComInbox:
    """The sink of the WeCom callback: views answered here, everything else to the inbox."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._ctx = inbox.ctx

    async def inbound(self, message: InboundText) -> None:
        match = VIEW.fullmatch(message.text.strip())
        person = await identify(message.channel, message.sender) if match else None
        boards = await supervised_boards(person) if person else []
        if match is None or person is None or not boards:
            await self._inbox.inbound(message)
            return
        row = await store(message, self._ctx)
        if row is None or row.status != Status.RECEIVED:
            return  # WeCom's retry of a view already answered
        text = await self.view(match[1], (match[2] or "").strip(), boards)
        await self.answer(row, person, match[1], text)

    async def receipt(self, receipt: Receipt) -> None:
        await self._inbox.receipt(receipt)

    async def view(self, command: str, args: str, boards: list[str]) -> str:
        now, tz = self._ctx.clock.now(), self._ctx.tz
        if command == "overdue":
            return render("overdue", rows=await queries.overdue(boards, now), tz=tz)
        if command == "stats":
            period = Period.parse(args, local_today(now, tz), tz)
            if period is None:
                return say("supervisor", "bad_period")
            return render("stats", stats=await queries.stats(boards, period, now))
        if not args:
            return say("supervisor", "matter_usage")
        view = await queries.matter_view(args, boards)
        return render("matter", view=view, tz=tz) if view else say(
            "supervisor", "not_found", code=args)

    async def answer(self, row: InboundMessage, person: Person, command: str,
                     text: str) -> None:
        """The view as reply rows (one per WeCom-sized piece) and the row marked done."""
        now: datetime = self._ctx.clock.now()
        async with in_transaction():
            for index, piece in enumerate(chunks(text, TEXT_LIMIT)):
                await create_row(
                    kind=Kind.REPLY.value, channel="wecom", address=person.wecom_userid,
                    person=person, unit_id=person.unit_id, text=piece, due_at=now, now=now,
                    context={"reason": "view", "channel": "wecom", "person": person.name},
                    dedup_key=f"reply:{row.id}:{person.id}:wecom:{index}")
            await InboundMessage.filter(id=row.id).update(
                status=Status.DONE.value, person_id=person.id, outcome=f"view {command}")
