"""The WeCom callback URL: URL verification (GET with echostr) and encrypted messages (POST).

Every request is authenticated before its content is used: msg_signature must match, the
timestamp must be within `callback_window` of now, and a (timestamp, nonce) pair is
accepted once — a replayed callback gets 403. A person's text, and a card button they
pressed, go to the sink as InboundText (channel "wecom", sender = their userid), which
stores it raw before anything parses it. If the sink fails we answer 500 and WeCom sends
the callback again; the message id (or the digest of the event) lets the service drop
repeats, and the nonce is only spent once the sink has the message.
"""

from __future__ import annotations

import hashlib
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.callbacks import verify
from dispatch.channel import InboundSink, InboundText
from wecom.crypto import Crypto, CryptoError, signature_matches
from wecom.settings import WeComSettings
from wecom.texts import pressed

log = logging.getLogger(__name__)

CONTENT_TYPES = {"image", "voice", "video", "file", "location", "link"}  # no text for us


class Replays:
    """The (timestamp, nonce) pairs accepted within the window (one instance's memory)."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._seen: dict[tuple[str, str], float] = {}

    def fresh(self, timestamp: str, nonce: str, now: float) -> bool:
        try:
            age = abs(now - int(timestamp))
        except ValueError:
            return False
        return age <= self._window and (timestamp, nonce) not in self._seen

    def spend(self, timestamp: str, nonce: str, now: float) -> None:
        self._seen = {k: t for k, t in self._seen.items() if now - t <= self._window * 2}
        self._seen[(timestamp, nonce)] = now


def callback_routes(settings: WeComSettings, sink: InboundSink,
                    now: Callable[[], float] = time.time) -> list[web.RouteDef]:
    crypto = Crypto(settings.encoding_aes_key.get_secret_value(), settings.corp_id)
    token = settings.token.get_secret_value()
    replays = Replays(settings.callback_window)

    def open_(request: web.Request, encrypted: str) -> str:
        q = request.query
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not signature_matches(token, timestamp, nonce, encrypted, q.get("msg_signature", "")):
            raise web.HTTPForbidden()
        if not replays.fresh(timestamp, nonce, now()):
            log.warning("wecom: refused a stale or replayed callback")
            raise web.HTTPForbidden()
        try:
            return crypto.decrypt(encrypted)
        except CryptoError as exc:
            raise web.HTTPForbidden() from exc

    def spend(request: web.Request) -> None:
        replays.spend(request.query.get("timestamp", ""), request.query.get("nonce", ""), now())

    async def verify_url(request: web.Request) -> web.Response:
        echo = open_(request, request.query.get("echostr", ""))
        spend(request)
        return web.Response(text=echo)

    async def receive(request: web.Request) -> web.Response:
        encrypted = outer_encrypt(await request.read())
        message = inbound(fields(open_(request, encrypted)),
                          settings.button_secret.get_secret_value())
        if message is not None:
            await sink.inbound(message)  # raises: 500, and WeCom sends it again
        spend(request)
        return web.Response(text="")

    return [web.get(settings.callback_path, verify_url),
            web.post(settings.callback_path, receive)]


def outer_encrypt(body: bytes) -> str:
    """The Encrypt element of the request body; anything else is not WeCom's."""
    try:
        element = ET.fromstring(body).find("Encrypt")
    except ET.ParseError as exc:
        raise web.HTTPForbidden() from exc
    if element is None or not element.text:
        raise web.HTTPForbidden()
    return element.text


def fields(xml: str) -> dict[str, str]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise web.HTTPBadRequest(text="decrypted message is not XML") from exc
    return {child.tag: (child.text or "") for child in root}


def inbound(message: dict[str, str], button_secret: str) -> InboundText | None:
    """What a person sent: a text, a pressed card button, or content we cannot read."""
    kind, sender = message.get("MsgType", ""), message.get("FromUserName", "")
    raw: dict[str, Any] = dict(message)
    if kind == "text":
        return InboundText("wecom", sender, message.get("Content", ""),
                           f"wecom:{message.get('MsgId', '')}", raw)
    digest = "wecom-event:" + hashlib.sha1(repr(sorted(message.items())).encode()).hexdigest()
    if kind == "event" and message.get("Event") == "template_card_event":
        press = verify(message.get("EventKey"), button_secret)
        if press is None:
            log.warning("wecom: unverifiable card button key from %s", sender)
            return InboundText("wecom", sender, "", digest, raw | {"forged_key": True})
        raw["press"] = {"action": press.action, "code": press.code}
        return InboundText("wecom", sender, pressed(press.action, press.code), digest, raw)
    if kind in CONTENT_TYPES:  # stored and answered: we only read text
        return InboundText("wecom", sender, "", f"wecom:{message.get('MsgId', '')}", raw)
    return None  # entering the app, subscribing ...: nobody said anything
