"""The one way the bot hands on what a person said: an InboundText to the inbox (sink)."""

from __future__ import annotations

from typing import Any

from aiogram.types import Update

from dispatch.channel import InboundSink, InboundText


async def deliver(sink: InboundSink, update: Update, chat_id: int, text: str, **extra: Any) -> None:
    """`text` is in the reply grammar; the update id lets the inbox drop Telegram's resends."""
    raw = {"update": update.model_dump(mode="json", exclude_none=True), **extra}
    await sink.inbound(
        InboundText(
            channel="telegram",
            sender=str(chat_id),
            text=text,
            provider_message_id=provider_id(update),
            raw=raw,
        )
    )


def provider_id(update: Update) -> str:
    """The inbound row's id: Telegram's update id, so a redelivered update is dropped."""
    return f"tg:{update.update_id}"
