"""Whatever else a linked person writes goes to the inbox as it is; the parser decides.

/list and /help are the menu's spelling of 列表 and 帮助. Non-text messages cannot be
parsed, so the person is told to write text (R36: every message gets an answer).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message, Update

from bot.answers import Answers
from bot.inbox import deliver
from bot.texts import say
from dispatch.channel import InboundSink


async def list_matters(message: Message, sink: InboundSink, event_update: Update) -> None:
    await deliver(sink, event_update, message.chat.id, say("commands", "list"))


async def help_text(message: Message, sink: InboundSink, event_update: Update) -> None:
    await deliver(sink, event_update, message.chat.id, say("commands", "help"))


async def as_is(message: Message, sink: InboundSink, event_update: Update) -> None:
    await deliver(sink, event_update, message.chat.id, message.text or message.caption or "")


async def text_only(message: Message, answers: Answers) -> None:
    await answers(say("dialog", "text_only"))


def router() -> Router:
    r = Router(name="replies")
    r.message.register(list_matters, Command("list"))
    r.message.register(help_text, Command("help"))
    r.message.register(as_is, F.text | F.caption)
    r.message.register(text_only)
    return r
