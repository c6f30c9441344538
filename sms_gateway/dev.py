"""The development channels: they "deliver" by logging and writing a `DevDelivery` row.

Used when no real channel is configured, so a fresh checkout runs end to end. The
`/dev/sms` page shows what each phone received and lets a person reply as that phone.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from tortoise.exceptions import IntegrityError

from dispatch.channel import InboundSink, InboundText, Outgoing, SendResult
from dispatch.render import Renderer
from models import DevDelivery, InboundMessage
from scheduler.clock import Clock
from sms_gateway.text import to_e164

log = logging.getLogger("duban.dev")


class DevChannel:
    """Delivers into a table. A message id is delivered once, so a resend after a crash is
    harmless (`idempotent`)."""

    idempotent = True

    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self.clock = clock

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]:
        return {"kind": "development"}

    async def send(self, message: Outgoing) -> SendResult:
        try:
            await DevDelivery.create(message_id=message.message_id, channel=self.name,
                                     address=message.to, text=message.text, at=self.clock.now())
        except IntegrityError:
            log.info("dev %s: message %s was delivered before", self.name, message.message_id)
        log.info("dev %s to %s: %s", self.name, message.to, message.text)
        return SendResult.sent(f"dev-{message.message_id}")


def dev_sms_routes(sink: InboundSink, renderer: Renderer, tz: ZoneInfo) -> list[web.RouteDef]:
    """GET /dev/sms: every phone's messages (times in `tz`); POST /dev/sms: reply as a
    phone."""

    async def page(request: web.Request) -> web.Response:
        sent = await DevDelivery.filter(channel="sms").order_by("at", "id").limit(500)
        received = await InboundMessage.filter(channel="sms").order_by("received_at", "id").limit(500)
        lines = [(d.at, d.address, "out", d.text) for d in sent]
        lines += [(r.received_at, r.sender, "in", r.text) for r in received]
        conversations: dict[str, list[tuple]] = {}
        for line in sorted(lines, key=lambda line: line[0]):
            conversations.setdefault(line[1], []).append(line)
        html = renderer.page("web/dev_sms.j2", conversations=dict(sorted(conversations.items())),
                             notice=request.query.get("notice", ""), tz=tz)
        return web.Response(text=html, content_type="text/html")

    async def reply(request: web.Request) -> web.Response:
        phone, text = await reply_form(request)
        try:
            phone = to_e164(phone)
        except ValueError:
            raise web.HTTPFound("/dev/sms?notice=bad_phone") from None
        if text:
            await sink.inbound(InboundText(channel="sms", sender=phone, text=text))
        raise web.HTTPFound("/dev/sms?notice=sent")

    return [web.get("/dev/sms", page), web.post("/dev/sms", reply)]


async def reply_form(request: web.Request) -> tuple[str, str]:
    """(phone, text) of the reply form; 400 for a body that is no such form (malformed
    multipart, bad UTF-8, a file instead of text)."""
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError, AssertionError) as exc:
        raise web.HTTPBadRequest(text="the reply form cannot be read") from exc
    fields = [form.get(name, "") for name in ("phone", "text")]
    if not all(isinstance(value, str) for value in fields):
        raise web.HTTPBadRequest(text="phone and text must be text, not files")
    phone, text = (value.strip() for value in fields)
    return phone, text
