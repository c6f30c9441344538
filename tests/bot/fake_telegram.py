"""A local Telegram Bot API server for the tests.

It speaks the real wire protocol aiogram uses — form posts to /bot<token>/<method>, answers
as {"ok": true, "result": ...} or {"ok": false, "error_code": ..., "description": ...} —
and implements the methods the bot calls: getMe, getUpdates (long polling with offsets and
timeouts), sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery,
sendDocument, setWebhook, deleteWebhook. Tests act as people (`send_text`, `share_contact`,
`press`) and arrange failures per method and chat (429, 403, 400, a hang, a dropped line).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests import loopback

BOT_ID = 777000
TOKEN = f"{BOT_ID}:local-test-token"
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "duban", "username": "duban_test_bot"}
WAIT = 5.0  # seconds any test waits for something to happen


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    hang: float = 0.0  # seconds to wait before answering (longer than the client waits)
    drop: bool = False  # close the connection instead of answering


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.base = ""
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}  # what the bot has in chats, by id
        self.failures: dict[tuple[str, int], Failure] = {}
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Condition()
        self._ids = {"update": 100, "message": 5000, "callback": 0}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        return app

    # --- people ------------------------------------------------------------------------

    async def send_text(self, chat_id: int, text: str) -> int:
        return await self._push(message=self.user_message(chat_id, text=text))

    async def send_photo(self, chat_id: int) -> int:
        photo = [{"file_id": "p1", "file_unique_id": "p1u", "width": 1, "height": 1}]
        return await self._push(message=self.user_message(chat_id, photo=photo))

    async def share_contact(self, chat_id: int, phone: str, user_id: int | None = None) -> int:
        contact = {"phone_number": phone, "first_name": "Contact",
                   "user_id": chat_id if user_id is None else user_id}
        return await self._push(message=self.user_message(chat_id, contact=contact))

    async def press(self, chat_id: int, message_id: int, data: str) -> int:
        return await self._push(callback_query=self.callback_query(chat_id, message_id, data))

    async def converse(self, chat_id: int, *steps: str) -> None:
        """Play the person's side: each step waits for the bot's answer to the one before.
        A step "press:<data>" presses a button under the bot's last message."""
        for step in steps:
            seen = len(self.sent("sendMessage", chat_id))
            if step.startswith("press:"):
                await self.press(chat_id, self.last_message_id(chat_id), step[len("press:"):])
            else:
                await self.send_text(chat_id, step)
            await self.wait_for("sendMessage", chat_id, count=seen + 1)

    def callback_query(self, chat_id: int, message_id: int, data: str) -> dict[str, Any]:
        self._ids["callback"] += 1
        return {"id": str(self._ids["callback"]), "from": _user(chat_id),
                "message": self.messages[message_id], "chat_instance": "ci", "data": data}

    def update(self, **payload: Any) -> dict[str, Any]:
        """A new update, for webhook tests that post it themselves."""
        self._ids["update"] += 1
        return {"update_id": self._ids["update"], **payload}

    # --- what the bot did ---------------------------------------------------------------

    def sent(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method
                and (chat_id is None or c.params.get("chat_id") == str(chat_id))]

    async def wait_for(self, method: str, chat_id: int | None = None, count: int = 1,
                       timeout: float = WAIT) -> list[Call]:
        await eventually(lambda: len(self.sent(method, chat_id)) >= count, timeout)
        return self.sent(method, chat_id)

    def texts(self, chat_id: int) -> list[str]:
        return [c.params["text"] for c in self.sent("sendMessage", chat_id)]

    def last_message_id(self, chat_id: int) -> int:
        return max(i for i, m in self.messages.items() if m["chat"]["id"] == chat_id)

    # --- the server ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        call = await _read(method, request)
        self.calls.append(call)
        chat = call.params.get("chat_id")
        failure = self.failures.get((method, int(chat))) if chat else None
        if failure:
            return await _fail(request, failure)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return web.json_response({"ok": True, "result": await handler(call)})

    async def _m_getMe(self, call: Call) -> dict[str, Any]:
        return BOT_USER

    async def _m_getUpdates(self, call: Call) -> list[dict[str, Any]]:
        offset = int(call.params.get("offset", 0))
        async with self._new_update:
            if offset:  # confirms every update below the offset
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            with suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait_for(lambda: self._updates),
                                       float(call.params.get("timeout", 0)))
            return self._updates[:100]

    async def _m_sendMessage(self, call: Call) -> dict[str, Any]:
        p = call.params
        return self._bot_message(int(p["chat_id"]), text=p["text"],
                                 reply_markup=_inline(p.get("reply_markup")))

    async def _m_editMessageText(self, call: Call) -> dict[str, Any]:
        message = self.messages[int(call.params["message_id"])]
        message["text"] = call.params["text"]
        _set_markup(message, call.params.get("reply_markup"))
        return message

    async def _m_editMessageReplyMarkup(self, call: Call) -> dict[str, Any]:
        message = self.messages[int(call.params["message_id"])]
        _set_markup(message, call.params.get("reply_markup"))
        return message

    async def _m_answerCallbackQuery(self, call: Call) -> bool:
        return True

    async def _m_sendDocument(self, call: Call) -> dict[str, Any]:
        name = next(iter(call.files), "document")
        document = {"file_id": "d1", "file_unique_id": "d1u", "file_name": name}
        return self._bot_message(int(call.params["chat_id"]), document=document,
                                 caption=call.params.get("caption"))

    async def _m_setWebhook(self, call: Call) -> bool:
        return True

    async def _m_deleteWebhook(self, call: Call) -> bool:
        return True

    # --- building blocks ----------------------------------------------------------------

    async def _push(self, **payload: Any) -> int:
        update = self.update(**payload)
        async with self._new_update:
            self._updates.append(update)
            self._new_update.notify_all()
        return update["update_id"]

    def user_message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        self._ids["message"] += 1
        return {"message_id": self._ids["message"], "date": int(time.time()),
                "chat": _chat(chat_id), "from": _user(chat_id), **content}

    def _bot_message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        self._ids["message"] += 1
        message = {"message_id": self._ids["message"], "date": int(time.time()),
                   "chat": _chat(chat_id), "from": BOT_USER,
                   **{k: v for k, v in content.items() if v is not None}}
        self.messages[message["message_id"]] = message
        return message


def _user(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}"}


def _chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}


def _inline(markup: Any) -> dict[str, Any] | None:
    """Only inline keyboards belong to a message; reply keyboards live in the client."""
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _set_markup(message: dict[str, Any], markup: Any) -> None:
    if _inline(markup):
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


async def _read(method: str, request: web.Request) -> Call:
    form = await request.post()
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[value.filename or key] = value.file.read()
        elif value[:1] in "{[":
            params[key] = json.loads(value)
        else:
            params[key] = value
    return Call(method, params, files)


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _fail(request: web.Request, failure: Failure) -> web.StreamResponse:
    if failure.hang:
        await asyncio.sleep(failure.hang)
    if failure.drop:
        assert request.transport is not None
        request.transport.close()
        return web.Response()
    return _error(failure.status, failure.description, failure.retry_after)


async def eventually(condition: Callable[[], Any], timeout: float = WAIT) -> None:
    """Wait until `condition()` is true; fail the test after `timeout` seconds."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def serve(app: web.Application) -> AbstractAsyncContextManager[str]:
    """The loopback server, quick to stop: a pending long poll must not stall a test."""
    return loopback.serve(app, shutdown_timeout=0.1)
