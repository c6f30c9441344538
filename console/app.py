"""The console's aiohttp application: middlewares, static files and every page's routes.
It is served on its own port (settings `console.host`, `console.port`) beside the webhooks."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from console import api
from console.auth import current_session
from console.views import (
    answer,
    calendar,
    decide,
    detail,
    login,
    matters,
    org,
    overview,
    preference,
    register,
    scores,
)
from console.web import CSRF, SERVICE, SESSION, SESSION_COOKIE, VIEWER, Handler, security_headers
from service.app import bind
from service.config import ConfigError

log = logging.getLogger("duban.console")
STATIC = Path(__file__).parent / "static"


@web.middleware
async def session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the signed-in viewer, if any, for every page."""
    if not request.path.startswith(("/static/", "/api/")):
        now = request.app[SERVICE].ctx.clock.now()
        row = await current_session(request.cookies.get(SESSION_COOKIE), now)
        if row is not None:
            request[SESSION], request[VIEWER], request[CSRF] = row, row.person, row.csrf
    return await handler(request)


def build_console_app(service) -> web.Application:
    app = web.Application(middlewares=[security_headers, session], client_max_size=8 * 2**20)
    app[SERVICE] = service
    app.router.add_static("/static/", STATIC)
    for module in (login, overview, matters, detail, register, answer, decide, scores, org,
                   preference, calendar):
        app.add_routes(module.routes)
    app.add_routes(api.routes)
    return app


async def start_console(service) -> web.AppRunner | None:
    """Serve the console on its own port; None when it is switched off."""
    settings = service.settings.console
    if not settings.enabled:
        return None
    runner = web.AppRunner(build_console_app(service))
    await runner.setup()
    try:
        await bind(runner, settings.host, settings.port)
    except ConfigError:
        await runner.cleanup()
        raise
    log.info("console (督办平台) on http://%s:%s/", settings.host, settings.port)
    return runner
