"""The WeCom channel against a local WeCom API (tests/wecom/fake_api.py) and its callback
URL against requests encrypted by wechatpy, an independent implementation of the crypto."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from wechatpy.crypto import _get_signature
from wechatpy.enterprise.crypto import PrpCrypto

from bot.callbacks import signed, verify
from dispatch.channel import FailureKind, Outgoing
from dispatch.ratelimit import RateLimiter
from replies.inbound import Inbox
from service.config import ConfigError
from tests.loopback import closed_port, serve
from tests.recording_sink import RecordingSink
from tests.wecom.fake_api import (
    AES_KEY,
    BUTTON_SECRET,
    CORP_ID,
    TOKEN,
    FakeWeCom,
    card_event,
    sealed,
    text_message,
    wecom_section,
)
from wecom.callback import callback_routes
from wecom.channel import WeComChannel
from wecom.compose import wecom_channel
from wecom.crypto import Crypto, CryptoError
from wecom.settings import WeComSettings


def notice(kind: str = "assigned", to: str = "liyi", code: str | None = "D17") -> Outgoing:
    return Outgoing(7, "wecom", to, "新交办D17：清理辖区河道垃圾。", kind, matter_code=code)


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeWeCom, WeComChannel]]:
    fake = FakeWeCom()
    async with serve(fake.app()) as base:
        channel = WeComChannel(WeComSettings(**wecom_section(base)))
        await channel.start()
        yield fake, channel
        await channel.stop()


async def test_a_notice_is_a_card_with_four_signed_buttons(api) -> None:
    fake, channel = api
    result = await channel.send(notice())
    assert result.ok and result.provider_ids[0].startswith("msg")
    [body] = fake.sent
    assert body["msgtype"] == "template_card" and body["touser"] == "liyi"
    card = body["template_card"]
    assert card["card_type"] == "button_interaction" and card["task_id"] == "duban-7"
    assert card["main_title"]["title"] == "督办事项 D17"
    assert card["sub_title_text"].startswith("新交办D17")
    buttons = card["button_list"]
    assert [b["text"] for b in buttons] == ["收到", "报进展", "申请延期", "申请办结"]
    assert [verify(b["key"], BUTTON_SECRET).action for b in buttons] == ["a", "p", "e", "c"]


async def test_a_reply_is_plain_text(api) -> None:
    fake, channel = api
    assert (await channel.send(notice(kind="reply"))).ok
    assert fake.sent[0]["msgtype"] == "text"
    assert fake.sent[0]["text"]["content"].startswith("新交办D17")


async def test_the_token_is_cached_and_fetched_again_when_expired(api) -> None:
    fake, channel = api
    for _ in range(3):
        assert (await channel.send(notice())).ok
    assert fake.token_requests == 1
    fake.expire_tokens()  # WeCom answers 42001 on the next send
    assert (await channel.send(notice())).ok
    assert fake.token_requests == 2 and len(fake.sent) == 4


async def test_unknown_or_blocked_members_are_permanent_failures(api) -> None:
    fake, channel = api
    fake.invalid_users.add("left")
    result = await channel.send(notice(to="left"))
    assert result.failure is FailureKind.PERMANENT and "invaliduser" in result.detail
    fake.errcodes.append(81013)
    result = await channel.send(notice())
    assert result.failure is FailureKind.PERMANENT and "81013" in result.detail
    result = await channel.send(notice(to="+8613800138000"))
    assert result.failure is FailureKind.PERMANENT


async def test_frequency_limit_is_throttling_and_busy_is_retryable(api) -> None:
    fake, channel = api
    fake.errcodes += [45009, -1]
    throttled = await channel.send(notice())
    assert throttled.failure is FailureKind.RETRYABLE and throttled.throttled
    busy = await channel.send(notice())
    assert busy.failure is FailureKind.RETRYABLE and not busy.throttled


async def test_a_wrong_secret_fails_over_and_an_unreachable_api_retries() -> None:
    fake = FakeWeCom()
    async with serve(fake.app()) as base:
        channel = WeComChannel(WeComSettings(**wecom_section(base, secret="wrong")))
        await channel.start()
        result = await channel.send(notice())
        await channel.stop()
    assert result.failure is FailureKind.PERMANENT and "40001" in result.detail
    down = WeComChannel(WeComSettings(**wecom_section(f"http://127.0.0.1:{closed_port()}")))
    await down.start()
    assert (await down.send(notice())).failure is FailureKind.RETRYABLE
    await down.stop()


def test_published_limits_per_member_and_per_app(ctx) -> None:
    _, limiter = wecom_channel(wecom_section("http://wecom.example", account_members=1),
                               Inbox(ctx), [])
    assert isinstance(limiter, RateLimiter)
    assert all(limiter.take("liyi", 0.0) == 0 for _ in range(30))
    assert limiter.take("liyi", 0.0) == pytest.approx(2.0)  # 31st in a minute waits
    for n in range(200 - 30):
        limiter.take(f"u{n}", 1.0)
    assert limiter.take("other", 1.0) > 60  # 1 member x 200 a day is spent


def test_bad_settings_are_one_line(ctx) -> None:
    with pytest.raises(ConfigError, match=r"^invalid setting wecom.encoding_aes_key: .*43"):
        wecom_channel(wecom_section("http://x", encoding_aes_key="short"), Inbox(ctx), [])


# -- the callback URL ---------------------------------------------------------------------


@pytest.fixture
async def callback() -> AsyncIterator[tuple[aiohttp.ClientSession, str, RecordingSink]]:
    sink = RecordingSink()
    settings = WeComSettings(**wecom_section("http://unused"))
    app = web.Application()
    app.add_routes(callback_routes(settings, sink))
    async with serve(app) as base, aiohttp.ClientSession() as http:
        yield http, base + settings.callback_path, sink


async def post(http: aiohttp.ClientSession, url: str, query: dict[str, str], body: str) -> int:
    async with http.post(url, params=query, data=body.encode()) as response:
        return response.status


async def test_url_verification_answers_the_decrypted_echostr(callback) -> None:
    http, url, _ = callback
    key = base64.b64decode(AES_KEY + "=")
    echostr = PrpCrypto(key).encrypt("1616140317555161061", CORP_ID).decode()
    stamp, nonce = str(int(time.time())), "verify1"
    query = {"msg_signature": _get_signature(TOKEN, stamp, nonce, echostr),
             "timestamp": stamp, "nonce": nonce, "echostr": echostr}
    async with http.get(url, params=query) as response:
        assert (response.status, await response.text()) == (200, "1616140317555161061")
    query["msg_signature"] = "0" * 40
    async with http.get(url, params=query | {"nonce": "verify2"}) as response:
        assert response.status == 403


async def test_a_text_message_reaches_the_sink_raw(callback) -> None:
    http, url, sink = callback
    query, body = sealed(text_message("liyi", "D17 进展 已清理一半", 42), "n1")
    assert await post(http, url, query, body) == 200
    [text] = sink.texts
    assert (text.channel, text.sender, text.text) == ("wecom", "liyi", "D17 进展 已清理一半")
    assert text.provider_message_id == "wecom:42" and text.raw["MsgType"] == "text"


async def test_forged_stale_and_replayed_callbacks_are_refused(callback) -> None:
    http, url, sink = callback
    query, body = sealed(text_message("liyi", "D17 收到"), "n2", token="not-the-token")
    assert await post(http, url, query, body) == 403
    query, body = sealed(text_message("liyi", "D17 收到"), "n3", int(time.time()) - 3600)
    assert await post(http, url, query, body) == 403
    query, body = sealed(text_message("liyi", "D17 收到"), "n4")
    assert await post(http, url, query, body) == 200
    assert await post(http, url, query, body) == 403  # the same request again
    assert await post(http, url, query, "<xml><Encrypt>x</Encrypt></xml>") == 403
    assert len(sink.texts) == 1


async def test_a_sink_failure_is_500_and_the_resend_is_accepted(callback) -> None:
    http, url, sink = callback
    sink.fail = True
    query, body = sealed(text_message("liyi", "D17 收到"), "n5")
    assert await post(http, url, query, body) == 500
    sink.fail = False
    assert await post(http, url, query, body) == 200
    assert [t.text for t in sink.texts] == ["D17 收到"]


@pytest.mark.parametrize("action, text", [("a", "D17 收到"), ("p", "D17 进展"),
                                          ("e", "D17 延期"), ("c", "D17 办结")])
async def test_a_card_button_press_is_its_grammar_line(callback, action: str, text: str) -> None:
    http, url, sink = callback
    query, body = sealed(card_event("liyi", signed(action, "D17", BUTTON_SECRET)), "p" + action)
    assert await post(http, url, query, body) == 200
    assert [t.text for t in sink.texts] == [text]
    assert sink.texts[0].provider_message_id.startswith("wecom-event:")


async def test_an_image_is_stored_too_and_entering_the_app_is_not(callback) -> None:
    http, url, sink = callback
    image = text_message("liyi", "", 77).replace("[text]", "[image]")
    query, body = sealed(image, "i1")
    assert await post(http, url, query, body) == 200
    enter = card_event("liyi", "").replace("template_card_event", "enter_agent")
    query, body = sealed(enter, "i2")
    assert await post(http, url, query, body) == 200
    assert [(t.text, t.provider_message_id) for t in sink.texts] == [("", "wecom:77")]


async def test_a_forged_button_key_changes_nothing(callback) -> None:
    http, url, sink = callback
    query, body = sealed(card_event("liyi", signed("a", "D99", "guessed")), "f1")
    assert await post(http, url, query, body) == 200
    assert sink.texts[0].text == "" and sink.texts[0].raw["forged_key"] is True


def test_our_decryption_reads_wechatpys_encryption_and_refuses_others() -> None:
    key = base64.b64decode(AES_KEY + "=")
    ours = Crypto(AES_KEY, CORP_ID)
    assert ours.decrypt(PrpCrypto(key).encrypt("你好 wecom", CORP_ID).decode()) == "你好 wecom"
    with pytest.raises(CryptoError):
        ours.decrypt(PrpCrypto(key).encrypt("hi", "another-corp").decode())
    with pytest.raises(CryptoError):
        ours.decrypt("not base64!")


