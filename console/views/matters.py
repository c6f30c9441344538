"""事项: the viewer's matters, filtered and paged by keyset; the filtered list as the XLSX
ledger."""

from __future__ import annotations

from aiohttp import web

from bot.texts import label, labels
from console.queries import LIGHTS, Filters, filtered, listing
from console.web import SERVICE, page, require, viewer
from models import MatterState, Unit
from workflow.ledger import matters_workbook
from workflow.permissions import Action

routes = web.RouteTableDef()
EXPORT_LIMIT = 20_000  # one workbook; a bigger ledger is the period ledger of the bot/CLI


@routes.get("/matters")
async def matters(request: web.Request) -> web.Response:
    person = viewer(request)
    ctx = request.app[SERVICE].ctx
    f = Filters.of(request.query)
    found = await listing(person, f, ctx.clock.now(), ctx.tz)
    return page(request, "matters.j2", f=f, found=found, boards=labels("boards"),
                states=[s.value for s in MatterState], light_names=LIGHTS,
                units=await Unit.all().order_by("name").values_list("key", "name"))


@routes.get("/matters.xlsx")
async def export(request: web.Request) -> web.Response:
    person = await require(request, Action.EXPORT)
    ctx = request.app[SERVICE].ctx
    query, _ = await filtered(person, Filters.of(request.query), ctx.clock.now(), ctx.tz)
    rows = await query.order_by("created_at", "id").limit(EXPORT_LIMIT).prefetch_related(
        "initiator", "lead", "cooperating")
    body = await matters_workbook(rows, ctx.tz, label)
    return web.Response(body=body, headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": 'attachment; filename="ledger.xlsx"'})
