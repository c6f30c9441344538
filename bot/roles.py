"""Who may use the supervisor commands: whoever supervises a board (立项主体, R1) by the one
permission function, `workflow.permissions`.

The service checks every decision again against the matter itself; this gate keeps
everyone else from reaching it, scopes the read-only queries to the person's boards, and
leaves a log line for each refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.texts import say
from models import Person
from workflow.permissions import supervised_boards

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class SupervisorOnly(BaseMiddleware):
    """Inner middleware: runs once a supervisor handler matched, before it is called."""

    async def __call__(
        self, handler: Handler, event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        person: Person = data["person"]
        boards = await supervised_boards(person)
        if not boards:
            log.warning("refused supervisor update %r from person %s (%s, role %s)",
                        _what(event), person.id, person.name, person.role.value)
            await _refuse(event)
            return None
        data["boards"] = boards
        return await handler(event, data)


def _what(event: TelegramObject) -> str | None:
    if isinstance(event, Message):
        return event.text
    if isinstance(event, CallbackQuery):
        return event.data
    return None


async def _refuse(event: TelegramObject) -> None:
    if isinstance(event, Message):
        await event.answer(say("supervisor", "refused"))
    elif isinstance(event, CallbackQuery):
        await event.answer(say("supervisor", "refused"), show_alert=True)
