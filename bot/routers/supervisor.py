"""Supervisor commands. Decisions (/approve, /return, /grade) go to the inbox as text; the
service checks them on the matter. /regrade, the audited grade correction (R29), calls the
service directly: the reply grammar has no words for it. Views (/matter, /overdue, /stats, /ledger) are read-only
queries scoped to the person's boards (R34). Every update here passes `SupervisorOnly`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message, Update

from bot.answers import Answers
from bot.days import local_today
from bot.inbox import deliver
from bot.roles import SupervisorOnly
from bot.routers import new_matter
from bot.texts import label, render, say
from dispatch.channel import InboundSink
from models import Person
from scheduler.clock import Clock
from workflow import queries
from workflow.errors import Refused
from workflow.ledger import build_ledger
from workflow.queries import Period

DECISIONS = ("approve", "return", "grade")
# /regrade CODE GRADE REASON: the grade correction (matter code, new grade, reason) as the person.
Correct = Callable[[str, str, str, Person], Awaitable[str]]


async def decide(message: Message, command: CommandObject, sink: InboundSink,
                 event_update: Update) -> None:
    # Rebuilt from the parsed command so "/approve@duban_bot D17" reads as "/approve D17".
    text = f"/{command.command} {command.args or ''}".strip()
    await deliver(sink, event_update, message.chat.id, text)


async def regrade(message: Message, command: CommandObject, person: Person,
                  correct: Correct, answers: Answers) -> None:
    """R29: an audited correction of a grade (the service reverses the old score event)."""
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 3:
        await answers(say("supervisor", "regrade_usage"))
        return
    code, grade, reason = parts[0].upper(), parts[1], parts[2]
    try:
        replaced = await correct(code, grade, reason, person)
    except Refused as exc:
        await answers(say("supervisor", "regrade_refused", code=code, reason=exc.code))
        return
    await answers(say("supervisor", "regraded", code=code, old=replaced, new=grade))


async def show_matter(message: Message, command: CommandObject, boards: list[str], tz: ZoneInfo,
                      answers: Answers) -> None:
    code = (command.args or "").strip()
    if not code:
        await answers(say("supervisor", "matter_usage"))
        return
    view = await queries.matter_view(code, boards)
    if view is None:
        await answers(say("supervisor", "not_found", code=code))
        return
    await answers(render("matter", view=view, tz=tz))


async def show_overdue(message: Message, boards: list[str], clock: Clock, tz: ZoneInfo,
                       answers: Answers) -> None:
    rows = await queries.overdue(boards, clock.now())
    await answers(render("overdue", rows=rows, tz=tz))


async def show_stats(message: Message, command: CommandObject, boards: list[str], clock: Clock, tz: ZoneInfo,
                     answers: Answers) -> None:
    if period := await _period(command, clock, tz, answers):
        figures = await queries.stats(boards, period, clock.now())
        await answers(render("stats", stats=figures))


async def send_ledger(message: Message, command: CommandObject, boards: list[str],
                      clock: Clock, tz: ZoneInfo, answers: Answers) -> None:
    """The workbook is a document, sent at once: it records nothing, so if Telegram
    refuses it the person is rightly asked to send the command again."""
    if period := await _period(command, clock, tz, answers):
        workbook = await build_ledger(boards, period, clock.now(), tz, label)
        await message.answer_document(
            BufferedInputFile(workbook, filename=f"duban-ledger-{period.label}.xlsx"),
            caption=say("supervisor", "ledger_caption", period=period.label),
        )


async def _period(command: CommandObject, clock: Clock, tz: ZoneInfo,
                  answers: Answers) -> Period | None:
    period = Period.parse(command.args or "", local_today(clock.now(), tz), tz)
    if period is None:
        await answers(say("supervisor", "bad_period"))
    return period


def router() -> Router:
    r = Router(name="supervisor")
    # Inner middlewares run only once a handler here matched, so other text falls through.
    r.message.middleware(SupervisorOnly())
    r.callback_query.middleware(SupervisorOnly())
    r.message.register(decide, Command(*DECISIONS))
    r.message.register(regrade, Command("regrade"))
    r.message.register(show_matter, Command("matter"))
    r.message.register(show_overdue, Command("overdue"))
    r.message.register(show_stats, Command("stats"))
    r.message.register(send_ledger, Command("ledger"))
    r.include_router(new_matter.router())
    return r
