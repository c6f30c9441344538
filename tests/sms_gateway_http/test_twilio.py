"""TwilioChannel against a loopback fake of the Messages API, and the signature check
cross-checked against twilio's own RequestValidator."""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from multidict import MultiDict
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from dispatch.channel import Channel, FailureKind, Outgoing
from sms_gateway.twilio import (
    TwilioChannel,
    TwilioSettings,
    compute_signature,
    parse_retry_after,
    signature_is_valid,
)
from tests.sms_gateway_http import RecordingSink, closed_port, serve

SID, TOKEN = "AC" + "1" * 32, "auth-token-0123456789abcdef"
FROM = "+15005550006"
PUBLIC = "https://duban.example.gov.cn"


class FakeTwilio:
    """POST /2010-04-01/Accounts/{sid}/Messages.json with Twilio's checks and answers."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self.script: dict[str, tuple[int, dict[str, object], dict[str, str]]] = {}
        self.url = ""  # set once it listens
        self.delay = 0.0
        self._sids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        return app

    async def create(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["sid"] != SID:
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        if not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return self._error(400, 21602, "Message body is required.")
        to = str(form.get("To", ""))
        if not re.fullmatch(r"\+[1-9]\d{6,14}", to):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        self.messages.append(dict(form))
        if self.delay:
            await asyncio.sleep(self.delay)
        if to in self.script:
            status, body, headers = self.script[to]
            return web.json_response(body, status=status, headers=headers)
        return self._created(form)

    def _created(self, form) -> web.Response:
        body = str(form["Body"])
        segments = 1 if len(body) <= 70 else -(-len(body) // 67)  # UCS-2 concatenation
        sid = f"SM{next(self._sids):032x}"
        self.messages[-1]["num_segments"] = segments
        return web.json_response(
            {"sid": sid, "status": "queued", "num_segments": str(segments), "body": body},
            status=201,
        )

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        body = {"code": code, "message": message, "status": status}
        return web.json_response(body, status=status)


def settings_for(base_url: str, **overrides: object) -> TwilioSettings:
    values: dict[str, object] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "from_number": FROM,
        "base_url": base_url,
        "public_base_url": PUBLIC,
        "timeout": 2.0,
    }
    return TwilioSettings.model_validate(values | overrides)


def outgoing(text: str = "【督办】请于今日17时前反馈办理情况。", to: str = "+8613800138000"):
    return Outgoing(message_id=7, channel="sms", to=to, text=text, kind="remind")


@pytest.fixture
async def fake():
    fake = FakeTwilio()
    async with serve(fake.app()) as url:
        fake.url = url
        yield fake


async def started(settings: TwilioSettings) -> TwilioChannel:
    channel = TwilioChannel(settings, RecordingSink())
    await channel.start()
    return channel


@pytest.fixture
async def channel(fake):
    channel = await started(settings_for(fake.url))
    yield channel
    await channel.stop()


async def test_short_chinese_message_is_created_with_status_callback(fake, channel):
    assert isinstance(channel, Channel)
    result = await channel.send(outgoing())
    assert result.ok, result.detail
    assert result.provider_ids == (f"SM{1:032x}",)
    (message,) = fake.messages
    assert message["To"] == "+8613800138000"
    assert message["From"] == FROM
    assert message["Body"] == "【督办】请于今日17时前反馈办理情况。"
    assert message["StatusCallback"] == PUBLIC + "/sms/twilio/status"


async def test_long_chinese_message_is_one_resource_with_many_segments(fake, channel):
    text = "关于“城区道路积水”督办事项，请按13710要求办理并回复：1=已办结 2=办理中。" * 10
    result = await channel.send(outgoing(text))
    assert result.ok and len(result.provider_ids) == 1
    (message,) = fake.messages
    assert message["Body"] == text
    assert message["num_segments"] == -(-len(text) // 67)


async def test_messaging_service_replaces_from(fake):
    settings = settings_for(fake.url, from_number=None, messaging_service_sid="MG" + "2" * 32)
    channel = await started(settings)
    try:
        assert (await channel.send(outgoing())).ok
    finally:
        await channel.stop()
    (message,) = fake.messages
    assert message["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in message


async def test_wrong_auth_token_is_refused_and_permanent(fake):
    channel = await started(settings_for(fake.url, auth_token="wrong-token"))
    try:
        result = await channel.send(outgoing())
    finally:
        await channel.stop()
    assert result.failure is FailureKind.PERMANENT and "20003" in result.detail
    assert fake.messages == []
    assert channel.health()["last_failure"] == result.detail


async def test_invalid_number_is_permanent(fake, channel):
    result = await channel.send(outgoing(to="+86"))
    assert result.failure is FailureKind.PERMANENT and "21211" in result.detail


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (400, {"code": 21610, "message": "unsubscribed"}, {}, FailureKind.PERMANENT, None),
        (400, {"code": 21614, "message": "not a mobile"}, {}, FailureKind.PERMANENT, None),
        (400, {"code": 21611, "message": "queue full"}, {}, FailureKind.RETRYABLE, None),
        (
            429,
            {"code": 20429, "message": "Too Many"},
            {"Retry-After": "7"},
            FailureKind.RETRYABLE,
            7.0,
        ),
        (503, {"code": 20503, "message": "unavailable"}, {}, FailureKind.RETRYABLE, None),
        (500, {"message": "oops"}, {}, FailureKind.RETRYABLE, None),
        (504, {}, {}, FailureKind.UNKNOWN, None),
        (201, {"status": "queued"}, {}, FailureKind.UNKNOWN, None),
    ],
)
async def test_answers_map_to_failure_kinds(
    fake, channel, status, body, headers, kind, retry_after
):
    fake.script["+8613800138000"] = (status, body, headers)
    result = await channel.send(outgoing())
    assert result.failure is kind
    assert result.retry_after == retry_after


def test_retry_after_as_http_date():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 110 < parse_retry_after(when) <= 120
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("inf") is None


async def test_timeout_after_the_request_arrived_is_unknown(fake):
    fake.delay = 1.0
    channel = await started(settings_for(fake.url, timeout=0.2))
    try:
        result = await channel.send(outgoing())
    finally:
        await channel.stop()
    assert result.failure is FailureKind.UNKNOWN
    assert len(fake.messages) == 1


async def test_refused_connection_is_retryable():
    channel = await started(settings_for(f"http://127.0.0.1:{closed_port()}"))
    try:
        assert (await channel.send(outgoing())).failure is FailureKind.RETRYABLE
    finally:
        await channel.stop()


@pytest.mark.parametrize(
    "senders", [{}, {"messaging_service_sid": "MG" + "2" * 32}], ids=["none", "both"]
)
def test_exactly_one_sender(senders):
    values = senders or {"from_number": None}
    with pytest.raises(ValidationError):
        settings_for("https://api.twilio.com", **values)


SIGNED_CASES = [
    ("https://duban.example.gov.cn/sms/twilio/inbound", {}),
    (
        "https://duban.example.gov.cn/sms/twilio/inbound",
        {"MessageSid": "SM1", "From": "+8613800138000", "Body": "收到，已办结。编号 DB-2024-0173"},
    ),
    (
        "https://duban.example.gov.cn:8443/sms/twilio/status?x=1&y=%E4%B8%AD",
        {"MessageStatus": "delivered", "ErrorCode": "", "To": "+86 138", "A": "a+b&c=d"},
    ),
]


@pytest.mark.parametrize(("url", "params"), SIGNED_CASES)
@pytest.mark.parametrize("algorithm", ["HMAC_SHA1", "HMAC_SHA256"])
def test_signature_equals_twilio_request_validator(url, params, algorithm):
    official = RequestValidator(TOKEN).compute_signature(url, params, algorithm)
    assert compute_signature(TOKEN, url, params.items(), algorithm) == official


def test_signature_with_repeated_parameters_equals_twilio_request_validator():
    params = MultiDict([("MediaUrl", "b"), ("MediaUrl", "a"), ("Body", "图"), ("MediaUrl", "b")])
    url = PUBLIC + "/sms/twilio/inbound"
    official = RequestValidator(TOKEN).compute_signature(url, params)
    assert compute_signature(TOKEN, url, params.items()) == official


@pytest.mark.parametrize(("url", "params"), SIGNED_CASES)
@pytest.mark.parametrize("port_form", ["as_is", "with_default_port"])
def test_validation_agrees_with_twilio_request_validator(url, params, port_form):
    settings = settings_for("https://api.twilio.com")
    signed_url = url
    if port_form == "with_default_port":
        parts = urlsplit(url)
        signed_url = parts._replace(netloc=f"{parts.hostname}:{parts.port or 443}").geturl()
    signature = RequestValidator(TOKEN).compute_signature(signed_url, params)
    pairs = list(params.items())
    assert RequestValidator(TOKEN).validate(url, params, signature)
    assert signature_is_valid(settings, url, pairs, signature)
    tampered = pairs + [("Body", "伪造")]
    assert not RequestValidator(TOKEN).validate(url, dict(tampered), signature)
    assert not signature_is_valid(settings, url, tampered, signature)
    forged = ("B" if signature.startswith("A") else "A") + signature[1:]
    assert not signature_is_valid(settings, url, pairs, forged)


def test_shared_key_signatures_need_the_named_key():
    settings = settings_for("https://api.twilio.com", webhook_shared_keys={"ks_1": "shared-s3cret"})
    url, params = PUBLIC + "/sms/twilio/status", {"MessageSid": "SM1", "MessageStatus": "failed"}
    header = "key=ks_1,algorithm=HMAC_SHA256"
    signature = RequestValidator("shared-s3cret").compute_signature(url, params, "HMAC_SHA256")
    pairs = list(params.items())
    assert signature_is_valid(settings, url, pairs, signature, header)
    assert not signature_is_valid(settings, url, pairs, signature, "key=ks_2,algorithm=HMAC_SHA256")
    assert not signature_is_valid(settings, url, pairs, signature, "key=ks_1,algorithm=HMAC_MD5")
    token_signed = RequestValidator(TOKEN).compute_signature(url, params)
    assert not signature_is_valid(settings, url, pairs, token_signed, header)
