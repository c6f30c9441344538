"""Issue 9 part 2: the working-day calendar past its data (R6).

`chinesecalendar` has no data after 2026. A year without data is counted Monday to Friday
(and warned about on /healthz from 1 November before it); an administrator's import of the
State Council's notice makes it exact, and moves the open matters' nodes without repeating
anything. The clock's tests run on 30 Dec 2026 (a Wednesday).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from models import AuditEntry, ClockAction, Holiday, Matter, Node, Person, ScoreEvent
from scheduler.calendar import YearSource, package_years
from scheduler.clock import SHANGHAI, VirtualClock
from service.app import build_app, build_service
from service.config import Settings
from service.holidays import holidays_table, import_holidays
from service.plan import plan_table
from workflow.chase import run_clock
from workflow.context import Context
from workflow.feedback import file_feedback
from workflow.holidays import calendar_warning, calendar_years_status, load_calendar

from .conftest import assert_nodes_agree_with_the_clock, register

pytestmark = pytest.mark.skipif(2027 in package_years(), reason="chinesecalendar covers 2027")

WED = datetime(2026, 12, 30, 10, 0, tzinfo=SHANGHAI)
SETTINGS = Settings(boards={"key_work": {"working_days": True}})
NEW_YEAR_2027 = "date,kind,name\n2027-01-01~2027-01-03,holiday,元旦\n"


def sh(month: int, day: int, hour: int = 0, year: int = 2027) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def wed_ctx():
    return Context(clock=VirtualClock(WED), policy=SETTINGS.policy())


async def node_dues(matter: Matter) -> dict[str, datetime]:
    return {n.key: n.due_at for n in await Node.filter(matter=matter)}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_r6_issue9_part2_a_matter_whose_nodes_fall_in_2027_registers_and_plans(org,
                                                                                     wed_ctx):
    matter = await register(wed_ctx, board="key_work")
    # Thu 31 Dec is a working day (package data); 2027 has none: Fri 1 Jan and Mon 4 Jan
    # count as working days, the weekend does not.
    assert await node_dues(matter) == {"1d": sh(12, 31, 10, 2026), "3d": sh(1, 4, 10),
                                       "7d": sh(1, 8, 10)}
    table = await plan_table(SETTINGS, matter.code, timedelta(days=10), wed_ctx.clock)
    assert "2027-01-0" in table and "working_days=yes" in table
    await assert_nodes_agree_with_the_clock(wed_ctx, matter)


async def test_r6_issue9_part2_an_imported_2027_notice_changes_the_plan(org, wed_ctx, tmp_path):
    matter = await register(wed_ctx, board="key_work")
    report = await import_holidays(SETTINGS, write(tmp_path, "2027.csv", NEW_YEAR_2027),
                                   wed_ctx.clock)
    assert not report.rejected and report.years == [2027] and report.moved == [matter.code]
    # 1-3 Jan are holidays now: 3d is Tue 5 Jan, 7d Mon 11 Jan.
    assert await node_dues(matter) == {"1d": sh(12, 31, 10, 2026), "3d": sh(1, 5, 10),
                                       "7d": sh(1, 11, 10)}
    await assert_nodes_agree_with_the_clock(wed_ctx, matter)
    assert await AuditEntry.exists(matter=matter, action="calendar")


async def test_r6_issue10_an_import_recomputes_every_open_matters_next_moment(org, wed_ctx,
                                                                              tmp_path):
    """A restart no longer replans every matter, so the import does it: also for a matter
    that does not count working days (a quarterly summary counts them all the same)."""
    matter = await register(wed_ctx)  # daily: calendar days
    planned = (await Matter.get(id=matter.id)).next_action_at
    await Matter.filter(id=matter.id).update(next_action_at=WED + timedelta(days=300))
    await import_holidays(SETTINGS, write(tmp_path, "2027.csv", NEW_YEAR_2027), wed_ctx.clock)
    assert (await Matter.get(id=matter.id)).next_action_at == planned


async def test_r6_r12_r32_issue9_part2_an_import_after_supervision_never_supervises_again(
        org, tmp_path):
    """Acknowledged at once, the matter's 3d node (Mon 4 Jan, counted Mon-Fri) is supervised
    on Wed 6 Jan. The notice then moves 3d to Tue 5 Jan: a new overdue episode by the
    clock's keys, but nothing already done happens again and no score is charged twice."""
    clock = VirtualClock(WED)
    ctx = Context(clock=clock, policy=SETTINGS.policy())
    matter = await register(ctx, board="key_work")
    clock.set(WED + timedelta(hours=1))
    await file_feedback(ctx, matter, await Person.get(name="李一"), "sms", "收到", ack_only=True)
    await run_hourly(ctx, clock, sh(1, 6, 12))
    assert await scores(matter) == ["urge_episode", "supervised"]
    await import_holidays(SETTINGS, write(tmp_path, "2027.csv", NEW_YEAR_2027), clock)
    assert (await node_dues(matter))["3d"] == sh(1, 5, 10)
    await run_hourly(ctx, clock, sh(1, 12, 12))
    assert await scores(matter) == ["urge_episode", "supervised"]
    assert await ClockAction.filter(matter=matter, kind="supervise", skipped=False).count() == 1
    await assert_nodes_agree_with_the_clock(ctx, matter)


async def run_hourly(ctx: Context, clock: VirtualClock, until: datetime) -> None:
    while clock.now() < until:
        clock.set(clock.now() + timedelta(hours=1))
        await run_clock(ctx)


async def scores(matter: Matter) -> list[str]:
    return [e.reason for e in await ScoreEvent.filter(matter=matter).order_by("id")]


def test_r6_issue9_part2_simulate_runs_a_working_day_scenario_into_2027(tmp_path):
    scenario = {
        "boards": {"key_work": {"working_days": True}},
        "units": [{"id": "dcs", "name": "督查室", "head": {"name": "陈主任", "phone": "13900000001"}},
                  {"id": "water", "name": "水务局", "head": {"name": "王局长", "phone": "13800000001"},
                   "operators": [{"name": "李一", "phone": "13800000002"}]}],
        "matters": [{"code": "K1", "board": "key_work", "title": "年底前完成河道清理",
                     "initiator": "dcs", "lead": "water", "created_at": "2026-12-30T10:00:00"}],
        "events": [{"at": "2027-01-04T09:00:00", "channel": "sms", "from": "13800000002",
                    "text": "K1 收到"}],
        "until": "2027-01-12T00:00:00",
    }
    path = write(tmp_path, "s.yaml", yaml.safe_dump(scenario, allow_unicode=True))
    duban = Path(sys.executable).with_name("duban")
    run = subprocess.run([str(duban), "simulate", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert any(line["at"].startswith("2027-01") for line in lines)
    assert any(line.get("kind") == "supervise" for line in lines)


async def test_r6_issue9_part2_bad_rows_are_named_and_nothing_is_stored(db, tmp_path):
    text = ("日期,类型,名称\n2027-13-01,放假,元旦\n2027-01-04,上班,调休\n"
            "2027-02-06~2027-02-12,放假,春节\n2027-02-07,休息日,春节\n2027-02-08,放假,春节\n")
    report = await import_holidays(SETTINGS, write(tmp_path, "bad.csv", text),
                                   VirtualClock(WED))
    rows = dict(report.rejected)
    assert sorted(rows) == [2, 3, 5, 6]
    assert "2027-13-01" in rows[2] and "周一至周五" in rows[3] and "休息日" in rows[5]
    assert "第 4 行" in rows[6]
    assert await Holiday.all().count() == 0
    assert "未导入" in report.text()


async def test_r6_issue9_part2_a_reimport_replaces_the_year_and_yaml_works(db, tmp_path):
    clock = VirtualClock(WED)
    first = "date,kind,name\n2027-01-01~2027-01-03,holiday,元旦\n2027-01-09,workday,调休\n"
    await import_holidays(SETTINGS, write(tmp_path, "a.csv", first), clock)
    assert await Holiday.filter(year=2027).count() == 4
    second = [{"date": date(2027, 1, 1), "kind": "放假", "name": "元旦"},
              {"date": "2027-02-06~2027-02-12", "kind": "放假", "name": "春节"},
              {"date": "2027-02-20", "kind": "上班", "name": "春节"}]
    report = await import_holidays(SETTINGS, write(tmp_path, "b.yaml", yaml.safe_dump(
        second, allow_unicode=True)), clock)
    assert report.text().startswith("2027 年：放假 8 天，调休上班 1 天")
    days = {h.day: h.workday for h in await Holiday.filter(year=2027)}
    assert len(days) == 9 and date(2027, 1, 2) not in days and days[date(2027, 2, 20)]
    calendar = await load_calendar()
    assert calendar.is_workday(date(2027, 2, 20)) and not calendar.is_workday(date(2027, 2, 8))
    assert calendar.is_workday(date(2027, 1, 4))  # not listed: Monday to Friday
    listing = await holidays_table(2027, date(2026, 12, 1))
    assert "2027 年：已导入" in listing and "2027-02-20 周六 调休上班 春节" in listing


async def test_r6_issue9_part2_each_years_source_for_the_console(db, tmp_path):
    status = {s.year: s.source for s in await calendar_years_status(date(2026, 12, 1))}
    assert status[2026] is YearSource.PACKAGE and status[2027] is YearSource.MISSING
    await import_holidays(SETTINGS, write(tmp_path, "a.csv", NEW_YEAR_2027), VirtualClock(WED))
    status = {s.year: s for s in await calendar_years_status(date(2026, 12, 1))}
    assert status[2027].source is YearSource.IMPORTED and status[2027].holidays == 3


@pytest.mark.parametrize(("today", "missing"), [
    (date(2026, 10, 31), []), (date(2026, 11, 1), [2027]), (date(2027, 3, 1), [2027])])
async def test_r6_issue9_part2_healthz_warns_of_a_missing_year_from_1_november(db, today,
                                                                            missing):
    clock = VirtualClock(datetime.combine(today, datetime.min.time(), SHANGHAI))
    service = build_service(Settings(), clock)
    async with TestServer(build_app(service)) as server, ClientSession() as http, \
            http.get(server.make_url("/healthz")) as response:
        body = await response.json()
    assert body["calendar"] == {"missing_years": missing}
    assert await calendar_warning(service.ctx) == {"missing_years": missing}


async def test_r6_issue9_part2_an_excel_notice_with_date_cells_and_chinese_dates(db, tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["日期", "类型", "名称"])
    sheet.append([datetime(2027, 1, 1), "放假", "元旦"])  # a real Excel date cell
    sheet.append(["2027年2月6日~2027年2月12日", "放假", "春节"])
    sheet.append(["2027/2/14", "上班", "春节"])
    workbook.save(tmp_path / "2027.xlsx")
    report = await import_holidays(SETTINGS, tmp_path / "2027.xlsx", VirtualClock(WED))
    assert not report.rejected and await Holiday.filter(year=2027).count() == 9
