"""/settings: the person chooses the channel their messages go on (issue 9 part 4).

The buttons only ever change the preference of the person who presses them, so their data
needs no signature; the change goes through the workflow's `set_channel_preference`
(audited), the bot holds no rule of its own.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.texts import say
from models import ChannelPreference, Person
from scheduler.clock import Clock
from workflow.delivery import PREFERENCE_NAMES, set_channel_preference
from workflow.records import Actor

PREFIX = "pref:"


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=name, callback_data=f"{PREFIX}{pref.value}")]
        for pref, name in PREFERENCE_NAMES.items()])


async def show(message: Message, person: Person, fallback_hours: float) -> None:
    name = PREFERENCE_NAMES[person.channel_preference]
    await message.answer(say("settings", "current", name=name, hours=f"{fallback_hours:g}"),
                         reply_markup=keyboard())


async def choose(query: CallbackQuery, person: Person, clock: Clock) -> None:
    try:
        preference = ChannelPreference(query.data.removeprefix(PREFIX))
    except ValueError:
        await query.answer()
        return
    changed = await set_channel_preference(person, preference, Actor(person, "telegram"),
                                           clock.now())
    name = PREFERENCE_NAMES[preference]
    await query.answer()
    await query.message.answer(say("settings", "changed" if changed else "unchanged", name=name))


def router() -> Router:
    r = Router(name="settings")
    r.message.register(show, Command("settings"))
    r.callback_query.register(choose, F.data.startswith(PREFIX))
    return r
