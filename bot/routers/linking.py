"""Linking a chat to a registered person: `/start CODE`, or sharing one's own phone number.

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
from bot.identity import Private
from bot.texts import labels, say
from models import Person
from scheduler.clock import Clock


async def start(message: Message, command: CommandObject, clock: Clock) -> None:
    if command.args:
        person = await link_by_code(command.args.strip(), message.chat.id, clock.now())
        if person:
            await welcome(message, person)
        else:
            await message.answer(say("link", "bad_code"))
        return
    person = await person_for_chat(message.chat.id)
    if person:
        await message.answer(say("link", "already", name=person.name))
    else:
        await explain(message)


async def contact(message: Message, clock: Clock) -> None:
    shared = message.contact
    # A forwarded contact card would let anyone claim someone else's number.
    if shared is None or message.from_user is None or shared.user_id != message.from_user.id:
        await message.answer(say("link", "not_own_contact"), reply_markup=contact_keyboard())
        return
    person = await link_by_phone(shared.phone_number, message.chat.id, clock.now())
    if person is None:
        await message.answer(say("link", "unknown_phone"), reply_markup=ReplyKeyboardRemove())
    else:
        await welcome(message, person)


async def welcome(message: Message, person: Person) -> None:
    unit = await person.unit
    await message.answer(
        say("link", "linked", name=person.name, unit=unit.name),
        reply_markup=ReplyKeyboardRemove(),
    )


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
