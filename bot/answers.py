"""Every answer of the bot is an outbound row, sent by the dispatcher (issue 8 item 16).

A handler never calls sendMessage itself: on a Telegram 429 such an answer was lost and
the person was told to resend what had already been recorded. `Answers` writes the text as
a row (kind "bot", channel telegram, already rendered, inline buttons in its context); the
dispatcher sends it and, on a 429, sends it again after Telegram's `retry_after`.

The rows carry no person: a bot dialog's answer makes no sense as an SMS, so they are never
failed over. Their dedup key is the update id and the answer's place in the handler, so a
redelivered update (polling after a crash, a webhook retry) queues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Chat, TelegramObject, Update

from bot.texts import chunks
from dispatch.channel import Button
from dispatch.outbox import create_row
from models import OutboundMessage
from scheduler.clock import Clock

log = logging.getLogger(__name__)

KIND = "bot"
Buttons = tuple[tuple[Button, ...], ...]
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Answers:
    """The answers of one update, to its chat: `await answers("text", buttons)`."""

    def __init__(self, chat_id: int, update_id: int, clock: Clock) -> None:
        self.chat_id, self.update_id, self.clock = chat_id, update_id, clock
        self.queued = 0

    async def __call__(self, text: str, buttons: Buttons = ()) -> None:
        now = self.clock.now()
        pieces = chunks(text)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            context = {"buttons": [[[b.text, b.data] for b in row] for row in buttons]
                       } if last and buttons else {}
            await create_row(kind=KIND, channel="telegram", address=str(self.chat_id),
                             context=context, text=piece, due_at=now, now=now,
                             dedup_key=f"bot:{self.update_id}:{self.queued}")
            self.queued += 1


async def quietly(call: Awaitable[Any], what: str) -> None:
    """A call that only tidies the chat (a button press's acknowledgement, marking a notice):
    when it fails — a 429 included — what the person sent is recorded all the same, so the
    failure is logged and must not make the person resend."""
    try:
        await call
    except TelegramAPIError as exc:
        log.info("telegram %s failed: %s", what, exc)


def row_buttons(row: OutboundMessage) -> Buttons:
    """The inline buttons a bot answer row carries."""
    rows = row.context.get("buttons") or []
    return tuple(tuple(Button(text, data) for text, data in r) for r in rows)


class AnswersMiddleware(BaseMiddleware):
    """Outer update middleware: hands every handler `answers` for the update's chat."""

    async def __call__(self, handler: Handler, event: TelegramObject,
                      data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        if isinstance(event, Update) and chat is not None:
            data["answers"] = Answers(chat.id, event.update_id, data["clock"])
        return await handler(event, data)
