"""Twilio (or a Twilio-compatible REST provider) as the "sms" channel.

Sending is one POST to /2010-04-01/Accounts/{sid}/Messages.json; Twilio concatenates long
bodies itself (UCS-2 segments for Chinese), so one message is one resource and one sid.

Inbound texts and status callbacks carry `X-Twilio-Signature`: base64(HMAC-SHA1(auth token,
full URL + every POST parameter name and value, sorted)). Accounts that moved to
Webhooks SharedKeys sign with a shared-key secret instead and say which in
`X-Twilio-Webhooks-Signature-Settings` (key id, HMAC_SHA1 or HMAC_SHA256). The full URL
is rebuilt from `public_base_url` because behind a proxy our own idea of scheme, host and
port is not what Twilio called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from dispatch.channel import FailureKind, InboundText, Outgoing, Receipt, SendResult
from sms_gateway.http_channel import HttpSmsChannel

log = logging.getLogger(__name__)

INBOUND_PATH = "/sms/twilio/inbound"
STATUS_PATH = "/sms/twilio/status"
SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

_HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}

# 400-class answers that are about load, not about the message.
_RETRYABLE_ERROR_CODES = {
    20429,  # too many requests
    21611,  # the From number's queue is full
}

# Final MessageStatus values; the rest (queued, sending, sent, accepted...) are progress.
_FINAL_STATUSES = {
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}


class TwilioSettings(BaseModel):
    """Account, sender and the public address Twilio uses to call us back."""

    model_config = ConfigDict(frozen=True)

    account_sid: str
    auth_token: SecretStr
    from_number: str | None = None  # E.164 sender, or
    messaging_service_sid: str | None = None  # a Messaging Service picks the sender
    base_url: str = "https://api.twilio.com"
    public_base_url: str  # e.g. https://duban.example.gov.cn, as Twilio reaches us
    webhook_shared_keys: dict[str, SecretStr] = Field(default_factory=dict)  # key id -> secret
    timeout: float = 10.0
    connect_timeout: float = 3.0

    @model_validator(mode="after")
    def _one_sender(self) -> Self:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from_number and messaging_service_sid")
        return self

    def messages_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def public_url(self, path_qs: str) -> str:
        return self.public_base_url.rstrip("/") + path_qs


def compute_signature(
    secret: str, url: str, params: Iterable[tuple[str, str]], algorithm: str = "HMAC_SHA1"
) -> str:
    """Twilio's webhook signature: the URL, then name+value of each parameter, sorted."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    # Same order as Twilio's libraries: names sorted, each name's distinct values sorted.
    text = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(secret.encode(), text.encode(), _HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(
    settings: TwilioSettings,
    url: str,
    params: list[tuple[str, str]],
    signature: str,
    signature_settings: str = "",
) -> bool:
    """Check `X-Twilio-Signature` for a request Twilio made to `url`."""
    key = _signing_key(settings, signature_settings)
    if key is None:
        return False
    secret, algorithm = key
    # Twilio is not consistent about default ports in what it signs: accept both forms.
    return any(
        hmac.compare_digest(compute_signature(secret, variant, params, algorithm), signature)
        for variant in _port_variants(url)
    )


def _signing_key(settings: TwilioSettings, signature_settings: str) -> tuple[str, str] | None:
    """(secret, algorithm) that must have signed the request, or None if we hold none."""
    if not signature_settings.strip():
        return settings.auth_token.get_secret_value(), "HMAC_SHA1"
    fields = dict(
        (name.strip(), value.strip())
        for name, _, value in (part.partition("=") for part in signature_settings.split(","))
    )
    algorithm = fields.get("algorithm") or "HMAC_SHA1"
    secret = settings.webhook_shared_keys.get(fields.get("key", ""))
    if secret is None or algorithm not in _HASHES:
        return None
    return secret.get_secret_value(), algorithm


def _port_variants(url: str) -> set[str]:
    """The URL with and without its default port, spelled the way Twilio's libraries do."""
    parts = urlsplit(url)
    if parts.port:
        return {url, parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl()}
    default_port = 443 if parts.scheme == "https" else 80
    return {url, parts._replace(netloc=f"{parts.netloc}:{default_port}").geturl()}


def parse_inbound(params: dict[str, str]) -> InboundText:
    if not params.get("MessageSid") or not params.get("From"):
        raise ValueError("inbound message needs MessageSid and From")
    return InboundText(
        channel="sms",
        sender=params["From"],
        text=params.get("Body", ""),
        provider_message_id=params["MessageSid"],
        raw=params,
    )


def parse_status(params: dict[str, str]) -> Receipt | None:
    """A status callback -> Receipt, or None for progress we do not record."""
    if not params.get("MessageSid") or not params.get("MessageStatus"):
        raise ValueError("status callback needs MessageSid and MessageStatus")
    status = _FINAL_STATUSES.get(params["MessageStatus"])
    if status is None:
        return None
    error = params.get("ErrorCode", "")
    detail = params["MessageStatus"] + (f" {error}" if error else "")
    return Receipt(
        channel="sms", provider_message_id=params["MessageSid"], status=status, detail=detail
    )


def result_from_response(status: int, body: bytes, retry_after: str | None) -> SendResult:
    """Turn the Messages.json answer into a SendResult."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    if 200 <= status < 300:
        if payload.get("sid"):
            return SendResult.sent(str(payload["sid"]))
        return SendResult.failed(FailureKind.UNKNOWN, f"HTTP {status} without a sid")
    detail = f"HTTP {status} {payload.get('code', '')}: {payload.get('message', '')}"
    if status == 504:  # the API behind the gateway may have created the message
        return SendResult.failed(FailureKind.UNKNOWN, detail)
    if status == 429 or status >= 500 or payload.get("code") in _RETRYABLE_ERROR_CODES:
        return SendResult.failed(FailureKind.RETRYABLE, detail, parse_retry_after(retry_after))
    return SendResult.failed(FailureKind.PERMANENT, detail)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class TwilioChannel(HttpSmsChannel):
    """The "sms" channel through Twilio's Messages API."""

    provider = "twilio"
    _settings: TwilioSettings

    def routes(self) -> list[web.RouteDef]:
        """The webhook endpoints that feed this channel's sink."""
        from sms_gateway.webhooks import twilio_routes  # webhooks imports this module

        return twilio_routes(self._sink, self._settings)

    def _form(self, message: Outgoing) -> dict[str, str]:
        settings = self._settings
        form = {
            "To": message.to,
            "Body": message.text,
            "StatusCallback": settings.public_url(STATUS_PATH),
        }
        if settings.messaging_service_sid:
            form["MessagingServiceSid"] = settings.messaging_service_sid
        else:
            form["From"] = settings.from_number or ""
        return form

    async def send(self, message: Outgoing) -> SendResult:
        if self._session is None:
            raise RuntimeError("TwilioChannel.send before start()")
        return self._note(message, await self._post(self._form(message)))

    async def _post(self, form: dict[str, str]) -> SendResult:
        assert self._session is not None
        settings = self._settings
        auth = aiohttp.encode_basic_auth(
            settings.account_sid, settings.auth_token.get_secret_value()
        )
        timeout = aiohttp.ClientTimeout(total=settings.timeout, connect=settings.connect_timeout)
        try:
            async with self._session.post(
                settings.messages_url(),
                data=form,
                headers={"Authorization": auth},
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return result_from_response(
                    response.status, body, response.headers.get("Retry-After")
                )
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            # Nothing reached Twilio: safe to send again.
            return SendResult.failed(FailureKind.RETRYABLE, f"connect: {exc!r}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Twilio may have created the message; never resend blindly.
            return SendResult.failed(FailureKind.UNKNOWN, f"after send: {exc!r}")
