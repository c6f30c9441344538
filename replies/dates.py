"""New-deadline expressions in extension requests (延期日期, R17).

``find_date`` finds the first date expression in a normalised body and resolves it
against the day the message was received. Supported forms:

- with a year: ``2026-12-31``, ``2026/12/31``, ``2026.12.31``, ``2026年12月31日``,
  ``2026年12月底``, ``2026年底``
- without a year: ``12月31日``, ``12月31号``, ``12月31``, ``12-31``, ``12.31``,
  ``12/31``, ``12月底`` — the message's year, or the next year when that day is
  already behind the message date
- month and year end: ``月底``/``本月底``, ``下月底``/``下个月底``, ``年底``, ``明年底``
- weekdays (Monday starts a week): ``周五``/``本周五``/``星期五``/``礼拜五`` is this
  week's Friday, or next week's when today is past it; ``下周五``/``下星期五``/
  ``下礼拜五`` is the Friday of next week
- relative: ``3天后``, ``两周后``, ``1个月后`` (also ``…内``), counted from today

Connector words around the date ("延至", "截止", "…前") belong to the match so that
the caller can cut them out of the reason text together with the date.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["DateMatch", "add_months", "find_date", "month_end", "weekday_on_or_after"]


@dataclass(frozen=True)
class DateMatch:
    """A date expression found in a text."""

    start: int  # span in the searched text, connector words included
    end: int
    fragment: str  # the date expression as written (for error details)
    value: date | None  # None: looks like a date but names no calendar day (2月30日)


_CN_DIGITS = dict(zip("一二两三四五六七八九", (1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_WEEKDAYS = {**{ch: i for i, ch in enumerate("一二三四五六日")}, "天": 6}
_WEEKDAYS.update({str(i + 1): i for i in range(7)})

_CN_NUMBER = r"(?:[一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九])"
# A number like "1.5" or "3-5" followed by a unit is a quantity, not a date.
_QUANTITY_UNIT = r"[%‰万亿元米里吨亩个倍件户人次台套公千平立]"  # 公里, 千米, 平方米, 立方米

_FORMS = (
    # 2026-12-31, 2026/12/31, 2026.12.31
    r"(?<![0-9])(?P<fy>20[0-9]{2})(?P<fs>[-/.])(?P<fm>[0-9]{1,2})(?P=fs)(?P<fd>[0-9]{1,2})(?![0-9])",
    # 2026年12月31日, 12月31号, 12月31, 12月底, 2026年12月底
    r"(?<![0-9])(?:(?P<cy>20[0-9]{2})年)?(?P<cm>[0-9]{1,2})月"
    r"(?:(?P<cd>[0-9]{1,2})[日号]?(?![0-9])|(?P<cend>底|末))",
    # 2026年底, 年底, 今年底, 明年底 (not 去年底)
    r"(?<![去前])(?:(?<![0-9])(?P<yy>20[0-9]{2})|(?P<ynext>明)|今|本)?年(?P<yend>底|末)",
    # 12-31, 12.31, 12/31
    r"(?<![0-9./-])(?P<sm>1[0-2]|0?[1-9])[-/.](?P<sd>3[01]|[12][0-9]|0?[1-9])"
    rf"(?![0-9]|[./-][0-9]| ?{_QUANTITY_UNIT})",
    # 下月底, 下个月底, 月底, 本月底, 这个月底 (not 上月底)
    r"(?<![上前])(?:(?P<mnext>下一?个?)|本|这个?|当)?月(?P<mend>底|末)",
    # 下周五, 下星期五, 下礼拜五, 周五, 本周五; not 上周五, 每周五 (a cadence), 下下周五
    r"(?<![上下每隔逢])(?:(?P<wnext>下一?个?)|本|这个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])",
    # 3天后, 两周后, 1个月后, 三个月内
    rf"(?:(?<![0-9])(?P<rn>[0-9]{{1,3}})|(?P<rcn>{_CN_NUMBER}))"
    r" ?(?P<ru>天|周|个?星期|个?礼拜|个?月)(?:之?后|以?内)",
)
_DATE = re.compile(
    r"(?:(?:延期|延长|推迟|顺延|延)?(?:至|到) ?|截[止至](?:到|至)? ?)?"
    rf"(?P<date>{'|'.join(_FORMS)})"
    r"(?: ?(?:之?前|为止|止))?"
)


def find_date(text: str, today: date) -> DateMatch | None:
    """Return the first date expression in ``text``, resolved against ``today``."""
    m = _DATE.search(text)
    if m is None:
        return None
    try:
        value: date | None = _resolve(m, today)
    except (ValueError, OverflowError):  # 2月30日, 13月5日, or past the year 9999
        value = None
    return DateMatch(m.start(), m.end(), m["date"], value)


def month_end(year: int, month: int) -> date:
    """Last day of a month."""
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month end (1月31日 + 1 → 2月28/29日)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def weekday_on_or_after(today: date, weekday: int, *, next_week: bool = False) -> date:
    """Resolve 周X / 下周X (weekday: Monday = 0).

    Without ``next_week`` this is this week's day, or next week's once it is past;
    with it, the day in the week after this one (weeks start on Monday).
    """
    if next_week:
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
        return monday + timedelta(days=weekday)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _resolve(m: re.Match[str], today: date) -> date:
    """The day a matched expression names; ValueError when there is no such day."""
    if m["fy"]:
        return date(int(m["fy"]), int(m["fm"]), int(m["fd"]))
    if m["cm"]:
        return _month_day(m, today)
    if m["yend"]:
        year = int(m["yy"]) if m["yy"] else today.year + (m["ynext"] is not None)
        return date(year, 12, 31)
    if m["sm"]:
        return _yearless(int(m["sm"]), int(m["sd"]), today)
    if m["mend"]:
        first = add_months(today.replace(day=1), 1 if m["mnext"] is not None else 0)
        return month_end(first.year, first.month)
    if m["wd"]:
        return weekday_on_or_after(today, _WEEKDAYS[m["wd"]], next_week=m["wnext"] is not None)
    return _relative(m, today)


def _month_day(m: re.Match[str], today: date) -> date:
    """12月31日, 2026年12月31日, 12月底, 2026年12月底."""
    month = int(m["cm"])
    if m["cend"]:
        year = int(m["cy"]) if m["cy"] else today.year + (month < today.month)
        return month_end(year, month)
    if m["cy"]:
        return date(int(m["cy"]), month, int(m["cd"]))
    return _yearless(month, int(m["cd"]), today)


def _yearless(month: int, day: int, today: date) -> date:
    """The message's year, or the next one when the day is already behind today."""
    year = today.year + ((month, day) < (today.month, today.day))
    return date(year, month, day)


def _relative(m: re.Match[str], today: date) -> date:
    count = int(m["rn"]) if m["rn"] else _cn_int(m["rcn"])
    unit = m["ru"]
    if unit.endswith("月"):
        return add_months(today, count)
    if unit == "天":
        return today + timedelta(days=count)
    return today + timedelta(weeks=count)


def _cn_int(text: str) -> int:
    """Chinese numerals 1–99 as matched by _CN_NUMBER ("十五" → 15, "二十" → 20)."""
    if "十" not in text:
        return _CN_DIGITS[text]
    tens, _, ones = text.partition("十")
    return _CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0)
