"""Inline buttons under a notice: 收到 goes straight to the inbox; 报进展, 申请延期 and
申请办结 open a short dialog that collects the text and composes the grammar line.

A press whose data does not verify is answered with an error and nothing else happens.
After a press the notice itself shows what was sent, so the chat reads as a record.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command, Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, Update

from bot.answers import Answers, quietly
from bot.callbacks import ACK, COMPLETION, EXTENSION, PROGRESS, Press, verify
from bot.days import local_today, read_day
from bot.inbox import deliver
from bot.texts import label, say
from dispatch.channel import InboundSink
from models import Person
from scheduler.clock import Clock

log = logging.getLogger(__name__)

PLAIN_TEXT = F.text & ~F.text.startswith("/")  # commands still work inside a dialog


class Dialog(StatesGroup):
    progress = State()
    extension_date = State()
    extension_reason = State()
    extension_plan = State()
    completion = State()


FIRST_STEP = {PROGRESS: Dialog.progress, EXTENSION: Dialog.extension_date,
              COMPLETION: Dialog.completion}


class Signed(Filter):
    """Callback data that verifies and names one of `actions`; hands handlers the `press`."""

    def __init__(self, *actions: str) -> None:
        self.actions = actions

    async def __call__(
        self, query: CallbackQuery, callback_secret: str
    ) -> bool | dict[str, Any]:
        press = verify(query.data, callback_secret)
        return {"press": press} if press and press.action in self.actions else False


async def acknowledge(query: CallbackQuery, press: Press, sink: InboundSink,
                      event_update: Update) -> None:
    await deliver(sink, event_update, query.from_user.id, say("commands", "ack", code=press.code))
    await quietly(query.answer(label("marks", ACK)), "answerCallbackQuery")
    if origin := origin_of(query.message):
        await mark_done(query.bot, origin, ACK, drop=query.data)


async def open_dialog(query: CallbackQuery, press: Press, state: FSMContext,
                      answers: Answers) -> None:
    await state.set_state(FIRST_STEP[press.action])
    await state.set_data(
        {"code": press.code, "action": press.action, "origin": origin_of(query.message)}
    )
    await quietly(query.answer(), "answerCallbackQuery")
    await answers(say("dialog", press.action, code=press.code))


async def refuse_forged(query: CallbackQuery, person: Person) -> None:
    log.warning("refused unverifiable button data %r from chat %s (person %s)",
                query.data, query.from_user.id, person.id)
    await query.answer(say("dialog", "forged"), show_alert=True)


async def progress(message: Message, state: FSMContext, sink: InboundSink,
                   event_update: Update, answers: Answers) -> None:
    code = await state.get_value("code")
    text = say("commands", "progress", code=code, text=message.text)
    await submit(message, state, sink, event_update, answers, text)


async def extension_date(message: Message, state: FSMContext, clock: Clock,
                         tz: ZoneInfo, answers: Answers) -> None:
    day = read_day(message.text or "", local_today(clock.now(), tz))
    if day is None:
        await answers(say("dialog", "bad_date"))
        return
    await state.update_data(day=day.isoformat())
    await state.set_state(Dialog.extension_reason)
    code = await state.get_value("code")
    await answers(say("dialog", "ext_reason", code=code, day=day.isoformat()))


async def extension_reason(message: Message, state: FSMContext, answers: Answers) -> None:
    await state.update_data(reason=message.text)
    await state.set_state(Dialog.extension_plan)
    await answers(say("dialog", "ext_plan", code=await state.get_value("code")))


async def extension_plan(message: Message, state: FSMContext, sink: InboundSink,
                         event_update: Update, answers: Answers) -> None:
    data = await state.get_data()
    text = say("commands", "extension", code=data["code"], day=data["day"],
               reason=data["reason"], plan=message.text)
    await submit(message, state, sink, event_update, answers, text)


async def completion(message: Message, state: FSMContext, sink: InboundSink,
                     event_update: Update, answers: Answers) -> None:
    code = await state.get_value("code")
    text = say("commands", "completion", code=code, text=message.text)
    await submit(message, state, sink, event_update, answers, text)


async def submit(message: Message, state: FSMContext, sink: InboundSink, update: Update,
                 answers: Answers, text: str) -> None:
    data = await state.get_data()
    dialog = {k: data[k] for k in ("action", "code", "day", "reason") if k in data}
    await deliver(sink, update, message.chat.id, text, dialog=dialog)
    # Only now: if the inbox failed, the dialog is still open and the person can resend.
    await state.clear()
    await answers(say("dialog", "submitted", code=data["code"]))
    if data.get("origin"):
        await mark_done(message.bot, data["origin"], data["action"])


async def cancel(message: Message, state: FSMContext, answers: Answers) -> None:
    open_step = await state.get_state()
    await state.clear()
    await answers(say("dialog", "cancelled" if open_step else "nothing_to_cancel"))


def origin_of(message: Any) -> dict[str, Any] | None:
    """What is needed to edit the notice later (kept in FSM data, so plain JSON)."""
    if not isinstance(message, Message) or message.text is None:
        return None  # too old to be accessible, or not a text notice
    markup = message.reply_markup
    return {
        "chat_id": message.chat.id,
        "message_id": message.message_id,
        "text": message.text,
        "markup": markup.model_dump(mode="json", exclude_none=True) if markup else None,
    }


async def mark_done(bot: Bot | None, origin: dict[str, Any], action: str,
                    drop: str | None = None) -> None:
    """Append what was sent to the notice; a used 收到 button goes away."""
    if bot is None:
        return
    mark = label("marks", action)
    text = origin["text"] if mark in origin["text"] else f"{origin['text']}\n{mark}"
    # Deleted, too old, unchanged or a 429: the reply went anyway.
    await quietly(bot.edit_message_text(
        chat_id=origin["chat_id"], message_id=origin["message_id"], text=text,
        reply_markup=without(origin["markup"], drop), parse_mode=None,
    ), f"marking message {origin['message_id']}")


def without(markup: dict[str, Any] | None, data: str | None) -> InlineKeyboardMarkup | None:
    if markup is None:
        return None
    rows = [
        [b for b in row if b.get("callback_data") != data]
        for row in markup.get("inline_keyboard", [])
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup.model_validate({"inline_keyboard": rows}) if rows else None


def router() -> Router:
    r = Router(name="buttons")
    r.callback_query.register(acknowledge, Signed(ACK))
    r.callback_query.register(open_dialog, Signed(PROGRESS, EXTENSION, COMPLETION))
    r.callback_query.register(refuse_forged)  # anything else is forged or stale
    r.message.register(cancel, Command("cancel"))
    r.message.register(progress, Dialog.progress, PLAIN_TEXT)
    r.message.register(extension_date, Dialog.extension_date, PLAIN_TEXT)
    r.message.register(extension_reason, Dialog.extension_reason, PLAIN_TEXT)
    r.message.register(extension_plan, Dialog.extension_plan, PLAIN_TEXT)
    r.message.register(completion, Dialog.completion, PLAIN_TEXT)
    return r
