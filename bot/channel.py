"""The messenger as a channel: one rendered message out to one Telegram chat.

It holds no rule of the discipline. It answers the dispatcher with a typed outcome:
- sent: the Telegram message id;
- RETRYABLE (with `retry_after`): Telegram's 429 says wait, or the request never left
  (connection refused, connect timeout), or Telegram failed on its side (5xx);
- PERMANENT: the chat can never get it (bot blocked, chat not found, bad request), so the
  dispatcher fails over to SMS;
- UNKNOWN: the request left but no answer came back; Telegram may have delivered it.

Telegram's flood limits (30 messages a second overall, one a second per chat) are the
dispatcher's to keep (`service.app.limiters`, shared across instances through Redis): a row
reaches this channel only once its limits allow it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import ClientConnectorError, ConnectionTimeoutError

from dispatch.channel import Button, FailureKind, Outgoing, SendResult

log = logging.getLogger(__name__)

# Telegram refused the request itself: sending it again can never work.
_REFUSED = (
    TelegramForbiddenError,  # the user blocked the bot or deleted the account
    TelegramBadRequest,  # "chat not found", text too long, bad markup ...
    TelegramNotFound,
    TelegramUnauthorizedError,  # the token was revoked: SMS must carry the load
    TelegramMigrateToChat,
    TelegramEntityTooLarge,
)
# The connection was never established, so Telegram cannot have the message.
_NOT_SENT = (ClientConnectorError, ConnectionTimeoutError)
_CHAT_ID = re.compile(r"-?[0-9]{1,20}")


class TelegramChannel:
    name = "telegram"

    def __init__(self, bot: Bot, *, request_timeout: int = 20) -> None:
        self._bot = bot
        self._timeout = request_timeout  # well inside the dispatcher's claim on the row
        self._outcomes: Counter[str] = Counter()
        self._last_failure = ""
        self._username: str | None = None

    async def start(self) -> None:
        """Learn the bot's username (for health and `t.me` links); sending works without."""
        try:
            self._username = (await self._bot.get_me()).username
        except (TelegramAPIError, ClientDecodeError) as exc:
            log.warning("telegram getMe failed at start: %s", exc)

    async def stop(self) -> None:
        """Nothing to release: the bot's HTTP session belongs to the composition root."""

    async def send(self, message: Outgoing) -> SendResult:
        if not _CHAT_ID.fullmatch(message.to):  # int() would take "+8613800138000" too
            return self._record(
                SendResult.failed(FailureKind.PERMANENT, f"not a chat id: {message.to!r}")
            )
        try:
            sent = await self._bot.send_message(
                chat_id=int(message.to),
                text=message.text,
                reply_markup=keyboard(message.buttons),
                parse_mode=None,  # templates render plain text
                request_timeout=self._timeout,
            )
        except (TelegramAPIError, ClientDecodeError) as exc:
            return self._record(classify(exc))
        return self._record(SendResult.sent(str(sent.message_id)))

    def health(self) -> dict[str, Any]:
        return {
            "channel": self.name,
            "username": self._username,
            "outcomes": dict(self._outcomes),
            "last_failure": self._last_failure,
        }

    def _record(self, result: SendResult) -> SendResult:
        self._outcomes[result.failure.value if result.failure else "sent"] += 1
        if result.failure:
            self._last_failure = f"{result.failure.value}: {result.detail}"
        return result


def classify(exc: Exception) -> SendResult:
    """The dispatcher's view of a failed sendMessage."""
    detail = str(exc)
    if isinstance(exc, TelegramRetryAfter):
        return SendResult.failed(
            FailureKind.RETRYABLE, detail, retry_after=float(exc.retry_after)
        )
    if isinstance(exc, _REFUSED):
        return SendResult.failed(FailureKind.PERMANENT, detail)
    if isinstance(exc, TelegramNetworkError):
        sent = not isinstance(exc.__cause__, _NOT_SENT)
        return SendResult.failed(FailureKind.UNKNOWN if sent else FailureKind.RETRYABLE, detail)
    if isinstance(exc, TelegramAPIError):  # 5xx and the rest: Telegram said it did not send
        return SendResult.failed(FailureKind.RETRYABLE, detail)
    return SendResult.failed(FailureKind.UNKNOWN, detail)  # an answer we cannot read


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row]
            for row in rows
        ]
    )
