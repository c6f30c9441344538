"""A local WeCom API server written from the public documentation (获取access_token,
发送应用消息): gettoken hands out tokens that expire, message/send checks them."""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from wechatpy.crypto import _get_signature
from wechatpy.enterprise.crypto import WeChatCrypto

CORP_ID = "ww0123456789abcdef"
SECRET = "app-secret"
TOKEN = "callbacktoken"
AES_KEY = base64.b64encode(b"k" * 32).decode().rstrip("=")  # 43 characters
BUTTON_SECRET = "button-secret-for-the-tests"
PREFIX = "/gov-wecom"  # 政务微信: the same API under a private deployment's own base


def wecom_section(base: str, **changes: Any) -> dict[str, Any]:
    return {"corp_id": CORP_ID, "agent_id": 1000002, "secret": SECRET, "token": TOKEN,
            "encoding_aes_key": AES_KEY, "api_base": base + PREFIX,
            "button_secret": BUTTON_SECRET} | changes


@dataclass
class FakeWeCom:
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    invalid_users: set[str] = field(default_factory=set)  # answered in invaliduser
    errcodes: list[int] = field(default_factory=list)  # next message/send answers
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get(PREFIX + "/cgi-bin/gettoken", self.gettoken),
                        web.post(PREFIX + "/cgi-bin/message/send", self.send)])
        return app

    def expire_tokens(self) -> None:
        self.tokens.clear()

    async def gettoken(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        q = request.query
        if q.get("corpid") != CORP_ID or q.get("corpsecret") != SECRET:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        token = f"token-{next(self._ids)}"
        self.tokens.add(token)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token,
                                  "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if self.errcodes:
            code = self.errcodes.pop(0)
            return web.json_response({"errcode": code, "errmsg": f"error {code}"})
        body = await request.json()
        self.sent.append(body)
        invalid = "|".join(u for u in body["touser"].split("|") if u in self.invalid_users)
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": invalid,
                                  "msgid": f"msg{next(self._ids)}"})


def callback_xml(fields: dict[str, str | int]) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
                    for k, v in fields.items())
    return f"<xml>{inner}</xml>"


def sealed(message: str, nonce: str, timestamp: int | None = None,
           token: str = TOKEN) -> tuple[dict[str, str], str]:
    """Query and body of a callback as WeCom sends it, encrypted by wechatpy."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    envelope = WeChatCrypto(token, AES_KEY, CORP_ID).encrypt_message(message, nonce, stamp)
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = _get_signature(token, stamp, nonce, encrypt)
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>" \
           f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID>1000002</AgentID></xml>"
    return {"msg_signature": signature, "timestamp": stamp, "nonce": nonce}, body


def text_message(userid: str, content: str, msg_id: int = 1) -> str:
    return callback_xml({"ToUserName": CORP_ID, "FromUserName": userid,
                         "CreateTime": int(time.time()), "MsgType": "text",
                         "Content": content, "MsgId": str(msg_id), "AgentID": 1000002})


def card_event(userid: str, key: str, task_id: str = "duban-1") -> str:
    return callback_xml({"ToUserName": CORP_ID, "FromUserName": userid,
                         "CreateTime": int(time.time()), "MsgType": "event",
                         "Event": "template_card_event", "EventKey": key, "TaskId": task_id,
                         "CardType": "button_interaction", "AgentID": 1000002})
