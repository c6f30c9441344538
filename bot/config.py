"""The bot's own settings, the `[telegram]` section; `service.config` holds them with the rest,
and the bot needs nothing else from it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

DEFAULT_CALLBACK_SECRET = "change-me"  # refused outside development (service.config)


class TelegramSettings(BaseModel):
    model_config = {"extra": "forbid"}

    token: str | None = None
    mode: Literal["polling", "webhook"] = "polling"
    api_base: str | None = None  # a local Bot API server
    webhook_url: str | None = None
    webhook_secret: str | None = None
    callback_secret: str = DEFAULT_CALLBACK_SECRET  # signs inline-button data; refused outside development
    fsm_storage: Literal["memory", "redis", "database"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
