"""`duban holidays import FILE` and `duban holidays list`: the State Council's holiday notice
(国务院办公厅关于部分节假日安排的通知) as a file an administrator loads (R6).

One row per holiday or make-up working day, or per run of holidays:

    date,kind,name                     日期,类型,名称
    2027-01-01,holiday,元旦            2027-01-01,放假,元旦
    2027-02-06~2027-02-12,holiday,春节  2027-02-14,上班,春节

CSV (UTF-8 or GBK), XLSX, or YAML (a list of mappings with the same keys). Every row is
checked; one bad row rejects the whole file (a year half imported would count wrong days),
and the report names every bad row. An import replaces each year the file covers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from scheduler.calendar import YearSource
from scheduler.clock import Clock, SystemClock
from service.config import Settings
from service.org_import import FileProblem, read_table, where
from workflow.holidays import (
    HolidayDay,
    calendar_years_status,
    holidays,
    replace_years,
)
from workflow.records import Actor
from workflow.replan import recount_working_days

COLUMNS = {"date": ("date", "日期"), "kind": ("kind", "类型"), "name": ("name", "名称", "节日")}
KINDS = {"holiday": False, "放假": False, "休": False, "假": False,
         "workday": True, "上班": True, "班": True, "调休上班": True}
RANGE_MARKS = ("~", "～", "..", "至")
LONGEST_RUN = 15  # days; the longest statutory run is 8 (Spring Festival, National Day)


@dataclass
class HolidayReport:
    days: list[HolidayDay] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # open matters whose nodes moved

    def text(self) -> str:
        if self.rejected:
            lines = [f"未导入：{len(self.rejected)} 行有错误，请改正后重新导入"]
            return "\n".join(lines + [f"  {where(n)}：{r}" for n, r in sorted(self.rejected)])
        lines = []
        for year in self.years:
            off = sum(1 for d in self.days if d.day.year == year and not d.workday)
            on = sum(1 for d in self.days if d.day.year == year and d.workday)
            lines.append(f"{year} 年：放假 {off} 天，调休上班 {on} 天（已替换该年原有数据）")
        if self.moved:
            lines.append(f"按新日历调整了节点时限的在办事项：{'、'.join(self.moved)}")
        return "\n".join(lines)


async def import_holidays(settings: Settings, path: str | Path, clock: Clock | None = None,
                          actor: Actor | None = None) -> HolidayReport:
    """Check the file; if every row is good, replace its years and move the nodes of the
    open matters that count working days (nothing they had is repeated). `actor`: the
    console's administrator; the CLI by default."""
    clock = clock or SystemClock()
    report = HolidayReport()
    try:
        records = read_records(Path(path))
    except FileProblem as exc:
        report.rejected.append((0, str(exc)))
        return report
    report.days = check_rows(records, report)
    if not report.days and not report.rejected:
        report.rejected.append((0, "文件中没有日期"))
    if report.rejected:
        return report
    report.years = await replace_years(report.days, clock.now())
    ctx = await settings.loaded_context(clock)
    moved = await recount_working_days(ctx, actor or Actor(None, "cli"), report.years)
    report.moved = [m.code for m in moved]
    return report


def read_records(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(row number, {column: text}) for every non-empty row."""
    if path.suffix.lower() in (".yaml", ".yml"):
        return yaml_records(path)
    table = read_table(path)
    if not table:
        raise FileProblem("文件是空的")
    columns = header_columns(table[0])
    return [(number, {k: row[i].strip() if i < len(row) else "" for k, i in columns.items()})
            for number, row in enumerate(table[1:], start=2) if any(c.strip() for c in row)]


def header_columns(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found = {key: next((i for i, h in enumerate(names) if h in aliases), None)
             for key, aliases in COLUMNS.items()}
    missing = [COLUMNS[k][1] for k in ("date", "kind") if found[k] is None]
    if missing:
        raise FileProblem(f"第 1 行（表头）缺少必填列：{'、'.join(missing)}（date/日期, kind/类型）")
    return {k: i for k, i in found.items() if i is not None}


def yaml_records(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FileProblem(f"无法读取 YAML 文件（{exc}）") from None
    if not isinstance(data, list):
        raise FileProblem("YAML 文件应是一个列表，每项写 date、kind、name")
    records = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            item = {"date": str(item)}
        records.append((number, {k: yaml_text(item.get(k)) for k in COLUMNS}))
    return records


def yaml_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def check_rows(records: list[tuple[int, dict[str, str]]], report: HolidayReport
               ) -> list[HolidayDay]:
    """Each row on its own, then clashes between rows (a day listed twice)."""
    seen: dict[date, int] = {}
    days = []
    for number, cells in records:
        try:
            row_days = parse_row(cells)
        except ValueError as exc:
            report.rejected.append((number, str(exc)))
            continue
        for day in row_days:
            if day.day in seen:
                report.rejected.append((number, f"{day.day} 已在第 {seen[day.day]} 行列出"))
                continue
            seen[day.day] = number
            days.append(day)
    return days


def parse_row(cells: dict[str, str]) -> list[HolidayDay]:
    kind = cells.get("kind", "")
    if kind.lower() not in KINDS:
        raise ValueError(f"类型“{kind}”无法识别：写 放假（holiday）或 上班（workday）")
    workday = KINDS[kind.lower()]
    first, last = parse_dates(cells.get("date", ""))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if workday:
        weekdays = [d for d in days if d.weekday() < 5]
        if weekdays:
            raise ValueError(f"调休上班日 {weekdays[0]} 是周一至周五，本来就是工作日："
                             "请核对通知（调休上班日是周六或周日）")
    return [HolidayDay(d, workday, cells.get("name", "")) for d in days]


def parse_dates(text: str) -> tuple[date, date]:
    """"2027-01-01" or a run "2027-02-06~2027-02-12" (also ～, .., 至)."""
    mark = next((m for m in RANGE_MARKS if m in text), None)
    parts = text.split(mark) if mark else [text]
    try:
        days = [one_date(p) for p in parts]
    except ValueError:
        raise ValueError(f"日期“{text}”无法识别：写成 2027-01-01，"
                         "或连续放假写成 2027-02-06~2027-02-12") from None
    first, last = days[0], days[-1]
    if len(days) > 2 or last < first or last.year != first.year:
        raise ValueError(f"日期范围“{text}”不对：起止日期须在同一年，且开始不晚于结束")
    if (last - first).days >= LONGEST_RUN:
        raise ValueError(f"日期范围“{text}”超过 {LONGEST_RUN} 天，请核对")
    return first, last


DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                  r"(?:\s+00:00(?::00)?)?")  # Excel's date cells read as "2027-01-01 00:00:00"


def one_date(text: str) -> date:
    """2027-01-01, 2027/1/1, 2027.1.1 or 2027年1月1日."""
    found = DATE.fullmatch(text.strip())
    if not found:
        raise ValueError(text)
    return date(*(int(g) for g in found.groups()))


SOURCE_NAMES = {YearSource.IMPORTED: "已导入", YearSource.PACKAGE: "软件包数据",
                YearSource.MISSING: "缺少数据（按周一至周五计算工作日）"}


async def holidays_table(year: int | None, today: date) -> str:
    """`duban holidays list`: each year's source, then the imported days."""
    lines = [f"{s.year} 年：{SOURCE_NAMES[s.source]}" for s in await calendar_years_status(today)
             if year is None or s.year == year]
    for row in await holidays(year):
        kind = "调休上班" if row.workday else "放假"
        lines.append(f"  {row.day.isoformat()} 周{WEEKDAYS[row.day.weekday()]} {kind} {row.name}")
    return "\n".join(lines)


WEEKDAYS = "一二三四五六日"
