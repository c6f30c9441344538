"""AliyunChannel against a loopback fake of dysmsapi that checks the real signature."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatch.channel import Channel, FailureKind, Outgoing
from sms_gateway.aliyun import AliyunChannel, AliyunSettings, percent_encode, rpc_signature
from tests.sms_gateway_http import RecordingSink, closed_port, serve

KEY_ID, SECRET = "LTAI5tTestKeyId", "test-secret-不可外传"
SIGN = "某区督办"
TEMPLATES = {"SMS_100": "content", "SMS_200": "content"}  # code -> variable the text needs
UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def pop_encode(text: str) -> str:
    """Written from Alibaba's description, byte by byte, independently of the channel."""
    return "".join(
        chr(byte) if byte in UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


def expected_signature(params: dict[str, str], secret: str) -> str:
    pairs = sorted((pop_encode(k), pop_encode(v)) for k, v in params.items())
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    string_to_sign = "POST&" + pop_encode("/") + "&" + pop_encode(canonical)
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class FakeDysms:
    """dysmsapi SendSms: verifies the request like Alibaba does, then answers as scripted."""

    REQUIRED = {
        "AccessKeyId": None,
        "Action": "SendSms",
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": None,
        "Timestamp": None,
        "Version": "2017-05-25",
        "PhoneNumbers": None,
        "SignName": SIGN,
        "TemplateCode": None,
        "TemplateParam": None,
    }

    def __init__(self) -> None:
        self.accepted: list[dict[str, str]] = []  # verified requests
        self.delivered: list[str] = []  # the SMS as a handset would show it
        self.script: dict[str, tuple[int, str]] = {}  # phone -> (HTTP status, raw body)
        self.url = ""  # set once it listens
        self.delay = 0.0
        self.max_chars = 500
        self._nonces: set[str] = set()
        self._next_biz = 900619746936498440

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.send_sms)
        return app

    async def send_sms(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._error(400, "InvalidParameter", "form body expected")
        params = dict(parse_qsl(await request.text(), keep_blank_values=True, strict_parsing=True))
        refusal = self._verify(params)
        if refusal:
            return self._error(*refusal)
        self.accepted.append(params)
        if self.delay:
            await asyncio.sleep(self.delay)
        if params["PhoneNumbers"] in self.script:
            status, body = self.script[params["PhoneNumbers"]]
            return web.Response(status=status, text=body, content_type="application/json")
        return self._deliver(params)

    def _verify(self, params: dict[str, str]) -> tuple[int, str, str] | None:
        signature = params.pop("Signature", "")
        for name, value in self.REQUIRED.items():
            if name not in params or (value is not None and params[name] != value):
                return 400, "MissingParameter", f"{name} missing or wrong"
        if params["AccessKeyId"] != KEY_ID:
            return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - stamp) > timedelta(minutes=15):
            return 400, "InvalidTimeStamp.Expired", "Timestamp expired"
        if not hmac.compare_digest(signature, expected_signature(params, SECRET)):
            return 400, "SignatureDoesNotMatch", "Specified signature is not matched"
        if params["SignatureNonce"] in self._nonces:
            return 400, "SignatureNonceUsed", "nonce used"
        self._nonces.add(params["SignatureNonce"])
        return None

    def _deliver(self, params: dict[str, str]) -> web.Response:
        variable = TEMPLATES.get(params["TemplateCode"])
        if variable is None:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL", "template unknown")
        values = json.loads(params["TemplateParam"])
        if variable not in values:
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS", "missing")
        text = f"【{params['SignName']}】{values[variable]}"
        if len(text) > self.max_chars:
            return self._error(200, "isv.PARAM_LENGTH_LIMIT", "too long")
        self.delivered.append(text)
        self._next_biz += 1
        biz_id = f"{self._next_biz}^0"
        body = {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": "F655A8D5"}
        return web.json_response(body)

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"Code": code, "Message": message, "RequestId": "R"}, status=status
        )


def settings_for(endpoint: str, **overrides: object) -> AliyunSettings:
    values: dict[str, object] = {
        "endpoint": endpoint,
        "access_key_id": KEY_ID,
        "access_key_secret": SECRET,
        "sign_name": SIGN,
        "template_code": "SMS_100",
        "kind_template_codes": {"urge": "SMS_200"},
        "callback_token": "x" * 32,
        "timeout": 2.0,
    }
    return AliyunSettings.model_validate(values | overrides)


def outgoing(text: str = "请于今日17时前反馈办理情况。", **fields: object) -> Outgoing:
    values: dict[str, object] = {
        "message_id": 41,
        "channel": "sms",
        "to": "+8613800138000",
        "text": text,
        "kind": "assigned",
        "matter_code": "DB-2024-0173",
    }
    return Outgoing(**(values | fields))  # type: ignore[arg-type]


@pytest.fixture
async def fake():
    fake = FakeDysms()
    async with serve(fake.app()) as url:
        fake.url = url + "/"
        yield fake


async def started(settings: AliyunSettings) -> AliyunChannel:
    channel = AliyunChannel(settings, RecordingSink())
    await channel.start()
    return channel


@pytest.fixture
async def channel(fake):
    channel = await started(settings_for(fake.url))
    yield channel
    await channel.stop()


def test_signature_reproduces_alibabas_published_examples():
    ecs = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert rpc_signature(ecs, "testsecret", method="GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    send_sms = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert rpc_signature(send_sms, "testSecret", method="GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


@settings(max_examples=300)
@given(st.dictionaries(st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
                       st.text(st.characters(codec="utf-8"), max_size=60), max_size=8))
def test_signature_of_any_parameters_is_the_published_formula(params):
    """The channel encodes each parameter once and the canonical string by replacement;
    the signature must still be the one of encoding everything byte by byte."""
    assert rpc_signature(params, "s3cret") == expected_signature(params, "s3cret")


@pytest.mark.parametrize("text", ["a b*c~d", "督办/反馈=+&%", "-_.~", "😀"])
def test_percent_encoding_matches_the_pop_rule(text):
    assert percent_encode(text) == pop_encode(text)


async def test_short_chinese_message_is_signed_accepted_and_keyed_by_biz_id(fake, channel):
    assert isinstance(channel, Channel)
    result = await channel.send(outgoing())
    assert result.ok, result.detail
    assert result.provider_ids == ("900619746936498441^0",)
    (params,) = fake.accepted
    assert params["PhoneNumbers"] == "8613800138000"
    assert params["TemplateCode"] == "SMS_100"
    assert params["OutId"] == "41"
    assert json.loads(params["TemplateParam"]) == {
        "content": "请于今日17时前反馈办理情况。",
        "matter": "DB-2024-0173",
    }
    assert fake.delivered == ["【某区督办】请于今日17时前反馈办理情况。"]


async def test_long_chinese_message_with_reserved_characters_arrives_whole(fake, channel):
    text = "关于“城区道路积水”督办事项（编号 DB-2024-0173）：" + "请按 13710 要求 & 时限办理，" * 20
    text += "回复 1=已办结 2=办理中 3+说明; 100% 落实 *~"
    assert len(text) > 300
    result = await channel.send(outgoing(text))
    assert result.ok, result.detail
    assert fake.delivered == [f"【{SIGN}】{text}"]


async def test_kind_picks_its_template_and_matter_is_optional(fake, channel):
    assert (await channel.send(outgoing(kind="urge", matter_code=None))).ok
    (params,) = fake.accepted
    assert params["TemplateCode"] == "SMS_200"
    assert json.loads(params["TemplateParam"]) == {"content": "请于今日17时前反馈办理情况。"}


async def test_every_send_uses_a_fresh_nonce(fake, channel):
    for _ in range(3):
        assert (await channel.send(outgoing())).ok
    assert len({p["SignatureNonce"] for p in fake.accepted}) == 3


async def test_wrong_secret_is_refused_by_the_fake_and_is_permanent(fake):
    channel = await started(settings_for(fake.url, access_key_secret="not-the-secret"))
    try:
        result = await channel.send(outgoing())
    finally:
        await channel.stop()
    assert result.failure is FailureKind.PERMANENT
    assert "SignatureDoesNotMatch" in result.detail
    assert fake.accepted == [] and fake.delivered == []
    assert channel.health()["last_failure"] == result.detail


async def test_too_long_for_the_template_is_permanent(fake, channel):
    result = await channel.send(outgoing("长" * 600))
    assert result.failure is FailureKind.PERMANENT
    assert "isv.PARAM_LENGTH_LIMIT" in result.detail


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", FailureKind.RETRYABLE),
        ("isv.DAY_LIMIT_CONTROL", FailureKind.RETRYABLE),
        ("Throttling.User", FailureKind.RETRYABLE),
        ("isp.SYSTEM_ERROR", FailureKind.RETRYABLE),
        ("isv.MOBILE_NUMBER_ILLEGAL", FailureKind.PERMANENT),
        ("isv.INVALID_PARAMETERS", FailureKind.PERMANENT),
        ("isv.SMS_CONTENT_ILLEGAL", FailureKind.PERMANENT),
        ("isv.AMOUNT_NOT_ENOUGH", FailureKind.PERMANENT),
    ],
)
async def test_error_codes_map_to_failure_kinds(fake, channel, code, kind):
    fake.script["8613800138000"] = (200, json.dumps({"Code": code, "Message": "x"}))
    result = await channel.send(outgoing())
    assert result.failure is kind
    assert code in result.detail


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (503, "<html>busy</html>", FailureKind.RETRYABLE),
        (429, "slow down", FailureKind.RETRYABLE),
        (504, "<html>gateway timeout</html>", FailureKind.UNKNOWN),
        (200, "not json", FailureKind.UNKNOWN),
        (200, '{"Code": "OK"}', FailureKind.UNKNOWN),
        (403, "forbidden", FailureKind.PERMANENT),
    ],
)
async def test_answers_without_a_usable_code(fake, channel, status, body, kind):
    fake.script["8613800138000"] = (status, body)
    assert (await channel.send(outgoing())).failure is kind


async def test_timeout_after_the_request_arrived_is_unknown(fake):
    fake.delay = 1.0
    channel = await started(settings_for(fake.url, timeout=0.2))
    try:
        result = await channel.send(outgoing())
    finally:
        await channel.stop()
    assert result.failure is FailureKind.UNKNOWN
    assert len(fake.accepted) == 1  # it did reach the provider


async def test_refused_connection_is_retryable():
    channel = await started(settings_for(f"http://127.0.0.1:{closed_port()}/"))
    try:
        result = await channel.send(outgoing())
    finally:
        await channel.stop()
    assert result.failure is FailureKind.RETRYABLE


async def test_non_e164_address_fails_before_the_wire(fake, channel):
    result = await channel.send(outgoing(to="13800138000"))
    assert result.failure is FailureKind.PERMANENT
    assert fake.accepted == []


async def test_send_before_start_is_a_programming_error(fake):
    with pytest.raises(RuntimeError):
        await AliyunChannel(settings_for(fake.url), RecordingSink()).send(outgoing())


def test_callback_token_must_be_long():
    with pytest.raises(ValidationError):
        settings_for("https://dysmsapi.aliyuncs.com/", callback_token="short")
