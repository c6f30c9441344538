"""The console's settings pages in Chromium: channel preference set by an administrator on
the org page and by a person on the account page (audited; a unit operator cannot reach the
admin form), the working-day calendar page with the missing-year warning and the holiday
notice upload (R6), and the policy snapshot on a matter's page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from models import AuditEntry, ChannelPreference, Node, Person
from scheduler.calendar import package_years
from scheduler.clock import SHANGHAI
from service.config import BoardOverride
from tests.console.conftest import CSRF, LEADER, SUPERVISOR, WATER_A, sign_in
from tests.console.test_console_pages import register

NO_2027 = pytest.mark.skipif(2027 in package_years(), reason="chinesecalendar covers 2027")


async def upload(page, path: Path, text: str) -> None:
    """Send `text` as a holiday notice file from the calendar page."""
    path.write_text(text, encoding="utf-8")
    await page.set_input_files("#holiday-file", str(path))
    await page.click("#holiday-submit")


async def test_admin_sets_a_persons_channel_preference_audited(served, browser):
    page = await sign_in(browser, served, LEADER)
    person = await Person.get(phone=WATER_A)
    await page.goto(f"{served.console}/org")
    form = page.locator(f"#preference-{person.id}")
    await form.locator("select").select_option(ChannelPreference.SMS_ONLY.value)
    await form.locator("button").click()
    assert "接收方式已保存" in await page.locator("#notice").inner_text()
    await person.refresh_from_db()
    assert person.channel_preference is ChannelPreference.SMS_ONLY
    row = await AuditEntry.get(action="channel_preference")
    assert (row.channel, row.actor_label) == ("web", "张区长")
    assert row.detail == {"person": person.id, "old": "both", "new": "sms_only"}
    assert await page.locator(f"#preference-{person.id} select").input_value() == "sms_only"


async def test_unit_operator_cannot_reach_the_admin_preference_form(served, browser):
    page = await sign_in(browser, served, WATER_A)
    assert (await page.goto(f"{served.console}/org")).status == 403
    assert (await page.goto(f"{served.console}/calendar")).status == 403
    await page.goto(f"{served.console}/account")
    token = CSRF.search(await page.content())[1]  # a valid form token of the operator's own
    leader = await Person.get(phone=LEADER)
    response = await page.context.request.post(
        f"{served.console}/org/people/{leader.id}/preference",
        form={"csrf": token, "preference": "sms_only"}, max_redirects=0)
    assert response.status == 403
    await leader.refresh_from_db()
    assert leader.channel_preference is ChannelPreference.BOTH
    assert not await AuditEntry.filter(action="channel_preference").exists()


async def test_person_sets_own_channel_preference_on_account_page(served, browser):
    page = await sign_in(browser, served, WATER_A)
    await page.goto(f"{served.console}/account")
    await page.select_option("#own-preference select", ChannelPreference.MESSENGER_FIRST.value)
    await page.click("#own-preference button")
    assert "接收方式已保存" in await page.locator("#notice").inner_text()
    person = await Person.get(phone=WATER_A)
    assert person.channel_preference is ChannelPreference.MESSENGER_FIRST
    row = await AuditEntry.get(action="channel_preference")
    assert (row.actor_id, row.channel) == (person.id, "web")


@NO_2027
async def test_r6_calendar_page_warns_of_missing_year_and_bad_row_imports_nothing(
        served, browser, tmp_path: Path):
    page = await sign_in(browser, served, LEADER)  # the clock: 23 November 2026
    await page.goto(f"{served.console}/org")
    await page.click("#calendar-link")
    assert "2027 年没有节假日数据" in await page.locator("#missing-2027").inner_text()
    assert await page.locator('tr[data-year="2027"]').get_attribute("data-source") == "missing"
    await upload(page, tmp_path / "notice.csv",
                 "日期,类型,名称\n2027-01-01,放假,元旦\n2027-02-10,上班,春节\n")
    report = await page.locator("#holiday-report").inner_text()
    assert "未导入" in report and "第 3 行" in report and "周一至周五" in report
    assert await page.locator('tr[data-year="2027"]').get_attribute("data-source") == "missing"
    assert await page.locator("#missing-2027").count() == 1


@NO_2027
async def test_r6_good_notice_upload_makes_the_year_imported_and_moves_open_nodes(
        served, browser, clock, tmp_path: Path):
    """On a board counting working days, a matter registered Wed 30 Dec 2026 has its 3d node
    on Mon 4 Jan (2027 counted Monday to Friday); the notice makes 1-3 Jan holidays, so the
    upload moves it to Tue 5 Jan, audited as the administrator's."""
    clock.set(datetime(2026, 12, 30, 10, 0, tzinfo=SHANGHAI))
    served.service.settings.boards = {"daily": BoardOverride(working_days=True)}
    served.service.ctx.policy = served.service.settings.policy()
    matter = await register(served, "疏通排水管网")
    page = await sign_in(browser, served, LEADER)
    await page.goto(f"{served.console}/calendar")
    await upload(page, tmp_path / "notice.yaml",
                 "- {date: 2027-01-01~2027-01-03, kind: 放假, name: 元旦}\n"
                 "- {date: 2027-02-06~2027-02-12, kind: 放假, name: 春节}\n"
                 "- {date: 2027-02-14, kind: 上班, name: 春节}\n")
    report = await page.locator("#holiday-report").inner_text()
    assert "2027 年：放假 10 天，调休上班 1 天" in report and matter.code in report
    row = page.locator('tr[data-year="2027"]')
    assert await row.get_attribute("data-source") == "imported"
    assert await page.locator("#missing-2027").count() == 0
    assert "2027-02-14 周日" in await page.locator("#days").inner_text()
    node = await Node.get(matter=matter, key="3d")
    assert node.due_at == datetime(2027, 1, 5, 10, 0, tzinfo=SHANGHAI)
    entry = await AuditEntry.get(matter=matter, action="calendar")
    assert (entry.channel, entry.actor_label) == ("web", "张区长")


async def test_issue9_part5_matter_page_shows_the_policy_it_was_registered_under(served,
                                                                                 browser):
    matter = await register(served, "疏通排水管网")
    served.service.settings.boards = {"daily": BoardOverride(working_days=True)}
    served.service.ctx.policy = served.service.settings.policy()  # changed after registering
    page = await sign_in(browser, served, SUPERVISOR)
    await page.goto(f"{served.console}/matters/{matter.code}")
    line = await page.locator("#policy").inner_text()
    assert "working_days=no" in line and "cadence=" in line


async def test_console_shows_times_in_the_configured_timezone(served, browser):
    """Known defect of issue 11 (closing note): pages showed Asia/Shanghai whatever the
    `timezone` setting said. The matter page's node times follow the setting."""
    matter = await register(served, "清理河道垃圾")
    node = await Node.filter(matter=matter).order_by("due_at").first()
    page = await sign_in(browser, served, SUPERVISOR)
    for zone in (SHANGHAI, ZoneInfo("UTC")):
        served.service.ctx.tz = zone
        await page.goto(f"{served.console}/matters/{matter.code}")
        shown = node.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        assert shown in await page.locator("main").inner_text()
