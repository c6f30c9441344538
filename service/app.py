"""The composition root of `duban serve`: database, channels, clock ticks, HTTP server."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import ValidationError

from dispatch.channel import Channel, InboundSink
from dispatch.dispatcher import Dispatcher
from dispatch.render import Renderer
from models import Matter, MessageStatus, OutboundMessage
from scheduler.clock import Clock, SystemClock
from service.config import ConfigError, Settings
from service.db import close_database, open_database
from sms_gateway.dev import DevChannel, dev_sms_routes
from sms_gateway.ratelimit import Limit, RateLimiter
from workflow.chase import run_clock
from workflow.context import Context
from workflow.states import OPEN

log = logging.getLogger("duban")


@dataclass
class Service:
    """Everything one running instance holds."""

    settings: Settings
    ctx: Context
    sink: InboundSink
    channels: dict[str, Channel]
    dispatcher: Dispatcher
    routes: list[web.RouteDef] = field(default_factory=list)
    bot: Any = None  # aiogram Bot, when telegram.token is set
    bot_dispatcher: Any = None  # aiogram Dispatcher of the bot's routers

    async def tick(self) -> None:
        """One poll: the clock catches up, then due messages go out."""
        try:
            await run_clock(self.ctx)
            await self.dispatcher.run_once()
        except Exception:  # a bad tick must not stop the next one
            log.exception("tick failed")


def build_service(settings: Settings, clock: Clock | None = None) -> Service:
    from replies.inbound import Inbox

    clock = clock or SystemClock()
    # Alibaba prepends the registered sign_name itself; everyone else gets ours, once.
    signature = "" if settings.sms.provider == "aliyun" else settings.sms.signature
    ctx = Context(clock=clock, policy=settings.policy(), sms_signature=signature)
    sink = Inbox(ctx)
    renderer = Renderer(signature)
    channels: dict[str, Channel] = {}
    routes: list[web.RouteDef] = []
    channels["sms"] = sms_channel(settings, sink, clock, routes, renderer)
    bot = bot_dispatcher = buttons_for = None
    if settings.telegram.token:
        from bot.app import build_dispatcher, make_bot, service_register
        from bot.callbacks import row_buttons
        from bot.channel import TelegramChannel

        bot = make_bot(settings.telegram)
        bot_dispatcher = build_dispatcher(sink, clock, settings, register=service_register(ctx))
        channels["telegram"] = TelegramChannel(bot)
        buttons_for = row_buttons(settings.telegram.callback_secret)
    else:
        channels["telegram"] = DevChannel("telegram", clock)
    limits = {"sms": sms_limiter(settings)}
    if settings.wecom is not None:
        from wecom.compose import wecom_channel

        channels["wecom"], limits["wecom"] = wecom_channel(settings.wecom, sink, routes)
    dispatcher = Dispatcher(channels, renderer, clock, worker=settings.instance,
                            lease=timedelta(seconds=settings.claim_seconds),
                            buttons_for=buttons_for, limits=limits)
    return Service(settings, ctx, sink, channels, dispatcher, routes, bot, bot_dispatcher)


def sms_channel(settings: Settings, sink: InboundSink, clock: Clock,
                routes: list[web.RouteDef], renderer: Renderer) -> Channel:
    """The configured SMS adapter; the development channel when none is."""
    provider = settings.sms.provider
    section: dict[str, Any] = dict(settings.sms.model_extra or {}).get(provider, {})
    try:
        if provider == "smpp":
            from sms_gateway.smpp import SmppChannel, SmppSettings

            return SmppChannel(SmppSettings(**section | {"signature": settings.sms.signature}),
                               sink)
        if provider == "cmpp":
            from replies.short_numbers import extension_for
            from sms_gateway.cmpp import CmppChannel, CmppSettings

            return CmppChannel(CmppSettings(**section | {"signature": settings.sms.signature}),
                               sink, extension_for=extension_for(clock))
        if provider == "aliyun":
            from sms_gateway.aliyun import AliyunChannel, AliyunSettings

            channel = AliyunChannel(AliyunSettings(**section), sink)
            routes += channel.routes()
            return channel
        if provider == "twilio":
            from sms_gateway.twilio import TwilioChannel, TwilioSettings

            channel = TwilioChannel(TwilioSettings(**section), sink)
            routes += channel.routes()
            return channel
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(["sms", provider, *(str(p) for p in first["loc"])])
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from exc
    routes += dev_sms_routes(sink, renderer)
    return DevChannel("sms", clock)


def sms_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(per_number=[Limit(settings.sms.per_number_per_minute, 60.0)],
                       global_limits=[Limit(settings.sms.per_second, 1.0)])


def build_app(service: Service) -> web.Application:
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        unknown = await OutboundMessage.filter(status=MessageStatus.UNKNOWN).count()
        pending = await OutboundMessage.filter(status=MessageStatus.PENDING).count()
        return web.json_response({
            "status": "ok", "instance": service.settings.instance, "pending": pending,
            "unknown_outcome": unknown,
            "channels": {n: c.health() for n, c in service.channels.items()}})

    app.add_routes([web.get("/healthz", healthz), *service.routes])
    if service.bot and service.settings.telegram.mode == "webhook":
        from bot.app import setup_webhook

        setup_webhook(app, service.bot_dispatcher, service.bot, service.settings.telegram)
    return app


async def serve(settings: Settings) -> None:
    service = build_service(settings)  # a bad channel setting stops us before the database
    await open_database(settings.database_url)
    await forget_next_actions()
    for channel in service.channels.values():
        await channel.start()
    scheduler = AsyncIOScheduler()
    # The first tick runs at once; max_instances=1 keeps ticks of one instance from overlapping.
    scheduler.add_job(service.tick, "interval", seconds=settings.poll_seconds, max_instances=1,
                      coalesce=True, next_run_time=datetime.now(UTC))
    scheduler.start()
    runner = web.AppRunner(build_app(service))
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    log.info("duban serving on http://%s:%s (sms: %s)", settings.host, settings.port,
             settings.sms.provider)
    polling = start_polling(service)
    try:
        await until_stopped()
    finally:
        scheduler.shutdown(wait=False)
        if polling:
            await service.bot_dispatcher.stop_polling()
            await polling
        await runner.cleanup()
        for channel in service.channels.values():
            await channel.stop()
        if service.bot:
            await service.bot.session.close()
        await close_database()


async def forget_next_actions() -> None:
    """The policy may have changed since the last run: every matter's clock looks again."""
    await Matter.filter(state__in=list(OPEN)).update(next_action_at=None)


def start_polling(service: Service) -> asyncio.Task | None:
    """Long polling for a single instance; webhook mode is served by the app instead."""
    if not service.bot or service.settings.telegram.mode != "polling":
        return None
    from bot.app import run_polling

    return asyncio.create_task(run_polling(service.bot, service.bot_dispatcher))


async def until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
