"""The WeCom channel, its callback routes and its limiter, from the `[wecom]` section."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from dispatch.ratelimit import Limit, RateLimiter
from replies.inbound import Inbox
from service.config import ConfigError
from wecom.callback import callback_routes
from wecom.channel import WeComChannel
from wecom.inbox import WeComInbox
from wecom.settings import PER_MEMBER_PER_HOUR, PER_MEMBER_PER_MINUTE, WeComSettings


def wecom_channel(section: dict[str, Any], inbox: Inbox,
                  routes: list[web.RouteDef]) -> tuple[WeComChannel, RateLimiter]:
    try:
        settings = WeComSettings(**section)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(["wecom", *(str(p) for p in first["loc"])])
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from exc
    routes += callback_routes(settings, WeComInbox(inbox))
    return WeComChannel(settings), wecom_limiter(settings)


def wecom_limiter(settings: WeComSettings) -> RateLimiter:
    """WeCom's published limits, kept by the dispatcher before each send."""
    return RateLimiter(
        per_number=[Limit(PER_MEMBER_PER_MINUTE, 60.0), Limit(PER_MEMBER_PER_HOUR, 3600.0)],
        global_limits=[Limit(settings.per_app_per_day, 86400.0)])
