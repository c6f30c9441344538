"""The console in a real headless Chromium, end to end: sign in with the code the
development SMS channel shows, register a matter (R1, R2), see its notice go out (R3),
answer it as the unit (R7, R27), grade and approve it as the initiator (R29, R30), export
the ledger (R34), and the role refusals."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import openpyxl

from models import AuditEntry, Feedback, Matter, MatterState
from tests.console.conftest import LEADER, ROADS_A, SUPERVISOR, WATER_A, drain, sign_in


async def register_d1(page, base: str) -> None:
    await page.goto(f"{base}/register")
    await page.fill("#title", "清理辖区河道垃圾")
    await page.select_option("#lead", "water")
    await page.fill("#approver", "张副区长")
    await page.fill("#approved_on", "2026-11-20")
    await page.check("#not_classified")
    await page.click("#register-submit")
    await page.locator("#notice").wait_for()


async def test_r1_r3_r27_r29_r30_whole_matter_on_the_console(served, browser, tmp_path):
    supervisor = await sign_in(browser, served, SUPERVISOR)
    await register_d1(supervisor, served.console)
    assert "D1 清理辖区河道垃圾" in await supervisor.locator("#matter-title").inner_text()
    await drain(served.service)  # R3: the assignment notice goes out
    await supervisor.reload()
    timeline = await supervisor.locator("#timeline").inner_text()
    assert "发出交办通知 → 李一" in timeline and "已提交" in timeline

    unit = await sign_in(browser, served, WATER_A)
    await unit.goto(f"{served.console}/matters/D1")
    await unit.select_option("#what", "ack")
    await unit.click("#answer-submit")
    await unit.locator("#notice").wait_for()
    await unit.select_option("#what", "completion")
    await unit.fill("#answer-text", "<script>alert('x')</script>河道垃圾已全部清理")
    await unit.click("#answer-submit")
    await unit.locator("#notice").wait_for()
    assert (await Matter.get(code="D1")).state is MatterState.COMPLETION_REQUESTED
    assert await AuditEntry.filter(channel="web", action="request_completion").exists()
    assert await Feedback.filter(channel="web", ack_only=True).exists()

    await supervisor.goto(f"{served.console}/queue")
    await supervisor.click("#queue a")
    assert "<script>alert('x')</script>" in await supervisor.locator("blockquote").inner_text()
    await supervisor.select_option("#grade", "良好")
    await supervisor.click("#grade-submit")
    await supervisor.locator("#notice").wait_for()
    await supervisor.click("#approve-submit")
    assert "分管领导" in await supervisor.locator("#notice").inner_text()  # R30: reviewed

    leader = await sign_in(browser, served, LEADER)
    await leader.goto(f"{served.console}/matters/D1")
    await leader.click("#approve-submit")
    await leader.locator("#notice").wait_for()
    assert (await Matter.get(code="D1")).state is MatterState.CLOSED
    await leader.screenshot(path=str(tmp_path / "matter.png"), full_page=True)

    async with supervisor.expect_download() as info:
        await supervisor.goto(f"{served.console}/matters")
        await supervisor.click("#export")
    data = Path(await (await info.value).path()).read_bytes()
    workbook = openpyxl.load_workbook(BytesIO(data))
    rows = list(workbook.worksheets[0].values)
    assert rows[0][0] == "编号" and rows[1][0] == "D1" and rows[1][14] == "良好"


async def test_a_unit_never_sees_or_decides_another_units_matter(served, browser):
    supervisor = await sign_in(browser, served, SUPERVISOR)
    await register_d1(supervisor, served.console)
    other = await sign_in(browser, served, ROADS_A)
    response = await other.goto(f"{served.console}/matters/D1")
    assert response.status == 403
    assert "河道" not in await other.content()
    await other.goto(f"{served.console}/matters?q=河道")
    assert "河道" not in await other.locator("#matters").inner_text()
    await other.goto(f"{served.console}/")
    assert "河道" not in await other.content()

    unit = await sign_in(browser, served, WATER_A)
    await unit.goto(f"{served.console}/matters/D1")
    assert await unit.locator("#approve-submit").count() == 0  # not offered to the own unit
    assert (await unit.goto(f"{served.console}/register")).status == 403
    assert (await unit.goto(f"{served.console}/org")).status == 403
    assert (await unit.goto(f"{served.console}/matters.xlsx")).status == 403
