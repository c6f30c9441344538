"""The other console pages in Chromium: registration errors next to their fields (R1, R2,
code grammar), the overview's lights and a message of unknown outcome, the matters filter
and keyset paging, a raw `<script>` reply shown as text, scores with the SVG chart (R33),
org import with row errors. With DUBAN_SCREENSHOTS=docs/console the pages are saved there
for the README (phone and desktop widths)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from dispatch.channel import InboundText
from models import AuditEntry, Matter, MessageStatus, OutboundMessage, Unit
from tests.console.conftest import LEADER, SUPERVISOR, WATER_A, drain, sign_in
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

SHOTS = os.environ.get("DUBAN_SCREENSHOTS")


async def shot(page, name: str, tmp_path: Path) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def register(served, title: str, lead: str = "water", code: str | None = None) -> Matter:
    return await register_matter(served.service.ctx, MatterDraft(
        board="daily", title=title, initiator="ducha", lead=lead, approver="张副区长",
        approved_on=date(2026, 11, 20), not_classified=True, code=code), Actor(None, "cli"))


async def test_r1_r2_register_form_shows_each_error_next_to_its_field(served, browser, tmp_path):
    page = await sign_in(browser, served, SUPERVISOR)
    assert await page.locator("#dev-banner").count() == 1  # development mode says so
    await page.goto(f"{served.console}/register")
    await page.fill("#title", "核查机密文件流转")
    await page.fill("#code", "D-17")
    await page.select_option("#lead", "water")
    await page.click("#register-submit")
    assert "字母" in await page.locator("#error-code").inner_text()  # code grammar
    assert await page.locator("#error-approver").count() == 1  # R1
    await page.fill("#code", "")
    await page.fill("#approver", "张副区长")
    await page.fill("#approved_on", "2026-11-20")
    await page.click("#register-submit")
    assert "不涉密" in await page.locator("#error-not_classified").inner_text()  # R2
    await page.check("#not_classified")
    await page.click("#register-submit")
    assert "密级" in await page.locator("#error-title").inner_text()  # R2: the mark
    await shot(page, "register", tmp_path)
    assert not await Matter.exists()


async def test_overview_lights_unknown_message_and_script_shown_as_text(served, browser,
                                                                        tmp_path):
    d1 = await register(served, "清理辖区河道垃圾")
    await register(served, "修复城区破损路面", lead="roads")
    await drain(served.service)
    row = await OutboundMessage.filter(matter=d1, channel="sms").first()
    await OutboundMessage.filter(id=row.id).update(status=MessageStatus.UNKNOWN)
    await served.service.sink.inbound(InboundText(channel="sms", sender=WATER_A,
                                                  text="D1 进展 <script>alert(1)</script>已清理三处"))
    await served.service.replies.run_once()  # the reply worker's step (issue 10)
    page = await sign_in(browser, served, LEADER)  # the office's head administers
    assert await page.locator("#lights .light.green").count() == 2
    assert "区水务局" not in await page.locator("#boards").inner_text()
    await page.set_viewport_size({"width": 1200, "height": 800})
    await shot(page, "overview", tmp_path)
    await page.click(f'tr[data-message="{row.id}"] button:text("确认已送达")')
    await page.locator(".notice").wait_for()
    assert (await OutboundMessage.get(id=row.id)).status is MessageStatus.DELIVERED
    assert await AuditEntry.filter(action="message_delivered", channel="web").exists()

    await page.goto(f"{served.console}/matters/D1")
    raw = page.locator("#timeline li.in .raw")
    assert await raw.inner_text() == "D1 进展 <script>alert(1)</script>已清理三处"
    assert await page.locator("#timeline script").count() == 0
    await shot(page, "matter", tmp_path)
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, "matter-phone", tmp_path)


async def test_matters_filter_and_keyset_paging(served, browser, tmp_path):
    for number in range(1, 56):
        await register(served, f"事项{number:02d}", lead="roads" if number % 5 else "water")
    page = await sign_in(browser, served, SUPERVISOR)
    await page.goto(f"{served.console}/matters?unit=water")
    assert await page.locator("#matters tbody tr").count() == 11
    await page.goto(f"{served.console}/matters")
    first = await page.locator("#matters tbody tr").count()
    await shot(page, "matters", tmp_path)
    await page.click("#next")
    second = await page.locator("#matters tbody tr").count()
    assert (first, second) == (50, 5)
    assert "D1" in await page.locator("#matters").inner_text()
    await page.goto(f"{served.console}/matters?q=D7")
    assert await page.locator("#matters tbody tr").count() == 1
    await page.goto(f"{served.console}/matters?light=red")
    assert "没有符合条件" in await page.locator("#matters").inner_text()


async def test_r33_scores_chart_and_org_import_with_row_errors(served, browser, tmp_path):
    d1 = await register(served, "清理辖区河道垃圾")
    from workflow.records import add_score

    await add_score(d1, "-0.5", "supervised", served.service.ctx.clock.now())
    d2 = await register(served, "修复城区破损路面", lead="roads")
    await add_score(d2, "0.1", "grade:优秀", served.service.ctx.clock.now())
    page = await sign_in(browser, served, LEADER)
    await page.goto(f"{served.console}/scores?year=2026")
    assert await page.locator("#chart rect.neg").count() == 1
    assert await page.locator("#chart rect.pos").count() == 1
    assert "-0.5" in await page.locator("#ranking").inner_text()
    await shot(page, "scores", tmp_path)
    await page.click("#ranking a:text('区水务局')")
    assert "被督办" in await page.locator("#events").inner_text()

    upload = tmp_path / "org.csv"
    upload.write_text("unit_key,unit_name,name,role,phone\n"
                      "parks,区园林局,孙四,A岗,13600000002\n"
                      "parks,区园林局,周五,B岗,12\n", encoding="utf-8")
    await page.goto(f"{served.console}/org")
    await page.set_input_files("#file", str(upload))
    await page.click("#import-submit")
    report = await page.locator("#import-report").inner_text()
    assert "第 3 行" in report
    await shot(page, "org", tmp_path)
    assert await Unit.exists(key="parks")
