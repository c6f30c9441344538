"""`GET /healthz`: the quick truth about one instance, for a load balancer and a person.

Unauthenticated, so it shows counts and states only: never a provider's error text (those
quote phone numbers and message text) nor an address; the channels log the details.
`status` is `degraded` with HTTP 503 when the database does not answer, a channel is down,
or rows are stuck: sending past their claim, or with an unknown outcome awaiting a person.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from tortoise.expressions import Q

from dispatch.channel import Channel
from models import MessageStatus, OutboundMessage
from scheduler.clock import Clock

log = logging.getLogger("duban.health")
QUERY_TIMEOUT = 2.0  # seconds: a health check must answer quickly, also when the DB hangs


async def health(clock: Clock, instance: str, channels: dict[str, Channel]
                 ) -> web.Response:
    body: dict[str, Any] = {"instance": instance,
                            "channels": {n: channel_state(c.health()) for n, c in channels.items()}}
    healthy = all(c["state"] != "down" for c in body["channels"].values())
    try:
        counts = await asyncio.wait_for(message_counts(clock), QUERY_TIMEOUT)
    except Exception as exc:  # any failure to answer is "unreachable" to the prober
        log.warning("health: the database does not answer: %r", exc)
        body["database"] = "unreachable"
        healthy = False
    else:
        body |= {"database": "ok", **counts}
        healthy = healthy and not counts["unknown_outcome"] and not counts["stuck"]
    body["status"] = "ok" if healthy else "degraded"
    return web.json_response(body, status=200 if healthy else 503)


async def message_counts(clock: Clock) -> dict[str, int]:
    now = clock.now()
    held = Q(status__in=[MessageStatus.CLAIMED, MessageStatus.SENDING], claim_until__lt=now)
    return {
        "pending": await OutboundMessage.filter(status=MessageStatus.PENDING).count(),
        "unknown_outcome": await OutboundMessage.filter(status=MessageStatus.UNKNOWN).count(),
        "stuck": await OutboundMessage.filter(held).count(),
    }


def channel_state(details: dict[str, Any]) -> dict[str, Any]:
    """A channel's numbers and flags, and whether it is up; its texts stay in the log."""
    public = {k: v for k, v in details.items() if is_count(v)}
    if details.get("kind") == "development":
        state = "development"
    elif any(details.get(flag) is False for flag in ("up", "bound", "running")):
        state = "down"
    else:
        state = "up"
    return public | {"state": state}


def is_count(value: Any) -> bool:
    """A number or a flag, or a table of them (outcomes by kind)."""
    if isinstance(value, dict):
        return all(isinstance(v, int | float) for v in value.values())
    return isinstance(value, int | float)
