"""Filters on who writes: only private chats, and only chats linked to a person."""

from __future__ import annotations

from typing import Any

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import Chat, TelegramObject

from bot.accounts import person_for_chat


class Private(Filter):
    """The bot talks to people one to one; group chats are ignored entirely."""

    async def __call__(self, event: TelegramObject, event_chat: Chat | None = None) -> bool:
        return event_chat is not None and event_chat.type == ChatType.PRIVATE


class Linked(Filter):
    """Passes chats linked to an active person and hands handlers that `person`."""

    async def __call__(
        self, event: TelegramObject, event_chat: Chat | None = None
    ) -> bool | dict[str, Any]:
        if event_chat is None or event_chat.type != ChatType.PRIVATE:
            return False
        person = await person_for_chat(event_chat.id)
        return {"person": person} if person else False
