"""New-deadline expressions in extension requests (延期日期, R17).

``find_date`` finds the first date expression in a normalised body and resolves it
against the day the message was received. Supported forms:

- with a year: ``2026-12-31``, ``2026/12/31``, ``2026.12.31``, ``2026年12月31日``,
  ``2026年12月底``, ``2026年底``, ``明年3月底``, ``今年12月20日``, ``二〇二六年十二月三十一日``
- without a year: ``12月31日``, ``12月31号``, ``12月31``, ``12-31``, ``12.31``,
  ``12/31``, ``12月底``, also in Chinese numerals (``十一月底``, ``元月十号``,
  ``十二月三十一日``) — the message's year, or the next year when that day is more
  than a quarter behind the message date ("1月15日" in November); a day only a little
  behind ("11月20日" on 11-23) is ambiguous (a typo, or next year?) and asked back
- a day of a month: ``本月20号``, ``下月20号``/``下个月20号``; a bare day ``15号``/``十五日``
  is this month's when still ahead, else next month's; a day the month lacks is asked
- month and year end: ``月底``/``本月底``, ``下月底``/``下个月底``, ``年底``, ``明年底``
- weekdays (Monday starts a week): ``周五``/``本周五``/``星期五``/``礼拜五`` is this
  week's Friday, or next week's when today is past it; ``下周五``/``下星期五``/
  ``下礼拜五`` is the Friday of next week
- relative: ``3天后``, ``15日内``, ``两周后``, ``1个月后`` (also ``…内``), counted from today
- holidays: ``春节前`` (the eve of the next Spring Festival, from a table; a year the
  table lacks is asked back), ``元旦前``, ``国庆前``

Some expressions look like a date but name no single day; they are found (so the
parser can ask back) with ``ambiguous`` set and no value: a lunar date (``腊月二十``,
``正月十五``, ``农历…``), a vague one (``下月``, ``月中``, ``12月中旬``, ``12月份``,
``下周``, ``年前``, ``节后``).

Connector words around the date ("延至", "截止", "…前") belong to the match so that
the caller can cut them out of the reason text together with the date.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from scheduler.calendar import add_months

__all__ = [
    "SPRING_FESTIVAL",
    "cn_int",
    "DateMatch",
    "add_months",
    "find_date",
    "find_dates",
    "month_end",
    "weekday_on_or_after",
]


@dataclass(frozen=True)
class DateMatch:
    """A date expression found in a text."""

    start: int  # span in the searched text, connector words included
    end: int
    fragment: str  # the date expression as written (for error details)
    value: date | None  # None: names no calendar day (2月30日) or no single one (ambiguous)
    ambiguous: str = ""  # "", "lunar" or "vague": why the expression names no single day
    marked: bool = False  # introduced as a deadline: "至…", "到…", "截止…"


class _Ambiguous(ValueError):
    """The expression could mean more than one day: ask, never guess."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# The first day of the lunar year (春节), Gregorian. Extend the table as years come; a
# year it lacks makes "春节前" a question back, never a guess.
SPRING_FESTIVAL = {
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
    2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
}
# How far behind today a year-less date may be before it means next year ("1月15日"
# written in November); closer than this it is more likely a typo, and asked back.
_ROLLOVER_GAP = timedelta(days=92)

_CN_DIGITS = dict(zip("一二两三四五六七八九", (1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_WEEKDAYS = {**{ch: i for i, ch in enumerate("一二三四五六日")}, "天": 6}
_WEEKDAYS.update({str(i + 1): i for i in range(7)})

_CN_NUMBER = r"(?:[一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九])"
_CN = "一二两三四五六七八九十"
# A month: digits, Chinese numerals, or 元月 (January).
_MONTH = r"(?:[0-9]{1,2}|十[一二]?|[一二三四五六七八九]|元)"
# A day: digits or Chinese numerals up to 三十一.
_DAY = r"(?:[0-9]{1,2}|[二三]?十[一二三四五六七八九]?|三十|[一二三四五六七八九])"
_NOT_AFTER_NUMBER = rf"(?<![0-9{_CN}])"
# 二〇二六年: a year written digit by digit in Chinese numerals.
_CN_YEAR_DIGIT = "[〇零一二三四五六七八九]"
_YEAR_DIGITS = str.maketrans("〇零一二三四五六七八九", "00123456789")
# A number like "1.5" or "3-5" followed by a unit is a quantity, not a date.
_QUANTITY_UNIT = r"[%‰万亿元米里吨亩个倍件户人次台套公千平立]"  # 公里, 千米, 平方米, 立方米
# "3号楼", "2号线", "1号文件": a numbered thing, not a day of the month.
_NUMBERED_THING = r"[楼院线门机地桥路街口库文令件码位栋单房室井站泵车场窗柜台箱]"

_FORMS = (
    # 2026-12-31, 2026/12/31, 2026.12.31
    r"(?<![0-9])(?P<fy>20[0-9]{2})(?P<fs>[-/.])(?P<fm>[0-9]{1,2})(?P=fs)(?P<fd>[0-9]{1,2})(?![0-9])",
    # lunar: 腊月二十, 正月十五, 冬月, 农历十月初八, 初八 — asked back, never converted
    rf"(?P<lunar>(?:农历|阴历|旧历)[^ ,.;]{{0,8}}|[正腊冬]月(?:初?{_DAY}|底|末)?|初[{_CN}]+)",
    # 2026年12月31日, 12月31号, 12月31, 12月底, 2026年12月底, 十一月底, 元月十号, 12月中旬
    rf"{_NOT_AFTER_NUMBER}(?:(?P<cy>20[0-9]{{2}}|二[〇零]{_CN_YEAR_DIGIT}{{2}})年|(?P<cyrel>今|本|明|后)年)?"
    rf"(?P<cm>{_MONTH})月"
    rf"(?:(?P<cd>{_DAY})[日号]?(?![0-9{_CN}])|(?P<cend>底|末)|(?P<cvague>[上中下]旬|中|初|份))",
    # 2026年底, 年底, 今年底, 明年底 (not 去年底)
    r"(?<![去前])(?:(?<![0-9])(?P<yy>20[0-9]{2})|(?P<ynext>明)|今|本)?年(?P<yend>底|末)",
    # 12-31, 12.31, 12/31
    r"(?<![0-9./-])(?P<sm>1[0-2]|0?[1-9])[-/.](?P<sd>3[01]|[12][0-9]|0?[1-9])"
    rf"(?![0-9]|[./-][0-9]| ?{_QUANTITY_UNIT})",
    # 本月20号, 下月20号, 下个月20号
    rf"(?<![上前])(?:(?P<mdnext>下一?个?)|本|这个?|当)月(?P<mdd>{_DAY})[日号]?(?![0-9{_CN}])",
    # 下月底, 下个月底, 月底, 本月底, 这个月底 (not 上月底)
    r"(?<![上前])(?:(?P<mnext>下一?个?)|本|这个?|当)?月(?P<mend>底|末)",
    # 下周五, 下星期五, 下礼拜五, 周五, 本周五; not 上周五, 每周五 (a cadence), 下下周五
    r"(?<![上下每隔逢])(?:(?P<wnext>下一?个?)|本|这个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])",
    # 3天后, 两周后, 1个月后, 三个月内, 15日内
    rf"(?:(?<![0-9])(?P<rn>[0-9]{{1,3}})|(?P<rcn>{_CN_NUMBER}))"
    r" ?(?P<ru>天|日|周|个?星期|个?礼拜|个?月)(?:之?后|以?内)",
    # 春节前, 过年前, 元旦前, 国庆前
    r"(?P<fest>春节|过年|元旦|国庆节?) ?(?:之?前|以前)",
    # 15号, 十五日 (not 第3号, 3号楼, 1号文件)
    rf"(?<![0-9{_CN}第./-])(?P<bd>{_DAY})[日号](?!{_NUMBERED_THING}|[0-9])",
    # vague: 下月, 下个月, 月中, 月初, 下周, 年前, 节后 — a period, not a day
    r"(?<![上每])(?P<vague>(?:下一?个?|本|这个?)?月(?:[上中下]旬|中|初)|下一?个?月(?!底|末)"
    r"|(?:[上中下]旬)|下一?个?(?:周|星期|礼拜)(?![一二三四五六日天1-7])|年前|年后|节前|节后|春节后)",
)
_DATE = re.compile(
    r"(?:(?:延期|延长|推迟|顺延|延)?(?:至|到) ?|截[止至](?:到|至)? ?)?"
    rf"(?P<date>{'|'.join(_FORMS)})"
    r"(?: ?(?:之?前|以前|为止|止))?"
)


def find_date(text: str, today: date) -> DateMatch | None:
    """Return the first date expression in ``text`` naming a day, resolved against
    ``today``; when every expression is vague, the first of them (to be asked back)."""
    found = find_dates(text, today)
    precise = [d for d in found if d.ambiguous != "vague"]
    return (precise or found or [None])[0]


def find_dates(text: str, today: date) -> list[DateMatch]:
    """Every date expression in ``text``, in order."""
    return [_match(m, today) for m in _DATE.finditer(text)]


def _match(m: re.Match[str], today: date) -> DateMatch:
    ambiguous = ""
    try:
        value: date | None = _resolve(m, today)
    except _Ambiguous as exc:
        value, ambiguous = None, exc.why
    except (ValueError, OverflowError):  # 2月30日, 13月5日, or past the year 9999
        value = None
    marked = m.start("date") > m.start()
    return DateMatch(m.start(), m.end(), m["date"], value, ambiguous, marked)


def month_end(year: int, month: int) -> date:
    """Last day of a month."""
    return date(year, month, calendar.monthrange(year, month)[1])


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
    if m["lunar"]:
        raise _Ambiguous("lunar")
    if m["vague"] or m["cvague"]:
        raise _Ambiguous("vague")
    if m["fy"]:
        return date(int(m["fy"]), int(m["fm"]), int(m["fd"]))
    if m["cm"]:
        return _month_day(m, today)
    if m["yend"]:
        year = int(m["yy"]) if m["yy"] else today.year + (m["ynext"] is not None)
        return date(year, 12, 31)
    if m["sm"]:
        return _yearless(int(m["sm"]), int(m["sd"]), today)
    if m["mdd"]:
        first = add_months(today.replace(day=1), 1 if m["mdnext"] is not None else 0)
        return first.replace(day=_number(m["mdd"]))
    if m["mend"]:
        first = add_months(today.replace(day=1), 1 if m["mnext"] is not None else 0)
        return month_end(first.year, first.month)
    if m["wd"]:
        return weekday_on_or_after(today, _WEEKDAYS[m["wd"]], next_week=m["wnext"] is not None)
    if m["fest"]:
        return _festival_eve(m["fest"], today)
    if m["bd"]:
        return _bare_day(_number(m["bd"]), today)
    return _relative(m, today)


def _month_day(m: re.Match[str], today: date) -> date:
    """12月31日, 2026年12月31日, 12月底, 2026年12月底, 十一月底, 元月十号."""
    month = 1 if m["cm"] == "元" else _number(m["cm"])
    year = _named_year(m, today)
    if m["cend"]:
        if year:
            return month_end(year, month)
        return _yearless(month, calendar.monthrange(today.year, month)[1], today, end=True)
    if year:
        return date(year, month, _number(m["cd"]))
    return _yearless(month, _number(m["cd"]), today)


def _named_year(m: re.Match[str], today: date) -> int | None:
    """2027年…, 今年/本年…, 明年…, 后年…; None when the year is not written."""
    if m["cy"]:
        return int(m["cy"].translate(_YEAR_DIGITS))
    offsets = {"今": 0, "本": 0, "明": 1, "后": 2}
    return today.year + offsets[m["cyrel"]] if m["cyrel"] else None


def _yearless(month: int, day: int, today: date, *, end: bool = False) -> date:
    """The message's year when the day is still ahead; the next year when it is more
    than a quarter behind; in between, ambiguous. ``end``: the month's last day."""
    if (month, day) >= (today.month, today.day):
        return date(today.year, month, day)  # ValueError: no such day (2月30日)
    nearest = min(day, calendar.monthrange(today.year, month)[1])  # 2月29日 in 2027
    if today - date(today.year, month, nearest) <= _ROLLOVER_GAP:
        raise _Ambiguous("vague")
    if end:
        return month_end(today.year + 1, month)
    return date(today.year + 1, month, day)


def _bare_day(day: int, today: date) -> date:
    """15号: this month's when still ahead (or today), else next month's. A day this
    choice's month lacks (31号 in November) is asked back."""
    first = today.replace(day=1)
    if day < today.day:
        first = add_months(first, 1)
    if day > calendar.monthrange(first.year, first.month)[1]:
        raise _Ambiguous("vague")
    return first.replace(day=day)


def _festival_eve(name: str, today: date) -> date:
    """The day before the next 春节 (from the table), 元旦 or 国庆 on or after today."""
    for year in (today.year, today.year + 1):
        if name in ("春节", "过年"):
            if year not in SPRING_FESTIVAL:
                raise _Ambiguous("vague")
            day = SPRING_FESTIVAL[year]
        else:
            day = date(year, 1, 1) if name == "元旦" else date(year, 10, 1)
        if day - timedelta(days=1) >= today:
            return day - timedelta(days=1)
    raise _Ambiguous("vague")  # not reached: next year's day is always ahead


def _relative(m: re.Match[str], today: date) -> date:
    count = int(m["rn"]) if m["rn"] else cn_int(m["rcn"])
    unit = m["ru"]
    if unit.endswith("月"):
        return add_months(today, count)
    if unit in ("天", "日"):
        return today + timedelta(days=count)
    return today + timedelta(weeks=count)


def _number(text: str) -> int:
    """A month or day in digits or Chinese numerals ("11", "十一", "三十一")."""
    return int(text) if text.isdigit() else cn_int(text)


def cn_int(text: str) -> int:
    """Chinese numerals 1–99 as matched by _CN_NUMBER ("十五" → 15, "二十" → 20)."""
    if "十" not in text:
        return _CN_DIGITS[text]
    tens, _, ones = text.partition("十")
    return _CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0)
