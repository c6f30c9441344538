"""Dates people type into a dialog ("2026-12-31", "12月底", "下周五"), read as the parser does."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from replies.dates import find_date
from replies.normalize import normalize


def read_day(text: str, today: date) -> date | None:
    """The calendar day the text names, or None when it names none (2月30日, "soon")."""
    found = find_date(normalize(text), today)
    return found.value if found else None


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()
