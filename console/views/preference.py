"""Channel preference (消息优先/仅短信/短信和消息都发): an administrator sets a person's on the
org page, everyone sets their own on the account page. Both go through the one audited
workflow function the bot's /settings and the org file use."""

from __future__ import annotations

from aiohttp import web

from console.web import SERVICE, check_csrf, require, viewer
from models import Person
from workflow.delivery import parse_preference, set_channel_preference
from workflow.permissions import Action
from workflow.records import Actor

routes = web.RouteTableDef()


async def apply(request: web.Request, person: Person, actor: Person) -> bool:
    """Set the posted preference; False when the form named none we know (nothing changes)."""
    form = await check_csrf(request)
    try:
        preference = parse_preference(str(form.get("preference", "")))
    except ValueError:
        return False
    await set_channel_preference(person, preference, Actor(actor, "web"),
                                 request.app[SERVICE].ctx.clock.now())
    return True


@routes.post("/org/people/{id:\\d+}/preference")
async def set_for_person(request: web.Request) -> web.Response:
    admin = await require(request, Action.ADMIN)
    person = await Person.get_or_none(id=int(request.match_info["id"]))
    if person is None:
        raise web.HTTPNotFound()
    ok = await apply(request, person, admin)
    raise web.HTTPFound(f"/org?notice={'preference_set' if ok else 'bad_preference'}")


@routes.post("/account/preference")
async def set_own(request: web.Request) -> web.Response:
    person = viewer(request)
    ok = await apply(request, person, person)
    raise web.HTTPFound(f"/account?notice={'preference_set' if ok else 'bad_preference'}")
