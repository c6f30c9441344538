"""Which days are working days (工作日), for boards that count in working days (R6, R22, R26).

The statutory holidays and make-up working days of a year come from one of two sources:
a notice the deployment's administrator imported (`duban holidays import`, stored in the
database and loaded before the clock runs), or else the `chinesecalendar` package's data.
A year with neither is counted Monday to Friday: the clock never stops and never refuses a
matter for want of data; `/healthz` warns about such a year from 1 November before it.
The calendar object is plain data: nothing here touches the database.
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol

import chinese_calendar


class WorkCalendar(Protocol):
    def is_workday(self, day: date) -> bool: ...


class YearSource(StrEnum):
    """Where a year's working days come from."""

    IMPORTED = "imported"  # an administrator's file (it wins over the package)
    PACKAGE = "package"  # chinesecalendar's data
    MISSING = "missing"  # no data: Monday to Friday


def package_years() -> frozenset[int]:
    return frozenset(d.year for d in chinese_calendar.holidays)


class ChineseWorkCalendar:
    """Chinese statutory working days, make-up days included, from imported notices and
    the package's data; Monday to Friday for a year that has neither.

    `imported` maps each imported year to its listed days: True a make-up working day
    (调休上班), False a holiday. Days of that year it does not list are Monday-Friday."""

    def __init__(self, imported: Mapping[int, Mapping[date, bool]] | None = None) -> None:
        self.imported = {year: dict(days) for year, days in (imported or {}).items()}
        self.package = package_years()

    def source(self, year: int) -> YearSource:
        if year in self.imported:
            return YearSource.IMPORTED
        if year in self.package:
            return YearSource.PACKAGE
        return YearSource.MISSING

    def is_workday(self, day: date) -> bool:
        source = self.source(day.year)
        if source is YearSource.IMPORTED:
            return self.imported[day.year].get(day, day.weekday() < 5)
        if source is YearSource.PACKAGE:
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5


def missing_years(calendar: ChineseWorkCalendar, today: date) -> list[int]:
    """This year and, from 1 November, next year, where the calendar has no data."""
    years = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    return [y for y in years if calendar.source(y) is YearSource.MISSING]


def add_workdays(calendar: WorkCalendar, start: date, days: int) -> date:
    """The date `days` working days after `start` (start itself not counted)."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            days -= 1
    return day


def workdays_before(calendar: WorkCalendar, end: date, days: int) -> date:
    """The working day that lies `days` working days before `end`."""
    day = end
    while days > 0:
        day -= timedelta(days=1)
        if calendar.is_workday(day):
            days -= 1
    return day


def last_workday_on_or_before(calendar: WorkCalendar, day: date) -> date:
    while not calendar.is_workday(day):
        day -= timedelta(days=1)
    return day


def next_workday_on_or_after(calendar: WorkCalendar, day: date) -> date:
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return day


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month end (1月31日 + 1 → 2月28/29日)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))
