"""HTTP endpoints where SMS providers push delivery reports and replies.

Every request is authenticated before its body is interpreted; a forged or unsigned one
gets 403 and never reaches the sink. The handlers keep nothing themselves: they hand each
InboundText / Receipt to the sink, which stores it raw before anything parses it. If the
sink fails the request fails with 500, so the provider pushes the batch again; provider
ids (BizId, sequence_id, MessageSid) let the service drop the repeats. Content that can
never be used (not JSON, a bad entry of a batch) is refused, never retried for ever.

Routes
  POST /sms/aliyun/report/<token>  Alibaba SmsReport batch  -> Receipt
  POST /sms/aliyun/up/<token>      Alibaba SmsUp batch      -> InboundText
  POST /sms/twilio/inbound         Twilio incoming message  -> InboundText
  POST /sms/twilio/status          Twilio status callback   -> Receipt
Alibaba signs nothing, so its URLs carry `AliyunSettings.callback_token`; Twilio's
requests must carry a valid `X-Twilio-Signature`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from dispatch.channel import InboundSink
from sms_gateway import aliyun as ali
from sms_gateway import twilio as tw
from sms_gateway.aliyun import AliyunSettings
from sms_gateway.twilio import TwilioSettings

T = TypeVar("T")
P = TypeVar("P")
log = logging.getLogger("duban.webhooks")


def sms_webhook_routes(
    sink: InboundSink, *, aliyun: AliyunSettings | None, twilio: TwilioSettings | None
) -> list[web.RouteDef]:
    """The routes of each configured provider; an unconfigured one gets none."""
    routes: list[web.RouteDef] = []
    if aliyun is not None:
        routes += aliyun_routes(sink, aliyun)
    if twilio is not None:
        routes += twilio_routes(sink, twilio)
    return routes


def aliyun_routes(sink: InboundSink, settings: AliyunSettings) -> list[web.RouteDef]:
    async def report(request: web.Request) -> web.Response:
        for receipt in usable(ali.parse_report, await _aliyun_batch(request, settings)):
            await sink.receipt(receipt)
        return web.json_response(ali.ACK)

    async def up(request: web.Request) -> web.Response:
        for text in usable(ali.parse_up, await _aliyun_batch(request, settings)):
            await sink.inbound(text)
        return web.json_response(ali.ACK)

    # Any path under the endpoint (none, empty, nested) is a wrong token: 403, not 404.
    return [
        route
        for path, handler in ((ali.REPORT_PATH, report), (ali.UP_PATH, up))
        for route in (web.post(path, handler), web.post(path + "/{token:.*}", handler))
    ]


async def _aliyun_batch(request: web.Request, settings: AliyunSettings) -> list[Any]:
    if not ali.token_matches(settings, request.match_info.get("token", "")):
        raise web.HTTPForbidden()
    try:
        batch = json.loads(await request.read())
    except (ValueError, RecursionError) as exc:  # also bad UTF-8, or nested past the stack
        raise web.HTTPBadRequest(text="body is not JSON") from exc
    if not isinstance(batch, list):
        raise web.HTTPBadRequest(text="body is not a JSON array")
    return batch


def usable(parser: Callable[[Any], T], batch: list[Any]) -> list[T]:
    """The entries that can be stored. A bad entry stays bad however often it is pushed, so
    it is refused (and logged) while the rest of its batch is stored and acknowledged: a
    400 would only make the provider push the whole batch again, for ever. Nothing usable
    at all is a 400."""
    parsed, refused = [], []
    for number, item in enumerate(batch):
        try:
            json.dumps(item, allow_nan=False)  # NaN or Infinity fit no JSON column
            parsed.append(parser(item))
        except (ValueError, RecursionError) as exc:
            refused.append(f"entry {number}: {type(exc).__name__}")
    if refused:
        log.warning("refused %d of %d pushed entries: %s", len(refused), len(batch),
                    ", ".join(refused))
        if not parsed:
            raise web.HTTPBadRequest(text="no usable entry in the batch")
    return parsed


SECRET_PATHS = (ali.REPORT_PATH, ali.UP_PATH)  # the segment after these is a secret


class RedactingAccessLogger(AccessLogger):
    """The access log without the secrets that ride in URL paths (the Aliyun token)."""

    def _format_line(self, request: BaseRequest, response: StreamResponse, time: float
                     ) -> list[tuple[Any, Any]]:
        line = super()._format_line(request, response, time)
        return [(key, redacted_path(value) if key == "first_request_line" else value)
                for key, value in line]


def redacted_path(text: str) -> str:
    """The path (or request line) with the secret segment of a secret path replaced."""
    for prefix in SECRET_PATHS:
        text = re.sub(rf"{re.escape(prefix)}/[^ ?]*", f"{prefix}/***", text)
    return text


def twilio_routes(sink: InboundSink, settings: TwilioSettings) -> list[web.RouteDef]:
    async def inbound(request: web.Request) -> web.Response:
        text = _parse(tw.parse_inbound, await _twilio_params(request, settings))
        await sink.inbound(text)
        # Empty TwiML: acknowledge without Twilio texting anything back.
        return web.Response(text=tw.EMPTY_TWIML, content_type="text/xml")

    async def status(request: web.Request) -> web.Response:
        receipt = _parse(tw.parse_status, await _twilio_params(request, settings))
        if receipt is not None:
            await sink.receipt(receipt)
        return web.Response(status=204)

    return [web.post(tw.INBOUND_PATH, inbound), web.post(tw.STATUS_PATH, status)]


async def _twilio_params(request: web.Request, settings: TwilioSettings) -> dict[str, str]:
    signature = request.headers.get(tw.SIGNATURE_HEADER, "")
    if not signature:
        raise web.HTTPForbidden()
    try:
        pairs = parse_qsl((await request.read()).decode(), keep_blank_values=True)
    except UnicodeDecodeError as exc:  # Twilio sends UTF-8, so this was not signed by it
        raise web.HTTPForbidden() from exc
    url = settings.public_url(request.raw_path)
    key_settings = request.headers.get(tw.SIGNATURE_SETTINGS_HEADER, "")
    if not tw.signature_is_valid(settings, url, pairs, signature, key_settings):
        raise web.HTTPForbidden()
    return dict(pairs)


def _parse(parser: Callable[[P], T], value: P) -> T:
    """Authenticated but unusable content answers 400."""
    try:
        return parser(value)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
