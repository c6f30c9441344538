"""组织 (administrators): units, people, posts and channels; org import by upload with the
rejected rows shown; API tokens; ending a person's sessions. 账户: one's own password."""

from __future__ import annotations

import secrets

from aiohttp import web

from console.auth import LoginRefused, digest, end_all_sessions, set_password
from console.uploads import saved_upload
from console.web import SERVICE, check_csrf, page, require, viewer
from models import ApiToken, BoardInitiator, Person, Unit
from service.org_import import import_file
from workflow.delivery import PREFERENCE_NAMES
from workflow.permissions import Action

routes = web.RouteTableDef()


async def org_page(request: web.Request, status: int = 200, **context) -> web.Response:
    units = await Unit.all().order_by("name").prefetch_related("people")
    boards = await BoardInitiator.all().prefetch_related("initiator")
    tokens = await ApiToken.filter(revoked_at=None).prefetch_related("person").order_by("id")
    return page(request, "org.j2", status=status, units=units, boards=boards, tokens=tokens,
                preferences=PREFERENCE_NAMES, **({"report": None, "new_token": "", "notice": ""} | context))


@routes.get("/org")
async def org(request: web.Request) -> web.Response:
    await require(request, Action.ADMIN)
    return await org_page(request, notice=request.query.get("notice", ""))


@routes.post("/org/import")
async def upload(request: web.Request) -> web.Response:
    await require(request, Action.ADMIN)
    with saved_upload(await check_csrf(request), (".csv", ".xlsx")) as path:
        if path is None:
            return await org_page(request, 400, notice="bad_file")
        report = await import_file(path)
    return await org_page(request, 400 if report.rejected else 200, report=report)


@routes.post("/org/tokens")
async def issue_token(request: web.Request) -> web.Response:
    """A new API token acting as the administrator; shown once, stored hashed."""
    admin = await require(request, Action.ADMIN)
    form = await check_csrf(request)
    token = "dbn_" + secrets.token_urlsafe(32)
    await ApiToken.create(name=str(form.get("name", "")).strip()[:64] or "api",
                          token_hash=digest(token), person=admin,
                          created_at=request.app[SERVICE].ctx.clock.now())
    return await org_page(request, new_token=token)


@routes.post("/org/tokens/{id:\\d+}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    await require(request, Action.ADMIN)
    await check_csrf(request)
    await ApiToken.filter(id=int(request.match_info["id"])).update(
        revoked_at=request.app[SERVICE].ctx.clock.now())
    raise web.HTTPFound("/org?notice=revoked")


@routes.post("/org/people/{id:\\d+}/sessions/end")
async def end_sessions(request: web.Request) -> web.Response:
    admin = await require(request, Action.ADMIN)
    await check_csrf(request)
    person = await Person.get_or_none(id=int(request.match_info["id"]))
    if person is not None:
        await end_all_sessions(person, admin, request.app[SERVICE].ctx.clock.now())
    raise web.HTTPFound("/org?notice=sessions_ended")


@routes.get("/account")
async def account(request: web.Request) -> web.Response:
    viewer(request)
    return page(request, "account.j2", notice=request.query.get("notice", ""), error="",
                preferences=PREFERENCE_NAMES)


@routes.post("/account/password")
async def password(request: web.Request) -> web.Response:
    person = viewer(request)
    form = await check_csrf(request)
    try:
        await set_password(person, str(form.get("password", "")))
    except LoginRefused as exc:
        return page(request, "account.j2", status=400, notice="", error=exc.code,
                    preferences=PREFERENCE_NAMES)
    raise web.HTTPFound("/account?notice=password_set")
