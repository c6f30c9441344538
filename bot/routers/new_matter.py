"""/new: a supervisor registers a matter step by step (R1 approval, R2 not classified,
R5 class or deadline), then the service's `register` does it and sends the notices (R3).

Each step only checks what it can see (a date is a date, a unit key exists); the rules of
registration are the service's, and its refusal is shown as it comes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.answers import Answers, Buttons, quietly
from bot.days import local_today, read_day
from bot.texts import label, labels, say
from dispatch.channel import Button
from models import Matter, Person
from scheduler.clock import Clock
from workflow.errors import Refused
from workflow.queries import unit_names
from workflow.service import MatterDraft

Register = Callable[[MatterDraft, Person], Awaitable[Matter]]

PLAIN_TEXT = F.text & ~F.text.startswith("/")
NONE = "-"  # what a person sends for "no source" / "no cooperating unit"
_UNIT_KEY = re.compile(r"[\w.-]+")


class NewMatter(StatesGroup):
    board = State()
    title = State()
    source = State()
    klass = State()
    lead = State()
    cooperating = State()
    approver = State()
    approved_on = State()
    confirm = State()


async def start(message: Message, state: FSMContext, boards: list[str],
                answers: Answers) -> None:
    await state.clear()
    await state.set_state(NewMatter.board)
    choices = [(label("boards", b), f"new:board:{b}") for b in boards]
    await answers(say("new", "board"), keyboard(choices))


async def pick_board(query: CallbackQuery, state: FSMContext, boards: list[str],
                     answers: Answers) -> None:
    board = (query.data or "").removeprefix("new:board:")
    await quietly(query.answer(), "answerCallbackQuery")
    if board in boards:
        await state.update_data(board=board)
        await _ask(answers, state, NewMatter.title, "title")


async def title(message: Message, state: FSMContext, answers: Answers) -> None:
    text = (message.text or "").strip()
    if not text or len(text) > 255:
        await answers(say("new", "bad_title"))
        return
    await state.update_data(title=text)
    await _ask(answers, state, NewMatter.source, "source")


async def source(message: Message, state: FSMContext, answers: Answers) -> None:
    text = (message.text or "").strip()[:255]
    await state.update_data(source="" if text == NONE else text)
    choices = [(name, f"new:klass:{key}") for key, name in labels("classes").items()]
    await _ask(answers, state, NewMatter.klass, "klass", keyboard(choices))


async def pick_class(query: CallbackQuery, state: FSMContext, answers: Answers) -> None:
    klass = (query.data or "").removeprefix("new:klass:")
    await quietly(query.answer(), "answerCallbackQuery")
    await state.update_data(klass=klass, deadline=None)
    await _ask(answers, state, NewMatter.lead, "lead")


async def deadline(message: Message, state: FSMContext, clock: Clock, tz: ZoneInfo,
                   answers: Answers) -> None:
    today = local_today(clock.now(), tz)
    day = read_day(message.text or "", today)
    if day is None or day < today:
        await answers(say("new", "bad_deadline"))
        return
    await state.update_data(klass="general", deadline=day.isoformat())
    await _ask(answers, state, NewMatter.lead, "lead")


async def lead(message: Message, state: FSMContext, answers: Answers) -> None:
    keys = _UNIT_KEY.findall(message.text or "")[:1]
    if not keys:
        await answers(say("new", "lead"))
        return
    if await _report_unknown(answers, keys):
        return
    await state.update_data(lead=keys[0])
    await _ask(answers, state, NewMatter.cooperating, "cooperating")


async def cooperating(message: Message, state: FSMContext, answers: Answers) -> None:
    text = (message.text or "").strip()
    keys = [] if text == NONE else list(dict.fromkeys(_UNIT_KEY.findall(text)))
    if await _report_unknown(answers, keys):
        return
    if await state.get_value("lead") in keys:
        await answers(say("new", "lead_cooperating"))
        return
    await state.update_data(cooperating=keys)
    await _ask(answers, state, NewMatter.approver, "approver")


async def approver(message: Message, state: FSMContext, answers: Answers) -> None:
    text = (message.text or "").strip()
    if not text or len(text) > 64:
        await answers(say("new", "bad_approver"))
        return
    await state.update_data(approver=text)
    await _ask(answers, state, NewMatter.approved_on, "approved_on")


async def approved_on(message: Message, state: FSMContext, clock: Clock, tz: ZoneInfo,
                      answers: Answers) -> None:
    day = read_day(message.text or "", local_today(clock.now(), tz))
    if day is None or day > local_today(clock.now(), tz):
        await answers(say("new", "bad_approved_on"))
        return
    await state.update_data(approved_on=day.isoformat())
    await state.set_state(NewMatter.confirm)
    choices = [(label("new_buttons", "confirm"), "new:confirm"),
               (label("new_buttons", "cancel"), "new:cancel")]
    await answers(await _summary(await state.get_data()), keyboard(choices))


async def confirm(query: CallbackQuery, state: FSMContext, person: Person,
                  register: Register, tz: ZoneInfo, answers: Answers) -> None:
    data = await state.get_data()
    await state.clear()  # first, so a second press finds no dialog (updates are serialised)
    await quietly(query.answer(), "answerCallbackQuery")
    await _close_summary(query)
    unit = await person.unit
    try:
        matter = await register(draft(data, unit.key, tz), person)
    except Refused as exc:
        await answers(say("new", "refused", code=exc.code, params=exc.params))
        return
    await answers(say("new", "done", code=matter.code))


async def cancel(query: CallbackQuery, state: FSMContext, answers: Answers) -> None:
    await state.clear()
    await quietly(query.answer(), "answerCallbackQuery")
    await _close_summary(query)
    await answers(say("new", "cancelled"))


def draft(data: dict[str, Any], initiator: str, tz: ZoneInfo) -> MatterDraft:
    """The registration as the service takes it. Pressing the confirm button is the
    explicit "not classified" statement R2 asks for."""
    deadline = data.get("deadline")
    return MatterDraft(
        board=data["board"], title=data["title"], initiator=initiator, lead=data["lead"],
        approver=data["approver"], approved_on=date.fromisoformat(data["approved_on"]),
        not_classified=True, klass=data["klass"],
        deadline=end_of_day(date.fromisoformat(deadline), tz) if deadline else None,
        cooperating=data["cooperating"], source=data["source"],
    )


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """A deadline "by 2026-12-31" runs to the last minute of that day, local time."""
    return datetime.combine(day, time(23, 59), tz)


def keyboard(choices: list[tuple[str, str]]) -> Buttons:
    return tuple((Button(text, data),) for text, data in choices)


async def _ask(answers: Answers, state: FSMContext, step: State, prompt: str,
               buttons: Buttons = ()) -> None:
    await state.set_state(step)
    await answers(say("new", prompt), buttons)


async def _report_unknown(answers: Answers, keys: list[str]) -> bool:
    known = await unit_names(keys)
    unknown = [k for k in keys if k not in known]
    if unknown:
        await answers(say("new", "unknown_units", keys=unknown))
    return bool(unknown)


async def _summary(data: dict[str, Any]) -> str:
    names = await unit_names([data["lead"], *data["cooperating"]])
    return say("new", "summary", d=data, board_name=label("boards", data["board"]),
               class_name=label("classes", data["klass"]), lead_name=names[data["lead"]],
               cooperating_names=[names[k] for k in data["cooperating"]])


async def _close_summary(query: CallbackQuery) -> None:
    """Drop the buttons so the summary cannot be confirmed twice."""
    if isinstance(query.message, Message):
        await quietly(query.message.edit_reply_markup(reply_markup=None), "editMessageReplyMarkup")


def router() -> Router:
    r = Router(name="new_matter")
    r.message.register(start, Command("new"))
    r.callback_query.register(pick_board, NewMatter.board, F.data.startswith("new:board:"))
    r.callback_query.register(pick_class, NewMatter.klass, F.data.in_(
        {f"new:klass:{k}" for k in ("general", "major")}))
    r.callback_query.register(confirm, NewMatter.confirm, F.data == "new:confirm")
    r.callback_query.register(cancel, NewMatter.confirm, F.data == "new:cancel")
    r.message.register(title, NewMatter.title, PLAIN_TEXT)
    r.message.register(source, NewMatter.source, PLAIN_TEXT)
    r.message.register(deadline, NewMatter.klass, PLAIN_TEXT)
    r.message.register(lead, NewMatter.lead, PLAIN_TEXT)
    r.message.register(cooperating, NewMatter.cooperating, PLAIN_TEXT)
    r.message.register(approver, NewMatter.approver, PLAIN_TEXT)
    r.message.register(approved_on, NewMatter.approved_on, PLAIN_TEXT)
    return r
