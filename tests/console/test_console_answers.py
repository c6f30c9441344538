"""A unit reports progress and applies for an extension on the console, the supervisor
returns the report and approves the extension (R7, R16, R17), and a refusal of the rules
is shown on the page and changes nothing — the same service as an SMS reply, channel web."""

from __future__ import annotations

from models import Application, AuditEntry, Feedback, Matter, MatterState
from tests.console.conftest import SUPERVISOR, WATER_A, sign_in
from tests.console.test_console_pages import register


async def answer(page, what: str, text: str = "", new_deadline: str = "") -> None:
    await page.select_option("#what", what)
    await page.fill("#answer-text", text)
    if new_deadline:
        await page.fill("#new-deadline", new_deadline)
    await page.click("#answer-submit")


async def test_r7_r16_r17_progress_return_and_extension_on_the_console(served, browser):
    await register(served, "清理辖区河道垃圾")
    unit = await sign_in(browser, served, WATER_A)
    await unit.goto(f"{served.console}/matters/D1")
    await answer(unit, "progress")
    assert "请填写内容" in await unit.locator("#refused").inner_text()
    await answer(unit, "progress", "已清理三处垃圾点")
    await unit.locator("#notice").wait_for()
    assert (await Matter.get(code="D1")).state is MatterState.IN_PROGRESS

    supervisor = await sign_in(browser, served, SUPERVISOR)
    await supervisor.goto(f"{served.console}/matters/D1")
    await supervisor.fill("#return-reason", "未附现场照片")
    await supervisor.click("#return-submit")
    await supervisor.locator("#notice").wait_for()
    assert (await Feedback.get(channel="web", ack_only=False)).return_reason == "未附现场照片"
    assert (await Matter.get(code="D1")).state is MatterState.RETURNED

    await unit.reload()
    await answer(unit, "extension", "需等枯水期清淤，由李一负责", "2026-11-20")
    assert "不晚于现时限" in await unit.locator("#refused").inner_text()  # R17
    assert not await Application.exists()
    await answer(unit, "extension", "需等枯水期清淤，由李一负责", "2026-12-31")
    await unit.locator("#notice").wait_for()
    await supervisor.goto(f"{served.console}/queue")
    await supervisor.click("#queue a")
    await supervisor.click("#approve-submit")
    await supervisor.locator("#notice").wait_for()
    assert (await Matter.get(code="D1")).state is MatterState.CONTINUING
    actions = await AuditEntry.filter(channel="web").order_by("id").values_list("action",
                                                                              flat=True)
    assert [a for a in actions if not a.startswith("login")] == [
        "report", "return", "request_extension", "approve_extension"]
