"""总览: per board open / due today / overdue, the lights of the viewer's open matters, and
messages of unknown outcome waiting for a person's decision (administrators)."""

from __future__ import annotations

from aiohttp import web

from console.outcomes import mark_delivered, send_again, unknown_messages
from console.queries import board_lines, lights
from console.web import SERVICE, check_csrf, page, require, viewer
from models import Matter
from workflow.errors import Refused
from workflow.permissions import Action, may, visible_matters
from workflow.states import OPEN

routes = web.RouteTableDef()
OVERVIEW_MATTERS = 200


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    person = viewer(request)
    ctx = request.app[SERVICE].ctx
    now = ctx.clock.now()
    open_matters = await Matter.filter(await visible_matters(person), state__in=list(OPEN)
                                       ).order_by("-id").limit(OVERVIEW_MATTERS)
    admin = (await may(person, Action.ADMIN)).ok
    return page(request, "overview.j2", lines=await board_lines(person, now, ctx.tz),
                matters=open_matters, lights=await lights(open_matters, now),
                unknown=await unknown_messages() if admin else [],
                notice=request.query.get("notice", ""))


@routes.post("/messages/{id:\\d+}/{decision:delivered|again}")
async def decide_unknown(request: web.Request) -> web.Response:
    await check_csrf(request)
    person = await require(request, Action.ADMIN)
    now = request.app[SERVICE].ctx.clock.now()
    message_id = int(request.match_info["id"])
    try:
        if request.match_info["decision"] == "delivered":
            await mark_delivered(message_id, person, now)
        else:
            await send_again(message_id, person, now)
    except Refused:
        raise web.HTTPFound("/?notice=not_unknown") from None
    raise web.HTTPFound("/?notice=done")
