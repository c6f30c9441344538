"""The deployment's working-day calendar in the database: load it for the clock, replace a
year from an imported notice, and say where each year's data comes from (R6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from models import Holiday
from scheduler.calendar import ChineseWorkCalendar, YearSource, missing_years, package_years
from workflow.context import Context


@dataclass(frozen=True)
class HolidayDay:
    day: date
    workday: bool  # True: make-up working day (调休上班); False: holiday (放假)
    name: str = ""


_loaded: tuple[tuple[tuple[Any, Any], ...], ChineseWorkCalendar] | None = None


async def load_calendar() -> ChineseWorkCalendar:
    """The calendar the clock counts with: imported years, else the package's data.

    Every tick reads the table (an import in another process may have changed it) as plain
    rows; the calendar is rebuilt only when they differ from the last ones read."""
    global _loaded
    _, found = await Tortoise.get_connection("default").execute_query(
        "SELECT day, workday FROM holiday ORDER BY day")
    rows = tuple(tuple(row) for row in found)
    if _loaded is None or _loaded[0] != rows:
        imported: dict[int, dict[date, bool]] = {}
        for day, workday in rows:
            day = day if isinstance(day, date) else date.fromisoformat(day)  # SQLite: text
            imported.setdefault(day.year, {})[day] = bool(workday)
        _loaded = (rows, ChineseWorkCalendar(imported))
    return _loaded[1]


async def calendar_stamp() -> tuple[int, int | None]:
    """Changes whenever the imported days do: their count and the newest row (an import
    replaces whole years, so it always writes new rows)."""
    newest = await Holiday.all().order_by("-id").first().values_list("id", flat=True)
    return await Holiday.all().count(), newest


async def replace_years(days: Iterable[HolidayDay], now: datetime) -> list[int]:
    """Store the days; every year they cover is replaced as a whole. Returns the years."""
    days = list(days)
    years = sorted({d.day.year for d in days})
    async with in_transaction():
        await Holiday.filter(year__in=years).delete()
        await Holiday.bulk_create([Holiday(day=d.day, year=d.day.year, workday=d.workday,
                                           name=d.name, imported_at=now) for d in days])
    return years


async def holidays(year: int | None = None) -> list[Holiday]:
    query = Holiday.all() if year is None else Holiday.filter(year=year)
    return await query.order_by("day")


@dataclass(frozen=True)
class YearStatus:
    year: int
    source: YearSource
    holidays: int = 0  # imported rows of the year
    workdays: int = 0


async def calendar_years_status(today: date) -> list[YearStatus]:
    """For each year from the package's first to next year (and any imported one): where
    its working days come from — imported, package or missing (Monday to Friday)."""
    calendar = await load_calendar()
    years = set(package_years()) | set(calendar.imported) | {today.year, today.year + 1}
    return [YearStatus(y, calendar.source(y),
                       sum(not w for w in calendar.imported.get(y, {}).values()),
                       sum(calendar.imported.get(y, {}).values()))
            for y in range(min(years), max(years) + 1)]


async def calendar_warning(ctx: Context) -> dict[str, list[int]]:
    """For /healthz: this year, and next year from 1 November, when it has no data."""
    today = ctx.clock.now().astimezone(ctx.tz).date()
    return {"missing_years": missing_years(await load_calendar(), today)}
