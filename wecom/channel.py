"""WeCom (企业微信 / 政务微信) as a channel: app messages through `message/send`.

A notice that asks the unit to act goes out as a template card (button_interaction) with
收到 / 报进展 / 申请延期 / 申请办结, whose keys are signed like the bot's callback data;
everything else is plain text. The access token from `gettoken` is cached until shortly
before it expires and fetched again when WeCom says it is invalid or expired.

Outcomes: sent (WeCom's msgid); RETRYABLE when the request never left, WeCom was busy, or
it throttled us (45009, then `throttled`); PERMANENT when the member cannot get it
(81013, `invaliduser`: blocked, left, unknown), so the dispatcher fails over to SMS;
UNKNOWN when the request left but no readable answer came back.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from typing import Any

import aiohttp

from bot.callbacks import BUTTON_KINDS, buttons_for
from dispatch.channel import FailureKind, Outgoing, SendResult
from wecom.settings import WeComSettings
from wecom.texts import card_title

log = logging.getLogger(__name__)

TOKEN_EXPIRED = {40014, 42001, 40001}  # invalid token, token expired, invalid credential
THROTTLED = {45009, 45033}  # API frequency limit, too many concurrent calls
BUSY = -1  # 系统繁忙
TOKEN_MARGIN = 300.0  # seconds before expires_in that we fetch a new token
THROTTLE_WAIT = 60.0
USERID = re.compile(r"[A-Za-z0-9_@.\-]{1,64}")


class TokenError(Exception):
    """gettoken refused our corp id or secret."""


class WeComChannel:
    name = "wecom"
    concurrency = 8  # a bounded pool of HTTP requests

    def __init__(self, settings: WeComSettings,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._settings = settings
        self._session = session
        self._owns_session = session is None
        self._token: tuple[str, float] | None = None  # value, monotonic expiry
        self._token_lock = asyncio.Lock()
        self._outcomes: Counter[str] = Counter()
        self._last_failure = ""

    async def start(self) -> None:
        """Open the HTTP session and try a token, so a wrong corp id or secret shows at once;
        sending works (and fails over) either way."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.request_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            await self._access_token()
        except (TokenError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("wecom: no access token at start: %s", exc)

    async def stop(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def health(self) -> dict[str, Any]:
        return {"channel": self.name, "api_base": self._settings.api_base,
                "token_cached": self._token is not None, "outcomes": dict(self._outcomes),
                "last_failure": self._last_failure}

    async def send(self, message: Outgoing) -> SendResult:
        if not USERID.fullmatch(message.to):
            return self._record(SendResult.failed(FailureKind.PERMANENT,
                                                  f"not a WeCom userid: {message.to!r}"))
        try:
            answer = await self._post("/cgi-bin/message/send", self.payload(message))
        except TokenError as exc:
            return self._record(SendResult.failed(FailureKind.PERMANENT, str(exc)))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            return self._record(SendResult.failed(FailureKind.RETRYABLE, f"not sent: {exc}"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return self._record(SendResult.failed(FailureKind.UNKNOWN, f"no answer: {exc!r}"))
        return self._record(classify(answer, message.to))

    def payload(self, message: Outgoing) -> dict[str, Any]:
        base = {"touser": message.to, "agentid": self._settings.agent_id}
        code = message.matter_code
        if not code or message.kind not in BUTTON_KINDS:
            return base | {"msgtype": "text", "text": {"content": message.text}}
        secret = self._settings.button_secret.get_secret_value()
        buttons = [b for row in buttons_for(code, secret) for b in row]
        return base | {"msgtype": "template_card", "template_card": {
            "card_type": "button_interaction",
            "main_title": {"title": card_title(code)},
            "sub_title_text": message.text,
            "task_id": f"duban-{message.message_id}",
            "button_list": [{"text": b.text, "style": 1, "key": b.data} for b in buttons],
        }}

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await self._post_once(path, payload, await self._access_token())
        if answer.get("errcode") in TOKEN_EXPIRED:
            self._token = None  # revoked or expired early: one fresh token, one more try
            answer = await self._post_once(path, payload, await self._access_token())
        return answer

    async def _post_once(self, path: str, payload: dict[str, Any],
                         token: str) -> dict[str, Any]:
        assert self._session is not None, "start() the channel first"
        url = f"{self._settings.api_base}{path}"
        async with self._session.post(url, params={"access_token": token}, json=payload) as r:
            return await r.json(content_type=None)

    async def _access_token(self) -> str:
        async with self._token_lock:  # one gettoken for a burst of sends, not one each
            if self._token is not None and time.monotonic() < self._token[1]:
                return self._token[0]
            assert self._session is not None, "start() the channel first"
            s = self._settings
            params = {"corpid": s.corp_id, "corpsecret": s.secret.get_secret_value()}
            async with self._session.get(f"{s.api_base}/cgi-bin/gettoken", params=params) as r:
                answer = await r.json(content_type=None)
            if answer.get("errcode") or not answer.get("access_token"):
                raise TokenError(f"gettoken errcode {answer.get('errcode')}: "
                                 f"{answer.get('errmsg', '')}")
            expires = float(answer.get("expires_in", 7200))
            self._token = (answer["access_token"],
                           time.monotonic() + max(expires - TOKEN_MARGIN, 0.0))
            return self._token[0]

    def _record(self, result: SendResult) -> SendResult:
        self._outcomes[result.failure.value if result.failure else "sent"] += 1
        if result.failure:
            self._last_failure = f"{result.failure.value}: {result.detail}"
        return result


def classify(answer: dict[str, Any], userid: str) -> SendResult:
    """The dispatcher's view of a message/send answer."""
    errcode = answer.get("errcode")
    detail = f"errcode {errcode}: {answer.get('errmsg', '')}"
    if errcode == 0:
        invalid = str(answer.get("invaliduser") or "").split("|")
        if userid in invalid:  # WeCom accepts the call yet drops an unknown or blocked member
            return SendResult.failed(FailureKind.PERMANENT, f"invaliduser {userid}")
        return SendResult.sent(str(answer.get("msgid", "")))
    if errcode in THROTTLED:
        return SendResult.failed(FailureKind.RETRYABLE, detail, THROTTLE_WAIT, throttled=True)
    if errcode == BUSY:
        return SendResult.failed(FailureKind.RETRYABLE, detail)
    return SendResult.failed(FailureKind.PERMANENT, detail)  # 81013 and every other refusal
