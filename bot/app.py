"""The bot's composition root.

    bot = make_bot(settings.telegram)
    dispatcher = build_dispatcher(inbox, clock, settings, register=service_register(ctx))
    channels["telegram"] = TelegramChannel(bot)       # the outbound dispatcher's channel,
    buttons = row_buttons(settings.telegram.callback_secret)  # ... and its buttons_for hook
    await run_polling(bot, dispatcher)                # one instance, or:
    setup_webhook(web_app, dispatcher, bot, settings.telegram)  # behind the web server

Routers, in the order an update meets them: linking (/start, shared contact), then — for
chats linked to a person — supervisor, buttons, replies; last the explanation for everyone
not linked. Handlers answer through the outbox (`bot.answers`). FSM storage is memory for one
polling instance, the database (`fsm_storage = "database"`) for a polling instance whose
dialogs survive a restart without Redis, and Redis in webhook mode, where several instances
may share the dialogs.
"""

from __future__ import annotations

import hmac
import json
import logging
from contextlib import suppress
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import ErrorEvent, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.answers import AnswersMiddleware
from bot.config import DEFAULT_CALLBACK_SECRET, TelegramSettings
from bot.identity import Linked
from bot.inbox import provider_id
from bot.routers import buttons, linking, replies, supervisor
from bot.routers import settings as preferences
from bot.routers.new_matter import Register
from bot.routers.supervisor import Correct
from bot.storage import DatabaseStorage
from bot.texts import say
from dispatch.channel import InboundSink
from models import InboundMessage, Matter, Person
from scheduler.clock import Clock
from workflow.context import Context
from workflow.errors import Refused
from workflow.records import Actor
from workflow.service import MatterDraft, correct_grade, register_matter

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DIALOG_TTL = timedelta(days=1)  # an abandoned dialog is forgotten


def make_bot(tg: TelegramSettings) -> Bot:
    if not tg.token:
        raise ValueError("telegram.token is not set")
    api = TelegramAPIServer.from_base(tg.api_base) if tg.api_base else PRODUCTION
    return Bot(tg.token, session=AiohttpSession(api=api))


class BotSettings(Protocol):
    """What the bot takes from the service's settings (`service.config.Settings`)."""

    telegram: TelegramSettings

    def context(self, clock: Clock | None = None) -> Context: ...


def build_dispatcher(sink: InboundSink, clock: Clock, settings: BotSettings, *,
                     register: Register | None = None,
                     storage: BaseStorage | None = None) -> Dispatcher:
    """`register` registers a /new matter; the service passes `service_register(its ctx)`.
    Without it, the workflow service runs with a context built from `settings`."""
    tg = settings.telegram
    if tg.callback_secret == DEFAULT_CALLBACK_SECRET:
        log.warning("telegram.callback_secret is the default: button data can be forged")
    storage = storage or make_storage(tg, clock)
    context = settings.context(clock)
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation_for(storage),  # one update per person at a time
        sink=sink,
        clock=clock,
        tz=context.tz,
        callback_secret=tg.callback_secret,
        # /settings tells people (issue 9)
        fallback_hours=context.sms_fallback_after / timedelta(hours=1),
        register=register or service_register(context),
        correct=service_correct(context),
    )
    dispatcher.update.outer_middleware(AnswersMiddleware())  # after the chat is known
    dispatcher.include_routers(linking.router(), linked(), linking.fallback())
    dispatcher.errors.register(report_failure)
    return dispatcher


def linked() -> Router:
    """Everything a linked person may do; the filter hands each handler its `person`."""
    r = Router(name="linked")
    r.message.filter(Linked())
    r.callback_query.filter(Linked())
    r.include_routers(supervisor.router(), preferences.router(), buttons.router(),
                      replies.router())
    return r


def service_register(context: Context) -> Register:
    """/new registers through the workflow service, as the person, on this channel."""

    async def register(draft: MatterDraft, person: Person) -> Matter:
        return await register_matter(context, draft, Actor(person, "telegram"))

    return register


def service_correct(context: Context) -> Correct:
    """/regrade corrects a grade through the workflow service, as the person."""

    async def correct(code: str, grade: str, reason: str, person: Person) -> str:
        matter = await Matter.get_or_none(code=code)
        if matter is None:
            raise Refused("unknown_code", code=code)
        return await correct_grade(context, matter, person, "telegram", grade, reason)

    return correct


def make_storage(tg: TelegramSettings, clock: Clock) -> BaseStorage:
    kind = tg.fsm_storage
    if "fsm_storage" not in tg.model_fields_set:  # not chosen: follow the mode
        kind = "redis" if tg.mode == "webhook" else "memory"
    if kind == "memory":
        return MemoryStorage()
    if kind == "redis":
        return RedisStorage.from_url(
            tg.redis_url,
            key_builder=DefaultKeyBuilder(prefix="duban:fsm", with_bot_id=True),
            state_ttl=DIALOG_TTL,
            data_ttl=DIALOG_TTL,
        )
    return DatabaseStorage(clock, DIALOG_TTL)  # "database", the only other value allowed


def isolation_for(storage: BaseStorage) -> BaseEventIsolation:
    if isinstance(storage, RedisStorage):
        return storage.create_isolation()  # a lock every instance sees
    return SimpleEventIsolation()


async def report_failure(event: ErrorEvent, bot: Bot) -> None:
    """Polling has already confirmed the update, so the person is asked to send it again —
    only if the inbox never got it: once it did, the inbox answers (its own error answer
    included), and "please resend" would make a recorded report twice."""
    log.error("telegram update %s failed", event.update.update_id, exc_info=event.exception)
    chat_id = _chat_of(event.update)
    if chat_id is None or await InboundMessage.exists(
            channel="telegram", provider_message_id=provider_id(event.update)):
        return
    with suppress(TelegramAPIError):
        await bot.send_message(chat_id, say("dialog", "error"))


def _chat_of(update: Update) -> int | None:
    if update.message:
        return update.message.chat.id
    if update.callback_query:
        return update.callback_query.from_user.id
    return None


async def run_polling(bot: Bot, dispatcher: Dispatcher, *, polling_timeout: int = 30,
                      handle_signals: bool = False) -> None:
    """Long polling, for a single instance (Telegram serves one getUpdates caller).

    Returns after `dispatcher.stop_polling()`; the bot's session stays open for the channel.
    """
    await bot.delete_webhook(drop_pending_updates=False)
    await dispatcher.start_polling(bot, polling_timeout=polling_timeout,
                                   handle_signals=handle_signals, close_bot_session=False)


class SecretCheckedHandler(SimpleRequestHandler):
    """Webhook requests must carry the secret given to setWebhook; anything else is 403."""

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, (self.secret_token or "").encode()):
            log.warning("refused webhook request from %s: bad secret token", request.remote)
            raise web.HTTPForbidden()
        return await super().handle(request)

    async def close(self) -> None:
        """The bot's session belongs to the composition root, not to the web app."""

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        """A body that is not a Telegram Update gets 400 before any handler sees it."""
        try:
            update = Update.model_validate(json.loads(await request.read()),
                                           context={"bot": bot})
        except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or not an Update
            raise web.HTTPBadRequest(text="the body is not a Telegram Update") from exc
        result = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


def setup_webhook(app: web.Application, dispatcher: Dispatcher, bot: Bot,
                  tg: TelegramSettings) -> None:
    """Serve updates at the path of `webhook_url` and register it with Telegram at start-up."""
    if not tg.webhook_url or not tg.webhook_secret:
        raise ValueError("webhook mode needs telegram.webhook_url and telegram.webhook_secret")
    handler = SecretCheckedHandler(dispatcher, bot, secret_token=tg.webhook_secret,
                                   handle_in_background=False)
    handler.register(app, path=urlsplit(tg.webhook_url).path or "/")
    setup_application(app, dispatcher, bot=bot)

    async def announce(_: web.Application) -> None:
        await bot.set_webhook(tg.webhook_url, secret_token=tg.webhook_secret,
                              allowed_updates=dispatcher.resolve_used_update_types(),
                              drop_pending_updates=False)

    app.on_startup.append(announce)
