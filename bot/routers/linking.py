"""Linking a chat to a registered person: `/start CODE`, or sharing one's own phone number.

Answers that record nothing and carry a reply keyboard (the contact button) go out at once;
if Telegram refuses one, the person is rightly asked to try again.

Anyone not linked gets the explanation of how to link, and nothing else (no matter data).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import (
    CallbackQuery,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.accounts import link_by_code, link_by_phone, person_for_chat
from bot.answers import Answers
from bot.identity import Private
from bot.texts import labels, say
from models import Person
from scheduler.clock import Clock


async def start(message: Message, command: CommandObject, clock: Clock,
                answers: Answers) -> None:
    if command.args:
        person = await link_by_code(command.args.strip(), message.chat.id, clock.now())
        if person:
            await welcome(answers, person)
        else:
            await message.answer(say("link", "bad_code"))
        return
    person = await person_for_chat(message.chat.id)
    if person:
        await message.answer(say("link", "already", name=person.name))
    else:
        await explain(message)


async def contact(message: Message, clock: Clock, answers: Answers) -> None:
    shared = message.contact
    # A forwarded contact card would let anyone claim someone else's number.
    if shared is None or message.from_user is None or shared.user_id != message.from_user.id:
        await message.answer(say("link", "not_own_contact"), reply_markup=contact_keyboard())
        return
    person = await link_by_phone(shared.phone_number, message.chat.id, clock.now())
    if person is None:
        await message.answer(say("link", "unknown_phone"), reply_markup=ReplyKeyboardRemove())
    else:
        await welcome(answers, person)


async def welcome(answers: Answers, person: Person) -> None:
    """The link is recorded: the welcome goes through the outbox (the contact keyboard is
    one-time, so it needs no removal)."""
    unit = await person.unit
    await answers(say("link", "linked", name=person.name, unit=unit.name))


async def explain(message: Message) -> None:
    await message.answer(say("link", "unlinked"), reply_markup=contact_keyboard())


async def explain_press(query: CallbackQuery) -> None:
    await query.answer(say("link", "unlinked_short"), show_alert=True)


def contact_keyboard() -> ReplyKeyboardMarkup:
    button = KeyboardButton(text=labels("contact_button"), request_contact=True)
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def router() -> Router:
    """First in line, for linked and unlinked chats alike."""
    r = Router(name="linking")
    r.message.filter(Private())
    r.message.register(start, CommandStart())
    r.message.register(contact, F.contact)
    return r


def fallback() -> Router:
    """Last in line: whatever an unlinked chat sends is answered with how to link."""
    r = Router(name="unlinked")
    r.message.filter(Private())
    r.callback_query.filter(Private())
    r.message.register(explain)
    r.callback_query.register(explain_press)
    return r
