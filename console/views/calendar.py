"""工作日历 (administrators): where each year's working days come from (imported notice,
the package's data, or missing: Monday to Friday), the warning for a missing year (the same
rule as /healthz), a year's imported days, and the holiday notice upload with the checks
and node moves of `duban holidays import` (R6)."""

from __future__ import annotations

from aiohttp import web

from console.uploads import saved_upload
from console.web import SERVICE, check_csrf, page, require
from service.holidays import SOURCE_NAMES, WEEKDAYS, import_holidays
from workflow.holidays import calendar_warning, calendar_years_status, holidays
from workflow.permissions import Action
from workflow.records import Actor

routes = web.RouteTableDef()
SUFFIXES = (".csv", ".xlsx", ".yaml", ".yml")


async def calendar_page(request: web.Request, year: int | None, status: int = 200,
                        **context) -> web.Response:
    ctx = request.app[SERVICE].ctx
    today = ctx.clock.now().astimezone(ctx.tz).date()
    years = await calendar_years_status(today)
    year = year if year is not None else today.year
    return page(request, "calendar.j2", status=status, years=years, year=year,
                days=await holidays(year), sources=SOURCE_NAMES, weekdays=WEEKDAYS,
                missing=(await calendar_warning(ctx))["missing_years"],
                **({"report": None, "notice": ""} | context))


@routes.get("/calendar")
async def calendar(request: web.Request) -> web.Response:
    await require(request, Action.ADMIN)
    year = request.query.get("year", "")
    return await calendar_page(request, int(year) if year.isdigit() else None)


@routes.post("/calendar/import")
async def upload(request: web.Request) -> web.Response:
    admin = await require(request, Action.ADMIN)
    service = request.app[SERVICE]
    with saved_upload(await check_csrf(request), SUFFIXES) as path:
        if path is None:
            return await calendar_page(request, None, 400, notice="bad_file")
        report = await import_holidays(service.settings, path, service.ctx.clock,
                                       Actor(admin, "web"))
    year = report.years[0] if report.years else None
    return await calendar_page(request, year, 400 if report.rejected else 200, report=report)
