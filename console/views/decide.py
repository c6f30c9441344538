"""The supervisor decides on the console: approve (or review), return with a reason, grade
(R16, R29, R30) — through the workflow service, channel `web`; and 待办, the applications
waiting for this viewer's decision."""

from __future__ import annotations

from aiohttp import web
from tortoise.expressions import Subquery

from console.views.answer import CHANNEL, back
from console.web import SERVICE, check_csrf, page, require, viewer, visible_matter
from models import Application, ApplicationStatus, Matter
from workflow import service as workflow
from workflow.errors import Refused
from workflow.permissions import Action, may, visible_matters

routes = web.RouteTableDef()


@routes.post("/matters/{code}/decide")
async def decide(request: web.Request) -> web.Response:
    form = await check_csrf(request)
    _, matter = await visible_matter(request, request.match_info["code"])
    ctx = request.app[SERVICE].ctx
    what = str(form.get("what", ""))
    try:
        if what == "approve":  # R30: a review or the final decision, as the board's chain says
            person = await require(request, Action.REVIEW, matter)
            outcome = await workflow.approve(ctx, matter, person, CHANNEL)
        elif what == "return":
            person = await require(request, Action.RETURN, matter)
            reason = str(form.get("reason", "")).strip()
            if not reason:
                raise Refused("reason_missing")
            outcome = await workflow.return_matter(ctx, matter, person, CHANNEL, reason)
        elif what == "grade":
            person = await require(request, Action.GRADE, matter)
            await workflow.grade(ctx, matter, person, CHANNEL, str(form.get("grade", "")))
            outcome = "graded"
        else:
            raise Refused("unknown_action")
    except Refused as exc:
        raise back(matter.code, refused=exc.code) from None
    raise back(matter.code, notice=outcome)


@routes.get("/queue")
async def queue(request: web.Request) -> web.Response:
    """待办: pending applications on matters this viewer may decide (never their own unit's)."""
    person = viewer(request)
    pending = await Application.filter(
        status=ApplicationStatus.PENDING,
        matter_id__in=Subquery(Matter.filter(await visible_matters(person)).values("id"))).prefetch_related(
        "matter", "matter__lead", "person").order_by("filed_at")
    mine = [a for a in pending if (await may(person, Action.REVIEW, a.matter)).ok]
    return page(request, "queue.j2", applications=mine)

