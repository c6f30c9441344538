"""事项详情: nodes, the full timeline, the clock's plan, and the forms the viewer may use."""

from __future__ import annotations

from aiohttp import web

from console.timeline import timeline, upcoming
from console.web import SERVICE, page, visible_matter
from models import Application, ApplicationStatus, Node
from scheduler.policy import policy_summary
from workflow.facts import matter_policy
from workflow.permissions import Action, may
from workflow.states import FINISHED

routes = web.RouteTableDef()
ACTIONS = (Action.ANSWER, Action.RETURN, Action.GRADE, Action.REVIEW, Action.APPROVE,
           Action.DECIDE_EXTENSION)


@routes.get("/matters/{code}")
async def detail(request: web.Request) -> web.Response:
    person, matter = await visible_matter(request, request.match_info["code"])
    ctx = request.app[SERVICE].ctx
    await matter.fetch_related("initiator", "lead", "cooperating")
    closed = matter.state in FINISHED
    allowed = set() if closed else {a.value for a in ACTIONS if (await may(person, a, matter)).ok}
    pending = await Application.filter(matter=matter, status=ApplicationStatus.PENDING
                                       ).order_by("-filed_at").first()
    return page(request, "matter.j2", m=matter, allowed=allowed, pending=pending,
                nodes=await Node.filter(matter=matter).order_by("due_at"),
                entries=await timeline(matter),
                planned=[] if closed else await upcoming(ctx, matter),
                policy=policy_summary(matter_policy(ctx.policy, matter)),
                notice=request.query.get("notice", ""), refused=request.query.get("refused", ""))
