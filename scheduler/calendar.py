"""Which days are working days (工作日), for boards that count in working days (R6, R22, R26).

The statutory holidays and make-up working days come from `chinesecalendar`, whose data
covers a fixed range of years. A date outside it is an error that says so, never a guess.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol

import chinese_calendar


class CalendarRangeError(ValueError):
    """The working-day data does not cover this date."""


class WorkCalendar(Protocol):
    def is_workday(self, day: date) -> bool: ...


class ChineseWorkCalendar:
    """Chinese statutory working days, adjusted make-up days included."""

    def is_workday(self, day: date) -> bool:
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError as exc:
            raise CalendarRangeError(
                f"the working-day calendar (chinesecalendar) has no data for {day.isoformat()}: "
                f"it covers {covered_years()}; upgrade the package before counting working days there"
            ) from exc


class WeekdayCalendar:
    """Monday to Friday: the stand-in past the statutory data, where only an approximate
    reminder date is needed (never for a deadline)."""

    def is_workday(self, day: date) -> bool:
        return day.weekday() < 5


def covered_years() -> str:
    years = sorted({d.year for d in chinese_calendar.holidays})
    return f"{years[0]}-{years[-1]}"


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
