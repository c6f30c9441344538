"""Who may use the supervisor commands: a supervisor, leader, head or office director of a
unit that initiates boards (立项主体, R1).

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
from models import BoardInitiator, Person, Role

log = logging.getLogger(__name__)

SUPERVISOR_ROLES = frozenset({Role.SUPERVISOR, Role.LEADER, Role.HEAD, Role.DIRECTOR})

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


async def supervised_boards(person: Person) -> list[str]:
    """The boards whose matters this person may command and read; empty for everyone else."""
    if person.role not in SUPERVISOR_ROLES:
        return []
    boards = await BoardInitiator.filter(initiator_id=person.unit_id).values_list(
        "board", flat=True
    )
    return sorted(boards)


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
