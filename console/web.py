"""What every console page shares: the template environment (autoescape on), security
headers, the viewer's session, CSRF checks and the permission guard."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import cache
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context as TemplateContext

from bot.texts import labels
from models import Matter, Person
from scheduler.clock import SHANGHAI
from workflow.permissions import Action, may, visible_matters

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "duban_session"
PRE_CSRF_COOKIE = "duban_csrf"  # double-submit token of the forms shown before sign-in
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SERVICE = web.AppKey("service", Any)
VIEWER = web.RequestKey("viewer", Person)
CSRF = web.RequestKey("csrf", str)
SESSION = web.RequestKey("session", Any)


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("templates", "console"), undefined=StrictUndefined,
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["local"] = local_time
    env.globals["label"] = lambda group, key: labels(group).get(key, key)
    env.globals["labels"] = labels  # a whole group, looked up once for a long list
    return env


@pass_context
def local_time(context: TemplateContext, instant: datetime | None,
               fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant as the service's `timezone` shows it (`page` puts it in every context)."""
    return instant.astimezone(context.get("tz", SHANGHAI)).strftime(fmt) if instant else ""


def page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    service = request.app[SERVICE]
    settings = service.settings
    development = settings.development
    html = environment().get_template(template).render(
        viewer=request.get(VIEWER), csrf=request.get(CSRF, ""), development=development,
        path=request.path, tz=service.ctx.tz, **context)
    return web.Response(text=html, content_type="text/html", status=status)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every response, refusals included; Server-Timing for the bench."""
    started = time.perf_counter(), time.thread_time()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        stamp(exc, started)
        raise
    stamp(response, started)
    return response


def stamp(response: web.StreamResponse, started: tuple[float, float]) -> None:
    """`app`: wall time; `cpu`: this thread's CPU time in the handler, the Python work alone
    (on a shared machine the wall time also counts waiting for a core and for the database)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    wall, cpu = time.perf_counter() - started[0], time.thread_time() - started[1]
    response.headers["Server-Timing"] = f"app;dur={wall * 1000:.1f}, cpu;dur={cpu * 1000:.1f}"


def is_https(request: web.Request) -> bool:
    """Secure cookies over HTTPS, also behind a reverse proxy the settings trust."""
    if request.secure:
        return True
    settings = request.app[SERVICE].settings
    proto = request.headers.get("X-Forwarded-Proto", "")
    return settings.console.trust_proxy and proto.split(",")[0].strip() == "https"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Lax",
                        secure=is_https(request))


async def check_csrf(request: web.Request) -> dict[str, Any]:
    """The posted form, after its CSRF token matched the session's (or, before sign-in,
    the double-submit cookie's). A mismatch changes nothing: 403."""
    form = dict(await request.post())
    expected = request.get(CSRF) or request.cookies.get(PRE_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
        raise web.HTTPForbidden(text="CSRF token missing or wrong / 表单已失效，请刷新后重试")
    return form


def viewer(request: web.Request) -> Person:
    person = request.get(VIEWER)
    if person is None:
        raise web.HTTPFound("/login")
    return person


async def require(request: web.Request, action: Action, matter: Matter | None = None,
                  board: str | None = None) -> Person:
    """The viewer, if the one permission function lets them do `action`; else 403."""
    person = viewer(request)
    verdict = await may(person, action, matter, board)
    if not verdict.ok:
        raise forbidden(request, verdict.reason)
    return person


def forbidden(request: web.Request, reason: str) -> web.HTTPForbidden:
    html = environment().get_template("forbidden.j2").render(
        viewer=request.get(VIEWER), csrf=request.get(CSRF, ""), development=False,
        path=request.path, reason=reason)
    return web.HTTPForbidden(text=html, content_type="text/html")


async def visible_matter(request: web.Request, code: str) -> tuple[Person, Matter]:
    """The matter the viewer may see, or 403 — the same answer whether it does not exist or
    belongs to another unit, so neither its title nor its existence leaks."""
    person = viewer(request)
    matter = await Matter.filter(await visible_matters(person), code=code.upper()).select_related(
        "initiator", "lead").first()
    if matter is None:
        raise forbidden(request, "not_your_unit")
    return person, matter
