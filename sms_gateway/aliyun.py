"""Alibaba Cloud SMS (dysmsapi, API version 2017-05-25) over plain HTTP.

Alibaba only sends text from reviewed templates, so the deployment registers, per message
kind (or one for all kinds), a template whose whole text is the variable `${content}`;
we render the message ourselves and pass it as that variable. The matter code travels in
a second variable (`${matter}` by default) that a template may show or ignore. Alibaba
caps variable lengths and rejects some content; those answers map to PERMANENT, which
makes the dispatcher fail over to the messenger.

Delivery reports (SmsReport) and replies (SmsUp) arrive by Alibaba's "HTTP batch push",
which does not sign anything. The deployment therefore puts a long random token in the
push URLs it configures in the console (`/sms/aliyun/report/<token>`,
`/sms/aliyun/up/<token>`, over HTTPS); see sms_gateway.webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dispatch.channel import FailureKind, InboundText, Outgoing, Receipt, SendResult
from sms_gateway.http_channel import HttpSmsChannel

log = logging.getLogger(__name__)

API_VERSION = "2017-05-25"
REPORT_PATH = "/sms/aliyun/report"
UP_PATH = "/sms/aliyun/up"
ACK = {"code": 0, "msg": "成功"}  # Alibaba only checks that `code` is a number

_E164 = re.compile(r"\+[1-9]\d{6,14}")

# Codes where the same request may succeed later. Everything else Alibaba answers is a
# verdict on this message or on our configuration (number, template, signature, content,
# balance, keys): retrying would only repeat it.
_RETRYABLE_CODES = {
    "isv.BUSINESS_LIMIT_CONTROL",  # per-number flow control (1/min, 5/h, 10/day)
    "isv.DAY_LIMIT_CONTROL",
    "isp.SYSTEM_ERROR",
    "ServiceUnavailable",
    "InternalError",
    "SignatureNonceUsed",  # a fresh nonce fixes it
}


class AliyunSettings(BaseModel):
    """How to reach dysmsapi and which reviewed sign/templates to use."""

    model_config = ConfigDict(frozen=True)

    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    region_id: str = "cn-hangzhou"
    access_key_id: str
    access_key_secret: SecretStr
    sign_name: str  # reviewed signature, e.g. "某某区督办"
    template_code: str  # default template, text `${content}`
    kind_template_codes: dict[str, str] = Field(default_factory=dict)  # kind -> code
    content_param: str = "content"
    matter_param: str | None = "matter"  # None: the templates take no matter code
    callback_token: SecretStr  # the secret path segment of our push URLs
    timeout: float = 10.0  # seconds for the whole SendSms call
    connect_timeout: float = 3.0

    @field_validator("callback_token")
    @classmethod
    def _long_token(cls, value: SecretStr) -> SecretStr:
        # The token is the only thing standing between the internet and our sink.
        if len(value.get_secret_value()) < 16:
            raise ValueError("callback_token must be at least 16 characters")
        return value

    def template_for(self, kind: str) -> str:
        return self.kind_template_codes.get(kind, self.template_code)


def percent_encode(value: str) -> str:
    """Alibaba's POP encoding: UTF-8, only A-Z a-z 0-9 - _ . ~ stay literal."""
    return quote(value, safe="")


def rpc_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """Signature Version 1.0: base64(HMAC-SHA1(secret + "&", StringToSign))."""
    return signature_of(encoded(params), secret, method)


def encoded(params: Mapping[str, str]) -> dict[str, str]:
    """Each parameter POP-encoded, once: a message's Chinese text is most of the cost."""
    return {percent_encode(k): percent_encode(v) for k, v in params.items()}


def signature_of(encoded_params: Mapping[str, str], secret: str, method: str) -> str:
    canonical = "&".join(f"{k}={v}" for k, v in sorted(encoded_params.items()))
    # Encoded pairs hold only unreserved characters, "%", "=" and "&": encoding them again
    # is these three replacements (what percent_encode would do, byte by byte).
    again = canonical.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    string_to_sign = f"{method}&{percent_encode('/')}&{again}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def send_params(
    settings: AliyunSettings, message: Outgoing, *, nonce: str, timestamp: str
) -> dict[str, str]:
    """The SendSms parameters for one message, without the Signature."""
    template_param = {settings.content_param: message.text}
    if settings.matter_param and message.matter_code:
        template_param[settings.matter_param] = message.matter_code
    return {
        "AccessKeyId": settings.access_key_id,
        "Action": "SendSms",
        "Format": "JSON",
        "RegionId": settings.region_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce,
        "SignatureVersion": "1.0",
        "Timestamp": timestamp,
        "Version": API_VERSION,
        # Alibaba takes E.164 digits without "+" for both domestic and international.
        "PhoneNumbers": message.to.removeprefix("+"),
        "SignName": settings.sign_name,
        "TemplateCode": settings.template_for(message.kind),
        "TemplateParam": json.dumps(template_param, ensure_ascii=False, separators=(",", ":")),
        "OutId": str(message.message_id),  # echoed back in delivery reports
    }


def signed_body(params: Mapping[str, str], secret: str) -> str:
    """The form body: the parameters plus their signature, POP-encoded."""
    pairs = encoded(params)
    pairs["Signature"] = percent_encode(signature_of(pairs, secret, "POST"))
    return "&".join(f"{k}={v}" for k, v in pairs.items())


def classify_code(code: str) -> FailureKind:
    if code in _RETRYABLE_CODES or code.startswith("Throttling"):
        return FailureKind.RETRYABLE
    return FailureKind.PERMANENT


def result_from_response(status: int, body: bytes) -> SendResult:
    """Turn SendSms's answer into a SendResult; the JSON `Code` wins over the HTTP status."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "Code" not in payload:
        return _http_failure(status)
    code, text = str(payload["Code"]), str(payload.get("Message", ""))
    if code != "OK":
        return SendResult.failed(classify_code(code), f"{code}: {text}")
    if not payload.get("BizId"):
        return SendResult.failed(FailureKind.UNKNOWN, "accepted without BizId")
    return SendResult.sent(str(payload["BizId"]))


def _http_failure(status: int) -> SendResult:
    # No Code to go by. A gateway timeout or a garbled success may hide an accepted send.
    if 200 <= status < 300 or status == 504:
        return SendResult.failed(FailureKind.UNKNOWN, f"HTTP {status} without a Code")
    if status == 429 or status >= 500:
        return SendResult.failed(FailureKind.RETRYABLE, f"HTTP {status}")
    return SendResult.failed(FailureKind.PERMANENT, f"HTTP {status}")


def parse_report(item: Any) -> Receipt:
    """One SmsReport entry -> Receipt, keyed by BizId (one number per SendSms call)."""
    if not isinstance(item, dict) or not item.get("biz_id") or "success" not in item:
        raise ValueError("SmsReport entry needs biz_id and success")
    err_code = str(item.get("err_code") or "")
    if str(item["success"]).lower() == "true":  # documented as a boolean; be lenient
        status = "delivered"
    elif "EXPIRED" in err_code.upper():
        status = "expired"
    else:
        status = "failed"
    detail = " ".join(p for p in (err_code, str(item.get("err_msg") or "")) if p)
    return Receipt(
        channel="sms", provider_message_id=str(item["biz_id"]), status=status, detail=detail
    )


def parse_up(item: Any) -> InboundText:
    """One SmsUp entry -> InboundText; its key identifies Alibaba's resends."""
    if not isinstance(item, dict) or not item.get("phone_number") or "content" not in item:
        raise ValueError("SmsUp entry needs phone_number and content")
    return InboundText(
        channel="sms",
        sender=str(item["phone_number"]),
        text=str(item["content"]),
        provider_message_id=up_key(item),
        raw=dict(item),
    )


# What a resent SmsUp repeats: send_time is the handset's, to the second, so a person who
# sends the same text twice still makes two replies.
_UP_CONTENT = ("phone_number", "dest_code", "sign_name", "content", "send_time")


def up_key(item: dict[str, Any]) -> str | None:
    """sequence_id when Alibaba gives one; else a digest of the content and its send time,
    or None without a send_time (identical texts could not be told from a resend)."""
    sequence_id = item.get("sequence_id")
    if sequence_id not in (None, ""):
        return str(sequence_id)
    if not item.get("send_time"):
        return None
    content = json.dumps([str(item.get(name, "")) for name in _UP_CONTENT], ensure_ascii=False)
    return "aliyun-up:" + hashlib.sha256(content.encode()).hexdigest()[:32]


def token_matches(settings: AliyunSettings, token: str) -> bool:
    expected = settings.callback_token.get_secret_value().encode()
    return hmac.compare_digest(token.encode(), expected)


class AliyunChannel(HttpSmsChannel):
    """The "sms" channel through Alibaba Cloud SendSms."""

    provider = "aliyun"
    _settings: AliyunSettings

    def routes(self) -> list[web.RouteDef]:
        """The push endpoints that feed this channel's sink."""
        from sms_gateway.webhooks import aliyun_routes  # webhooks imports this module

        return aliyun_routes(self._sink, self._settings)

    async def send(self, message: Outgoing) -> SendResult:
        if self._session is None:
            raise RuntimeError("AliyunChannel.send before start()")
        if not _E164.fullmatch(message.to):
            return self._note(
                message, SendResult.failed(FailureKind.PERMANENT, f"not E.164: {message.to!r}")
            )
        params = send_params(
            self._settings,
            message,
            nonce=uuid.uuid4().hex,
            timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        body = signed_body(params, self._settings.access_key_secret.get_secret_value())
        return self._note(message, await self._post(body))

    async def _post(self, body: str) -> SendResult:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(
            total=self._settings.timeout, connect=self._settings.connect_timeout
        )
        try:
            async with self._session.post(
                self._settings.endpoint,
                data=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                return result_from_response(response.status, await response.read())
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            # Nothing reached Alibaba: safe to send again.
            return SendResult.failed(FailureKind.RETRYABLE, f"connect: {exc!r}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The request may have been taken; SendSms is not idempotent, so never resend blindly.
            return SendResult.failed(FailureKind.UNKNOWN, f"after send: {exc!r}")
