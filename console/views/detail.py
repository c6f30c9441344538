"""事项详情: nodes, the full timeline, the clock's plan, and the forms the viewer may use."""

from __future__ import annotations

import asyncio

from aiohttp import web

from console.timeline import timeline, upcoming
from console.web import SERVICE, page, visible_matter
from models import Application, ApplicationStatus, Matter, Node, Person
from scheduler.policy import policy_summary
from workflow.facts import matter_policy
from workflow.permissions import Action, may
from workflow.states import FINISHED

routes = web.RouteTableDef()
ACTIONS = (Action.ANSWER, Action.RETURN, Action.GRADE, Action.REVIEW, Action.APPROVE,
           Action.DECIDE_EXTENSION)


async def allowed_actions(person: Person, matter: Matter) -> set[str]:
    verdicts = await asyncio.gather(*(may(person, a, matter) for a in ACTIONS))
    return {a.value for a, verdict in zip(ACTIONS, verdicts, strict=True) if verdict.ok}


async def nothing() -> list:
    return []


@routes.get("/matters/{code}")
async def detail(request: web.Request) -> web.Response:
    person, matter = await visible_matter(request, request.match_info["code"])
    ctx = request.app[SERVICE].ctx
    closed = matter.state in FINISHED
    # Independent reads run side by side: the page waits for the slowest, not for the sum.
    _, allowed, pending, nodes, entries, planned = await asyncio.gather(
        matter.fetch_related("cooperating"),
        nothing() if closed else allowed_actions(person, matter),
        Application.filter(matter=matter, status=ApplicationStatus.PENDING
                           ).order_by("-filed_at").first(),
        Node.filter(matter=matter).order_by("due_at"),
        timeline(matter),
        nothing() if closed else upcoming(ctx, matter))
    return page(request, "matter.j2", m=matter, allowed=set(allowed), pending=pending,
                nodes=nodes, entries=entries, planned=planned,
                policy=policy_summary(matter_policy(ctx.policy, matter)),
                notice=request.query.get("notice", ""), refused=request.query.get("refused", ""))
