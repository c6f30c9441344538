"""The provider callbacks over real loopback HTTP: authenticated ones reach the sink,
forged or unsigned ones get 403 and leave it untouched."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from dispatch.channel import InboundText, Receipt
from sms_gateway.aliyun import AliyunChannel, AliyunSettings
from sms_gateway.twilio import TwilioChannel, TwilioSettings
from sms_gateway.webhooks import sms_webhook_routes
from tests.sms_gateway_http import RecordingSink, serve

TOKEN = "k3Jd9-aliyun-callback-token-5fQ"
AUTH_TOKEN = "twilio-auth-token-0123456789"
PUBLIC = "https://duban.example.gov.cn"

ALIYUN = AliyunSettings(
    access_key_id="LTAI",
    access_key_secret="s",
    sign_name="某区督办",
    template_code="SMS_100",
    callback_token=TOKEN,
)
TWILIO = TwilioSettings(
    account_sid="AC" + "1" * 32,
    auth_token=AUTH_TOKEN,
    from_number="+15005550006",
    public_base_url=PUBLIC,
    webhook_shared_keys={"ks_1": "shared-s3cret"},
)

REPORTS = [
    {
        "phone_number": "13800138000",
        "send_time": "2024-05-06 09:00:00",
        "report_time": "2024-05-06 09:00:03",
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "3",
        "biz_id": "900619746936498441^0",
        "out_id": "41",
    },
    {
        "phone_number": "13900139000",
        "success": False,
        "err_code": "MK:100D",
        "err_msg": "用户停机",
        "biz_id": "900619746936498442^0",
    },
    {"phone_number": "13700137000", "success": False, "err_code": "EXPIRED", "biz_id": "B3"},
]
UPS = [
    {
        "phone_number": "13800138000",
        "content": "1 已办结，详见附件",
        "send_time": "2024-05-06 10:00:00",
        "sign_name": "某区督办",
        "dest_code": "1234",
        "sequence_id": 1234567890,
    },
    {
        "phone_number": "13900139000",
        "content": "2",
        "send_time": "2024-05-06 10:00:01",
        "dest_code": "1234",
        "sequence_id": "1234567891",
    },
]


def make_app(sink: RecordingSink, **providers) -> web.Application:
    app = web.Application()
    app.add_routes(sms_webhook_routes(sink, **providers))
    return app


@pytest.fixture
def sink():
    return RecordingSink()


@pytest.fixture
async def base(sink):
    async with serve(make_app(sink, aliyun=ALIYUN, twilio=TWILIO)) as url:
        yield url


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def post_json(http, url, payload) -> tuple[int, str]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    async with http.post(url, data=data, headers=headers) as response:
        return response.status, await response.text()


def twilio_signed(path: str, params: dict[str, str], secret: str = AUTH_TOKEN) -> dict[str, str]:
    signature = RequestValidator(secret).compute_signature(PUBLIC + path, params)
    return {"X-Twilio-Signature": signature}


async def post_form(http, url, params, headers) -> tuple[int, str, str]:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    async with http.post(url, data=urlencode(params), headers=headers) as response:
        return response.status, response.content_type, await response.text()


# --- Alibaba -------------------------------------------------------------------------


async def test_aliyun_reports_become_receipts(base, http, sink):
    status, body = await post_json(http, f"{base}/sms/aliyun/report/{TOKEN}", REPORTS)
    assert status == 200 and json.loads(body) == {"code": 0, "msg": "成功"}
    assert sink.receipts == [
        Receipt("sms", "900619746936498441^0", "delivered", "DELIVERED 用户接收成功"),
        Receipt("sms", "900619746936498442^0", "failed", "MK:100D 用户停机"),
        Receipt("sms", "B3", "expired", "EXPIRED"),
    ]


async def test_aliyun_replies_become_inbound_texts(base, http, sink):
    status, _ = await post_json(http, f"{base}/sms/aliyun/up/{TOKEN}", UPS)
    assert status == 200
    first, second = sink.inbound_texts
    assert first == InboundText("sms", "13800138000", "1 已办结，详见附件", "1234567890", UPS[0])
    assert (second.sender, second.text, second.provider_message_id) == (
        "13900139000",
        "2",
        "1234567891",
    )


@pytest.mark.parametrize("kind", ["report", "up"])
@pytest.mark.parametrize(
    "suffix",
    ["", "/", "/wrong-token-of-some-length", f"/{TOKEN}x", f"/{TOKEN[:-1]}", f"/{TOKEN}/x"],
)
async def test_aliyun_without_the_token_is_forbidden(base, http, sink, kind, suffix):
    status, _ = await post_json(http, f"{base}/sms/aliyun/{kind}{suffix}", REPORTS + UPS)
    assert status == 403
    assert sink.untouched


async def test_aliyun_wrong_token_is_checked_before_the_body(base, http, sink):
    status, _ = await post_json(http, f"{base}/sms/aliyun/report/nope", b"{not json")
    assert status == 403


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xff\xfe",
        {"phone_number": "13800138000", "biz_id": "B1", "success": True},  # not an array
        [{"phone_number": "13800138000", "success": True}],  # no biz_id
        ["text"],
    ],
)
async def test_aliyun_malformed_report_is_400_and_nothing_is_kept(base, http, sink, payload):
    status, _ = await post_json(http, f"{base}/sms/aliyun/report/{TOKEN}", payload)
    assert status == 400
    assert sink.untouched


async def test_aliyun_malformed_reply_is_400(base, http, sink):
    status, _ = await post_json(http, f"{base}/sms/aliyun/up/{TOKEN}", [{"content": "1"}])
    assert status == 400
    assert sink.untouched


async def test_aliyun_push_fails_when_the_store_fails_so_alibaba_pushes_again(http):
    async with serve(make_app(RecordingSink(fail=True), aliyun=ALIYUN, twilio=None)) as url:
        status, _ = await post_json(http, f"{url}/sms/aliyun/report/{TOKEN}", REPORTS)
    assert status == 500


# --- Twilio --------------------------------------------------------------------------

INBOUND = {
    "MessageSid": "SM" + "a" * 32,
    "SmsSid": "SM" + "a" * 32,
    "AccountSid": "AC" + "1" * 32,
    "From": "+8613800138000",
    "To": "+15005550006",
    "Body": "收到 1=已办结 & 100% 落实",
    "NumMedia": "0",
}


async def test_twilio_inbound_reaches_the_sink_and_gets_empty_twiml(base, http, sink):
    path = "/sms/twilio/inbound"
    status, content_type, body = await post_form(
        http, base + path, INBOUND, twilio_signed(path, INBOUND)
    )
    assert status == 200 and content_type == "text/xml"
    assert body.endswith("<Response/>")
    assert sink.inbound_texts == [
        InboundText("sms", "+8613800138000", INBOUND["Body"], INBOUND["MessageSid"], INBOUND)
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"MessageStatus": "delivered"}, Receipt("sms", "SM1", "delivered", "delivered")),
        (
            {"MessageStatus": "undelivered", "ErrorCode": "30003"},
            Receipt("sms", "SM1", "failed", "undelivered 30003"),
        ),
        (
            {"MessageStatus": "failed", "ErrorCode": "30008"},
            Receipt("sms", "SM1", "failed", "failed 30008"),
        ),
        ({"MessageStatus": "sent"}, None),
        ({"MessageStatus": "queued"}, None),
    ],
)
async def test_twilio_status_callbacks_map_to_receipts(base, http, sink, params, expected):
    path = "/sms/twilio/status"
    params = {"MessageSid": "SM1", "AccountSid": "AC1", **params}
    status, _, _ = await post_form(http, base + path, params, twilio_signed(path, params))
    assert status == 204
    assert sink.receipts == ([expected] if expected else [])


async def test_twilio_shared_key_signature_is_accepted(base, http, sink):
    path = "/sms/twilio/status"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    validator = RequestValidator("shared-s3cret")
    headers = {
        "X-Twilio-Signature": validator.compute_signature(PUBLIC + path, params, "HMAC_SHA256"),
        "X-Twilio-Webhooks-Signature-Settings": "key=ks_1,algorithm=HMAC_SHA256",
    }
    status, _, _ = await post_form(http, base + path, params, headers)
    assert status == 204 and len(sink.receipts) == 1


def forged_requests():
    inbound, status = "/sms/twilio/inbound", "/sms/twilio/status"
    tampered = dict(INBOUND, Body="伪造的回复")
    return {
        "unsigned": (inbound, INBOUND, {}),
        "empty signature": (inbound, INBOUND, {"X-Twilio-Signature": ""}),
        "wrong token": (inbound, INBOUND, twilio_signed(inbound, INBOUND, "guessed-token")),
        "body changed": (inbound, tampered, twilio_signed(inbound, INBOUND)),
        "other endpoint": (inbound, INBOUND, twilio_signed(status, INBOUND)),
        "unknown shared key": (
            inbound,
            INBOUND,
            {
                **twilio_signed(inbound, INBOUND),
                "X-Twilio-Webhooks-Signature-Settings": "key=ks_9,algorithm=HMAC_SHA1",
            },
        ),
    }


@pytest.mark.parametrize("case", list(forged_requests()))
async def test_twilio_forged_or_unsigned_is_forbidden(base, http, sink, case):
    path, params, headers = forged_requests()[case]
    status, _, _ = await post_form(http, base + path, params, headers)
    assert status == 403
    assert sink.untouched


async def test_twilio_signed_but_incomplete_is_400(base, http, sink):
    path, params = "/sms/twilio/inbound", {"From": "+8613800138000", "Body": "1"}
    status, _, _ = await post_form(http, base + path, params, twilio_signed(path, params))
    assert status == 400
    assert sink.untouched


async def test_twilio_url_behind_a_path_prefix_and_query(http, sink):
    settings = TWILIO.model_copy(update={"public_base_url": PUBLIC + "/duban/"})
    path, params = "/sms/twilio/inbound?tenant=%E5%8C%BA", INBOUND
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/duban" + path, params)
    async with serve(make_app(sink, aliyun=None, twilio=settings)) as url:
        status, _, _ = await post_form(http, url + path, params, {"X-Twilio-Signature": signature})
    assert status == 200 and len(sink.inbound_texts) == 1


# --- Mounting ------------------------------------------------------------------------


async def test_only_configured_providers_are_mounted(http, sink):
    async with serve(make_app(sink, aliyun=None, twilio=None)) as url:
        status, _ = await post_json(http, f"{url}/sms/aliyun/report/{TOKEN}", REPORTS)
    assert status == 404


async def test_channels_mount_their_own_webhooks_on_their_sink(http):
    aliyun_sink, twilio_sink = RecordingSink(), RecordingSink()
    app = web.Application()
    app.add_routes(AliyunChannel(ALIYUN, aliyun_sink).routes())
    app.add_routes(TwilioChannel(TWILIO, twilio_sink).routes())
    path = "/sms/twilio/inbound"
    async with serve(app) as url:
        await post_json(http, f"{url}/sms/aliyun/up/{TOKEN}", UPS)
        await post_form(http, url + path, INBOUND, twilio_signed(path, INBOUND))
    assert len(aliyun_sink.inbound_texts) == 2
    assert len(twilio_sink.inbound_texts) == 1
