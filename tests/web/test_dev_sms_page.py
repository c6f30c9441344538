"""The development SMS page in a real headless Chromium: read what a phone received, reply
as that phone, and see the reply take effect (R3, R15, R36)."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from aiohttp import web

from models import Matter, MatterState, Person, Role, Unit
from service.app import build_app, build_service
from service.config import Settings
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.usefixtures("chromium")  # skipped visibly without it, failed in CI
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def seed() -> None:
    water = await Unit.create(key="water", name="区水务局")
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=water, name="王局长", role=Role.HEAD, phone="+8613800000001")
    await Person.create(unit=water, name="李一", role=Role.OPERATOR_A, phone="+8613800000002")
    await Person.create(unit=water, name="赵二", role=Role.OPERATOR_B, phone="+8613800000003")
    await Person.create(unit=ducha, name="陈主任", role=Role.HEAD, phone="+8613900000001")


@pytest.fixture
async def served(db, clock):
    await seed()
    service = build_service(Settings(database_url=db, development=True), clock=clock)
    await register_matter(service.ctx, MatterDraft(
        board="daily", title="清理辖区河道垃圾", initiator="ducha", lead="water",
        approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True, code="D1"),
        Actor(None, "web"))
    await service.tick()
    await service.dispatcher.run_once()  # the dispatcher loop's step
    runner = web.AppRunner(build_app(service))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield service, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_r3_r36_dev_sms_page_shows_notice_and_takes_a_reply(served, tmp_path):
    from playwright.async_api import async_playwright

    service, base = served
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(f"{base}/dev/sms")
        operator = page.locator('section[data-phone="+8613800000002"]')
        await operator.get_by_text("新交办督办事项D1").wait_for()
        assert "回复“D1 收到”确认" in await operator.inner_text()

        await page.fill("#phone", "+8613800000002")
        await page.fill("#text", "D1 收到，已安排李一办理")
        await page.click("#reply button")
        await page.locator("#notice").wait_for()
        await service.replies.run_once()  # the reply worker's step (issue 10)
        await service.tick()  # the answer goes out
        await service.dispatcher.run_once()  # the dispatcher loop's step
        await page.reload()
        await operator.get_by_text("D1 收到，已安排李一办理").wait_for()
        await page.screenshot(path=str(tmp_path / "dev_sms.png"), full_page=True)
        text = await operator.inner_text()
        await browser.close()
    matter = await Matter.get(code="D1")
    assert matter.state is MatterState.ACKNOWLEDGED
    assert "D1" in text.split("D1 收到，已安排李一办理")[0]


async def test_dev_sms_page_refuses_a_bad_phone_and_changes_nothing(served):
    from playwright.async_api import async_playwright

    _, base = served
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(f"{base}/dev/sms")
        await page.fill("#phone", "12")
        await page.fill("#text", "D1 收到")
        await page.click("#reply button")
        assert "手机号无效" in await page.locator("#notice").inner_text()
        await browser.close()
    assert (await Matter.get(code="D1")).state is MatterState.ASSIGNED
