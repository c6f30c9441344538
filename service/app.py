"""The composition root of `duban serve`: database, channels, clock ticks, HTTP server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import ValidationError

from dispatch import metrics
from dispatch.channel import Channel, InboundSink
from dispatch.dispatcher import Dispatcher, Limiter
from dispatch.loop import DispatchLoop
from dispatch.ratelimit import Limit, RateLimiter
from dispatch.render import Renderer
from dispatch.shared_limits import SharedRateLimiter
from scheduler.clock import Clock
from service.config import ConfigError, Settings, check_serving
from service.db import close_database, open_database, pool_room_warning
from service.health import health
from sms_gateway.dev import DevChannel, dev_sms_routes
from sms_gateway.text import count_segments
from sms_gateway.webhooks import RedactingAccessLogger
from workflow.chase import run_clock
from workflow.context import Context
from workflow.holidays import calendar_warning
from workflow.upkeep import on_start

log = logging.getLogger("duban")

HTTP_CONCURRENCY = 8  # requests in flight at once to an HTTP provider or the Bot API


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
    replies: Any = None  # the ReplyWorker that processes what the sink stored (or none)

    async def tick(self) -> None:
        """One poll of the clock; messages go out from the dispatcher loop, not from here."""
        started = time.perf_counter()
        try:
            await run_clock(self.ctx)
        except Exception:  # a bad tick must not stop the next one
            log.exception("tick failed")
        metrics.TICK_SECONDS.observe(time.perf_counter() - started)


def build_service(settings: Settings, clock: Clock | None = None) -> Service:
    from replies.inbound import Inbox
    from replies.worker import ReplyWorker

    check_serving(settings)
    ctx = settings.context(clock)
    clock = ctx.clock
    sink = Inbox(ctx, later=True)  # webhooks answer once the raw row is stored
    renderer = Renderer(ctx.sms_signature)
    channels: dict[str, Channel] = {}
    routes: list[web.RouteDef] = []
    if sms := sms_channel(settings, sink, ctx, routes, renderer):
        channels["sms"] = sms
    bot = bot_dispatcher = buttons_for = None
    if settings.telegram.token:
        from bot.app import build_dispatcher, make_bot, service_register
        from bot.callbacks import row_buttons
        from bot.channel import TelegramChannel

        bot = make_bot(settings.telegram)
        bot_dispatcher = build_dispatcher(sink, clock, settings, register=service_register(ctx))
        channels["telegram"] = with_concurrency(TelegramChannel(bot), HTTP_CONCURRENCY)
        buttons_for = row_buttons(settings.telegram.callback_secret)
    elif settings.development:
        channels["telegram"] = DevChannel("telegram", clock)
    limits = limiters(settings)
    if settings.wecom is not None:
        from wecom.compose import wecom_channel

        channels["wecom"], limits["wecom"] = wecom_channel(settings.wecom, sink, routes)
    dispatcher = Dispatcher(channels, renderer, clock, worker=settings.instance,
                            lease=timedelta(seconds=settings.claim_seconds),
                            buttons_for=buttons_for, limits=limits)
    return Service(settings, ctx, sink, channels, dispatcher, routes, bot, bot_dispatcher,
                   ReplyWorker(sink, parallel=settings.reply_workers,
                               poll_seconds=settings.poll_seconds,
                               database_url=settings.database_url)
                   if settings.reply_workers else None)


def serving_line(settings: Settings) -> str:
    """What `serve` logs once it listens; in development mode also where /dev/sms is, since
    that page is where a developer reads every SMS (and the console's login code)."""
    base = f"http://{settings.host}:{settings.port}"
    mode = f", development mode: every SMS on {base}/dev/sms" if settings.development else ""
    return f"duban serving on {base} (sms: {settings.sms_provider}{mode})"


def sms_channel(settings: Settings, sink: InboundSink, ctx: Context,
                routes: list[web.RouteDef], renderer: Renderer) -> Channel | None:
    """The configured SMS adapter: the development one (and /dev/sms) only in development
    mode (`check_serving`), none with provider "none"."""
    provider = settings.sms_provider
    if provider == "none":
        return None
    section: dict[str, Any] = dict(settings.sms.model_extra or {}).get(provider, {})
    try:
        if provider == "smpp":
            from sms_gateway.smpp import SmppChannel, SmppSettings

            # window x binds: the channel states its own concurrency
            return SmppChannel(SmppSettings(**section | {"signature": settings.sms.signature}),
                               sink)
        if provider == "cmpp":
            from replies.short_numbers import extension_for
            from sms_gateway.cmpp import CmppChannel, CmppSettings

            return CmppChannel(CmppSettings(**section | {"signature": settings.sms.signature}),
                               sink, extension_for=extension_for(ctx.clock))
        if provider == "aliyun":
            from sms_gateway.aliyun import AliyunChannel, AliyunSettings

            channel = with_concurrency(AliyunChannel(AliyunSettings(**section), sink),
                                       HTTP_CONCURRENCY)
            routes += channel.routes()
            return channel
        if provider == "twilio":
            from sms_gateway.twilio import TwilioChannel, TwilioSettings

            channel = with_concurrency(TwilioChannel(TwilioSettings(**section), sink),
                                       HTTP_CONCURRENCY)
            routes += channel.routes()
            return channel
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(["sms", provider, *(str(p) for p in first["loc"])])
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from exc
    routes += dev_sms_routes(sink, renderer, ctx.tz)
    return DevChannel("sms", ctx.clock)


def with_concurrency(channel: Any, default: int) -> Any:
    """Sends in flight at once on a channel that does not state it itself: SMPP its window,
    HTTP providers and the Bot API a bounded pool (the rate limits still apply)."""
    if not hasattr(channel, "concurrency"):
        channel.concurrency = default
    return channel


def limiters(settings: Settings) -> dict[str, Limiter]:
    """SMS: the carrier's limits, a long SMS costing one token per segment as carriers count
    them. Telegram: the Bot API's, 30 messages a second overall and one a second per chat.
    Shared by all instances through Redis when `rate_limit_redis_url` is set."""
    shapes: dict[str, tuple[list[Limit], list[Limit], Callable[[str], int]]] = {
        "sms": ([Limit(settings.sms.per_number_per_minute, 60.0)],
                [Limit(settings.sms.per_second, 1.0)], count_segments),
        "telegram": ([Limit(1, 1.0)], [Limit(30, 1.0)], lambda text: 1),
    }
    if not settings.rate_limit_redis_url:
        return {name: RateLimiter(per, overall, cost)
                for name, (per, overall, cost) in shapes.items()}
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.rate_limit_redis_url)
    return {name: SharedRateLimiter(redis, f"duban:limit:{name}", per, overall, cost)
            for name, (per, overall, cost) in shapes.items()}


def build_app(service: Service) -> web.Application:
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return await health(service.ctx.clock, service.settings.instance, service.channels,
                            calendar=await calendar_warning(service.ctx))

    async def prometheus(request: web.Request) -> web.Response:
        await metrics.refresh(service.ctx.clock.now(), service.channels)
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", prometheus),
                    *service.routes])
    if service.bot and service.settings.telegram.mode == "webhook":
        from bot.app import setup_webhook

        setup_webhook(app, service.bot_dispatcher, service.bot, service.settings.telegram)
    return app


async def serve(settings: Settings) -> None:
    service = build_service(settings)  # a bad channel setting stops us before the database
    await open_database(settings.database_url)
    if crowded := await pool_room_warning():
        log.warning("%s", crowded)
    runner, console = await listen(service)
    await on_start(service.ctx)  # not a replan: a restart must not hold up sending
    for channel in service.channels.values():
        await channel.start()
    scheduler = AsyncIOScheduler()
    # The first tick runs at once; max_instances=1 keeps ticks of one instance from overlapping.
    scheduler.add_job(service.tick, "interval", seconds=settings.poll_seconds, max_instances=1,
                      coalesce=True, next_run_time=datetime.now(UTC))
    scheduler.start()
    sending = asyncio.create_task(DispatchLoop(
        service.dispatcher, poll_seconds=settings.poll_seconds,
        database_url=settings.database_url).run())
    replying = asyncio.create_task(service.replies.run() if service.replies
                                   else asyncio.Event().wait())  # a store-only instance
    log.info("%s", serving_line(settings))
    polling = start_polling(service)
    try:
        await until_stopped()
    finally:
        scheduler.shutdown(wait=False)
        sending.cancel()
        replying.cancel()
        await asyncio.gather(sending, replying, return_exceptions=True)
        if polling:
            await service.bot_dispatcher.stop_polling()
            await polling
        await runner.cleanup()
        if console:
            await console.cleanup()
        for channel in service.channels.values():
            await channel.stop()
        if service.bot:
            await service.bot.session.close()
        await close_database()


async def listen(service: Service) -> tuple[web.AppRunner, web.AppRunner | None]:
    """Bind the ports (the service's, then the console's) before anything else starts, so a
    busy port ends the start-up cleanly."""
    from console.app import start_console

    runner = web.AppRunner(build_app(service), access_log_class=RedactingAccessLogger)
    await runner.setup()
    try:
        await bind(runner, service.settings.host, service.settings.port)
        console = await start_console(service)
    except ConfigError:
        await runner.cleanup()
        await close_database()
        if service.bot:
            await service.bot.session.close()
        raise
    return runner, console


async def bind(runner: web.AppRunner, host: str, port: int) -> None:
    """Serve `runner` on host:port; a busy or forbidden port is one line (`ConfigError`)."""
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from None


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
