"""Deadline expressions for extension requests (R17): replies.dates."""

from datetime import date, timedelta

import pytest

from replies.dates import add_months, find_date, month_end, weekday_on_or_after

MONDAY = date(2026, 11, 23)  # the corpus' default message day
WEEK = [MONDAY + timedelta(days=i) for i in range(7)]  # Mon 11-23 … Sun 11-29
FRIDAY = 4


def value(text: str, today: date = MONDAY) -> date | None:
    found = find_date(text, today)
    assert found is not None, text
    return found.value


# --- helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "last"),
    [
        (2026, 1, 31),
        (2026, 2, 28),
        (2028, 2, 29),  # leap year
        (2000, 2, 29),  # divisible by 400: leap
        (2100, 2, 28),  # divisible by 100 only: not leap
        (2026, 4, 30),
        (2026, 12, 31),
    ],
)
def test_month_end(year, month, last):
    assert month_end(year, month) == date(year, month, last)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # clamped to the shorter month
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap February
        (date(2026, 12, 15), 1, date(2027, 1, 15)),  # year rollover
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 11, 23), 12, date(2027, 11, 23)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 5, 31), 0, date(2026, 5, 31)),
    ],
)
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize("today", WEEK, ids=[d.strftime("%a") for d in WEEK])
def test_r17_next_friday_from_each_weekday(today):
    # Monday starts a week, so 下周五 is the same day for every day of this week.
    assert weekday_on_or_after(today, FRIDAY, next_week=True) == date(2026, 12, 4)
    assert value("下周五", today) == date(2026, 12, 4)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (WEEK[0], date(2026, 11, 27)),
        (WEEK[1], date(2026, 11, 27)),
        (WEEK[2], date(2026, 11, 27)),
        (WEEK[3], date(2026, 11, 27)),
        (WEEK[4], date(2026, 11, 27)),  # Friday itself: today
        (WEEK[5], date(2026, 12, 4)),  # past this week's Friday: the next one
        (WEEK[6], date(2026, 12, 4)),
    ],
    ids=[d.strftime("%a") for d in WEEK],
)
def test_r17_this_friday_from_each_weekday(today, expected):
    assert weekday_on_or_after(today, FRIDAY) == expected
    assert value("周五", today) == expected
    assert value("本周五", today) == expected


def test_next_monday_from_sunday_is_tomorrow():
    assert value("下周一", WEEK[6]) == date(2026, 11, 30)


@pytest.mark.parametrize("text", ["周日", "周天", "星期日", "星期天", "礼拜天", "周7"])
def test_sunday_spellings_end_the_week(text):
    assert value(text) == date(2026, 11, 29)


# --- every form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-31", date(2026, 12, 31)),
        ("2026/12/31", date(2026, 12, 31)),
        ("2026.12.31", date(2026, 12, 31)),
        ("2027-1-5", date(2027, 1, 5)),
        ("2026年12月31日", date(2026, 12, 31)),
        ("2026年12月31号", date(2026, 12, 31)),
        ("2027年2月底", date(2027, 2, 28)),
        ("2027年底", date(2027, 12, 31)),
        ("12月31日", date(2026, 12, 31)),
        ("12月31号", date(2026, 12, 31)),
        ("12月31", date(2026, 12, 31)),
        ("12-31", date(2026, 12, 31)),
        ("12.31", date(2026, 12, 31)),
        ("12/31", date(2026, 12, 31)),
        ("12月底", date(2026, 12, 31)),
        ("月底", date(2026, 11, 30)),
        ("本月底", date(2026, 11, 30)),
        ("这个月底", date(2026, 11, 30)),
        ("月末", date(2026, 11, 30)),
        ("下月底", date(2026, 12, 31)),
        ("下个月底", date(2026, 12, 31)),
        ("年底", date(2026, 12, 31)),
        ("今年底", date(2026, 12, 31)),
        ("明年底", date(2027, 12, 31)),
        ("周五", date(2026, 11, 27)),
        ("本周五", date(2026, 11, 27)),
        ("这周五", date(2026, 11, 27)),
        ("星期五", date(2026, 11, 27)),
        ("礼拜五", date(2026, 11, 27)),
        ("周5", date(2026, 11, 27)),
        ("下周五", date(2026, 12, 4)),
        ("下星期五", date(2026, 12, 4)),
        ("下礼拜五", date(2026, 12, 4)),
        ("下个星期五", date(2026, 12, 4)),
        ("3天后", date(2026, 11, 26)),
        ("三天后", date(2026, 11, 26)),
        ("十五天后", date(2026, 12, 8)),
        ("二十天内", date(2026, 12, 13)),
        ("两周后", date(2026, 12, 7)),
        ("2个星期后", date(2026, 12, 7)),
        ("1个月后", date(2026, 12, 23)),
        ("一个月后", date(2026, 12, 23)),
        ("两个月之后", date(2027, 1, 23)),
        ("3个月内", date(2027, 2, 23)),
        ("12个月后", date(2027, 11, 23)),
    ],
)
def test_r17_extension_date_forms(text, expected):
    assert value(text) == expected


# --- year-less dates and year rollover ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("12月25日", date(2026, 12, 20), date(2026, 12, 25)),
        ("12月20日", date(2026, 12, 20), date(2026, 12, 20)),  # today itself
        ("3月19日", date(2026, 12, 20), date(2027, 3, 19)),  # a quarter behind: next year
        ("1月10日", date(2026, 12, 20), date(2027, 1, 10)),
        ("1-10", date(2026, 12, 20), date(2027, 1, 10)),
        ("1月底", date(2026, 12, 20), date(2027, 1, 31)),
        ("12月底", date(2026, 12, 20), date(2026, 12, 31)),
        ("下月底", date(2026, 12, 20), date(2027, 1, 31)),
        ("年底", date(2026, 12, 31), date(2026, 12, 31)),
    ],
)
def test_yearless_dates_roll_over_the_year(text, today, expected):
    assert value(text, today) == expected


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("2028-02-29", MONDAY, date(2028, 2, 29)),
        ("2027-02-29", MONDAY, None),
        ("2月29日", date(2027, 11, 23), date(2028, 2, 29)),  # rolls into a leap year
        ("2月29日", date(2028, 1, 10), date(2028, 2, 29)),
        ("2月29日", date(2028, 6, 1), None),  # rolls into 2029: no such day
        ("2月29日", MONDAY, None),  # 2027 is not a leap year
        ("2月底", date(2027, 11, 23), date(2028, 2, 29)),
        ("月底", date(2028, 2, 10), date(2028, 2, 29)),
        ("下月底", date(2028, 1, 10), date(2028, 2, 29)),
        ("1个月后", date(2028, 1, 31), date(2028, 2, 29)),
    ],
)
def test_leap_years(text, today, expected):
    assert value(text, today) == expected


def test_month_end_uses_the_current_month_on_its_last_day():
    assert value("月底", date(2026, 11, 30)) == date(2026, 11, 30)


# --- what is not a (valid) date ------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["2月30日", "2026-02-30", "2026年13月1日", "13月5日", "4月31日", "12月32日", "2/30"]
)
def test_impossible_dates_have_no_value(text):
    found = find_date(text, MONDAY)
    assert found is not None and found.value is None
    assert found.fragment == text


@pytest.mark.parametrize(
    "text",
    [
        "设备未到货",
        "延期3个月",  # relative to the old deadline, which the parser does not know
        "管网还差1.5公里",
        "资金缺口3.2万元",
        "完成率85.5%",
        "每周五报送",
        "上周五已说明",
        "去年底已报备",
        "上月底已上报",
        "下下周五",  # not supported rather than misread as 下周五
        "版本1.2.3",
        "2026-12",
        "13800138000",
    ],
)
def test_not_a_date(text):
    assert find_date(text, MONDAY) is None


def test_first_date_wins():
    found = find_date("12月15日完成设备安装,12月31日完工", MONDAY)
    assert found is not None and found.value == date(2026, 12, 15)


def test_span_includes_connector_words():
    text = "因设备未到货,延期至12月31日前完成"
    found = find_date(text, MONDAY)
    assert found is not None
    assert text[found.start : found.end] == "延期至12月31日前"
    assert found.fragment == "12月31日"


def test_jiezhi_connector_is_part_of_the_span():
    found = find_date("截止2026年12月31日", MONDAY)
    assert found is not None and (found.start, found.fragment) == (0, "2026年12月31日")


def test_dates_past_the_year_9999_have_no_value():
    end_of_time = date(9999, 12, 30)
    for text in ["下月底", "999个月后", "999天后", "明年底", "1月5日"]:
        found = find_date(text, end_of_time)
        assert found is not None and found.value is None, text


# --- Chinese numerals, days of a month, holidays, and what is asked back -------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("十一月底", date(2026, 11, 30)),
        ("十二月底", date(2026, 12, 31)),
        ("元月十号", date(2027, 1, 10)),
        ("一月十五日", date(2027, 1, 15)),
        ("十二月三十一号", date(2026, 12, 31)),
        ("十二月二十日", date(2026, 12, 20)),
        ("下个月20号", date(2026, 12, 20)),
        ("下月20号", date(2026, 12, 20)),
        ("下月二十号", date(2026, 12, 20)),
        ("本月28日", date(2026, 11, 28)),
        ("1.15", date(2027, 1, 15)),
        ("1-15", date(2027, 1, 15)),
        ("1月15号", date(2027, 1, 15)),
        ("25号", date(2026, 11, 25)),  # still ahead this month
        ("十五号", date(2026, 12, 15)),  # behind: next month
        ("23号", date(2026, 11, 23)),  # today
        ("15日内", date(2026, 12, 8)),  # a span, not the 15th
        ("春节前", date(2027, 2, 5)),
        ("过年前", date(2027, 2, 5)),
        ("元旦前", date(2026, 12, 31)),
        ("国庆前", date(2027, 9, 30)),
    ],
)
def test_r17_chinese_numerals_days_and_holidays(text, expected):
    assert value(text) == expected


def test_spring_festival_of_the_current_year_while_still_ahead():
    assert value("春节前", date(2027, 1, 10)) == date(2027, 2, 5)


def test_spring_festival_of_a_year_the_table_lacks_is_asked_back():
    found = find_date("春节前", date(2035, 3, 1))
    assert found is not None and found.value is None and found.ambiguous == "vague"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("腊月二十", "lunar"),
        ("正月十五", "lunar"),
        ("冬月底", "lunar"),
        ("农历十月初八", "lunar"),
        ("初八", "lunar"),
        ("下月", "vague"),
        ("下个月", "vague"),
        ("下周", "vague"),
        ("月中", "vague"),
        ("12月中旬", "vague"),
        ("12月份", "vague"),
        ("下月初", "vague"),
        ("年前", "vague"),
        ("31号", "vague"),  # November has no 31st
        ("11月20日", "vague"),  # three days ago, or next year? a typo is likelier
        ("10月底", "vague"),
    ],
)
def test_ambiguous_dates_have_no_value_and_say_why(text, why):
    found = find_date(text, MONDAY)
    assert found is not None and found.value is None and found.ambiguous == why


def test_a_precise_date_after_a_vague_one_wins():
    found = find_date("下月,具体为12月20日", MONDAY)
    assert found is not None and found.value == date(2026, 12, 20)


@pytest.mark.parametrize("text", ["3号楼", "2号线", "1号文件", "第3号"])
def test_numbered_things_are_no_days(text):
    assert find_date(text, MONDAY) is None
