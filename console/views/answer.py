"""A unit contact answers their own matter on the console: acknowledge, progress, extension,
completion. Same workflow service as an SMS reply, channel `web`."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from aiohttp import web

from console.web import SERVICE, check_csrf, require, visible_matter
from workflow import service as workflow
from workflow.errors import Refused
from workflow.feedback import file_feedback
from workflow.permissions import Action

routes = web.RouteTableDef()
CHANNEL = "web"


def back(code: str, **query: str) -> web.HTTPFound:
    args = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return web.HTTPFound(f"/matters/{quote(code)}?{args}#actions")


@routes.post("/matters/{code}/answer")
async def answer(request: web.Request) -> web.Response:
    form = await check_csrf(request)
    _, matter = await visible_matter(request, request.match_info["code"])
    person = await require(request, Action.ANSWER, matter)
    ctx = request.app[SERVICE].ctx
    what, text = str(form.get("what", "")), str(form.get("text", "")).strip()
    try:
        if what == "ack":
            await file_feedback(ctx, matter, person, CHANNEL, text or "收到",
                                         ack_only=True)
        elif not text:
            raise Refused("text_missing")
        elif what == "progress":
            await file_feedback(ctx, matter, person, CHANNEL, text, ack_only=False)
        elif what == "extension":
            await workflow.request_extension(ctx, matter, person, CHANNEL,
                                             parse_date(form.get("new_deadline")), text)
        elif what == "completion":
            await workflow.request_completion(ctx, matter, person, CHANNEL, text)
        else:
            raise Refused("unknown_action")
    except Refused as exc:
        raise back(matter.code, refused=exc.code) from None
    raise back(matter.code, notice=what)


def parse_date(value: object) -> date:
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        raise Refused("bad_date") from None
