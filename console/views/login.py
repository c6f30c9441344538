"""登录: phone + one-time SMS code (or password), logout."""

from __future__ import annotations

import secrets

from aiohttp import web

from console.auth import (
    LoginRefused,
    end_session,
    open_session,
    send_code,
    sign_in_with_code,
    sign_in_with_password,
)
from console.web import (
    CSRF,
    PRE_CSRF_COOKIE,
    SERVICE,
    SESSION,
    SESSION_COOKIE,
    check_csrf,
    page,
    set_cookie,
)

routes = web.RouteTableDef()


def login_page(request: web.Request, status: int = 200, **context) -> web.Response:
    """The login form with a fresh double-submit CSRF token when the browser has none."""
    token = request.get(CSRF) or request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(32)
    request[CSRF] = token
    response = page(request, "login.j2", status=status, **({"phone": "", "notice": "",
                                                              "error": ""} | context))
    set_cookie(request, response, PRE_CSRF_COOKIE, token)
    return response


@routes.get("/login")
async def show(request: web.Request) -> web.Response:
    return login_page(request)


@routes.post("/login/code")
async def request_code(request: web.Request) -> web.Response:
    form = await check_csrf(request)
    phone = str(form.get("phone", ""))
    try:
        ctx = request.app[SERVICE].ctx
        await send_code(phone, ctx.clock.now(), ctx.tz)
    except LoginRefused as exc:
        return login_page(request, 400, phone=phone, error=exc.code)
    return login_page(request, phone=phone, notice="code_sent")


@routes.post("/login")
async def sign_in(request: web.Request) -> web.Response:
    form = await check_csrf(request)
    service = request.app[SERVICE]
    now = service.ctx.clock.now()
    phone, code = str(form.get("phone", "")), str(form.get("code", ""))
    password = str(form.get("password", ""))
    try:
        if password:
            person = await sign_in_with_password(phone, password, now)
        else:
            person = await sign_in_with_code(phone, code, now)
    except LoginRefused as exc:
        return login_page(request, 403 if exc.code == "locked" else 400, phone=phone,
                          error=exc.code)
    new = await open_session(person, now, service.settings.console.session_hours)
    response = web.HTTPFound("/")
    set_cookie(request, response, SESSION_COOKIE, new.token,
               max_age=int(service.settings.console.session_hours * 3600))
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await check_csrf(request)
    if SESSION in request:
        await end_session(request[SESSION], request.app[SERVICE].ctx.clock.now())
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
