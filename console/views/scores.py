"""考核: quarterly totals and the year's ranking (R32, R33) as a table and a server-made SVG
bar chart; a unit's score events one click away."""

from __future__ import annotations

from aiohttp import web

from console.web import SERVICE, forbidden, page, viewer
from models import Matter, ScoreEvent, Unit
from workflow.permissions import Action, may, visible_matters
from workflow.queries import Period
from workflow.scores import year_ranking

routes = web.RouteTableDef()
BAR_HEIGHT, CHART_WIDTH, LABEL_WIDTH = 22, 640, 170


def year_of(request: web.Request) -> int:
    ctx = request.app[SERVICE].ctx
    year = request.query.get("year", "")
    return int(year) if year.isdigit() and 2000 <= int(year) <= 2100 else \
        ctx.clock.now().astimezone(ctx.tz).year


def chart(rows) -> dict:
    """Bars of the year totals, scaled around zero (points may be negative)."""
    values = [float(r.total) for r in rows]
    low, high = min([0.0, *values]), max([0.0, *values])
    span = (high - low) or 1.0
    scale = (CHART_WIDTH - LABEL_WIDTH - 60) / span
    zero = LABEL_WIDTH + (0 - low) * scale
    bars = [{"y": i * BAR_HEIGHT, "unit": r.unit, "value": v,
             "x": zero + min(0.0, v) * scale, "w": max(abs(v) * scale, 1.0)}
            for i, (r, v) in enumerate(zip(rows, values, strict=True))]
    return {"bars": bars, "zero": zero, "height": max(len(rows), 1) * BAR_HEIGHT,
            "width": CHART_WIDTH, "bar": BAR_HEIGHT - 6}


@routes.get("/scores")
async def scores(request: web.Request) -> web.Response:
    viewer(request)
    year = year_of(request)
    rows = await year_ranking(year, request.app[SERVICE].ctx.tz)
    keys = dict(await Unit.all().values_list("name", "key"))
    return page(request, "scores.j2", year=year, rows=rows, chart=chart(rows), keys=keys)


@routes.get("/scores/{unit}")
async def unit_events(request: web.Request) -> web.Response:
    """A unit's events: for its own people and for supervisors; matter codes only of
    matters the viewer may see."""
    person = viewer(request)
    unit = await Unit.get_or_none(key=request.match_info["unit"])
    if unit is None or not (unit.id == person.unit_id or (await may(person, Action.EXPORT)).ok):
        raise forbidden(request, "not_your_unit")
    ctx = request.app[SERVICE].ctx
    year = year_of(request)
    period = Period.parse(str(year), ctx.clock.now().date(), ctx.tz)
    events = await ScoreEvent.filter(unit=unit, at__gte=period.start,
                                     at__lt=period.end).order_by("at", "id")
    seen = set(await Matter.filter(await visible_matters(person), id__in=[
        e.matter_id for e in events if e.matter_id]).values_list("id", "code"))
    codes = dict(seen)
    return page(request, "score_events.j2", unit=unit, year=year, events=events, codes=codes)
