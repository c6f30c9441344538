"""The console served for real on loopback, beside the webhook app (whose /dev/sms page
shows the login codes), an organisation to sign in with, and a Chromium to drive it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from console.app import build_console_app
from console.auth import send_code
from models import BoardInitiator, MessageStatus, OutboundMessage, Person, Role, Unit
from service.app import Service, build_app, build_service
from service.config import Settings

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SUPERVISOR, LEADER = "+8613900000002", "+8613900000001"  # LEADER: the office head, admin
WATER_A, WATER_HEAD, ROADS_A = "+8613800000002", "+8613800000001", "+8613700000002"
CODE = re.compile(r"验证码：(\d{6})")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def client():
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def csrf_of(client, url: str) -> str:
    async with client.get(url) as response:
        return CSRF.search(await response.text())[1]


async def login(client, served, phone: str) -> aiohttp.ClientResponse:
    token = await csrf_of(client, f"{served.console}/login")
    code = await send_code(phone, served.service.ctx.clock.now())
    return await client.post(f"{served.console}/login", allow_redirects=False,
                             data={"csrf": token, "phone": phone, "code": code})


async def seed_org() -> None:
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    water = await Unit.create(key="water", name="区水务局")
    roads = await Unit.create(key="roads", name="区交通局")
    await BoardInitiator.create(board="daily", initiator=ducha)
    await Person.create(unit=ducha, name="张区长", role=Role.HEAD, phone=LEADER)
    await Person.create(unit=ducha, name="陈督办", role=Role.SUPERVISOR, phone=SUPERVISOR)
    await Person.create(unit=water, name="王局长", role=Role.HEAD, phone=WATER_HEAD)
    await Person.create(unit=water, name="李一", role=Role.OPERATOR_A, phone=WATER_A)
    await Person.create(unit=water, name="赵二", role=Role.OPERATOR_B, phone="+8613800000003")
    await Person.create(unit=roads, name="钱三", role=Role.OPERATOR_A, phone=ROADS_A)


@dataclass
class Served:
    service: Service
    console: str  # base URL of the console
    webhooks: str  # base URL of the webhook app (/dev/sms)


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def served(db, clock):
    await seed_org()
    service = build_service(Settings(database_url=db, development=True), clock=clock)
    console, console_base = await start(build_console_app(service))
    hooks, hooks_base = await start(build_app(service))
    yield Served(service, console_base, hooks_base)
    await console.cleanup()
    await hooks.cleanup()


@pytest.fixture
async def browser(chromium):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def drain(service: Service) -> None:
    """Ticks and dispatcher steps until every due message is out."""
    for _ in range(20):
        await service.tick()
        await service.dispatcher.run_once()  # the dispatcher loop's step
        if not await OutboundMessage.filter(status=MessageStatus.PENDING).exists():
            return


async def sign_in(browser, served: Served, phone: str):
    """A fresh browser context signed in as `phone` with the code the development SMS
    channel shows on /dev/sms. Returns the page, on the overview."""
    context = await browser.new_context(accept_downloads=True)
    context.set_default_timeout(8000)
    page = await context.new_page()
    await page.goto(f"{served.console}/login")
    await page.fill("#phone", phone)
    await page.click("#send-code")
    await page.locator("#login-notice").wait_for()
    await drain(served.service)  # the dispatcher sends the code SMS
    dev = await context.new_page()
    await dev.goto(f"{served.webhooks}/dev/sms")
    code = CODE.findall(await dev.locator(f'section[data-phone="{phone}"]').inner_text())[-1]
    await dev.close()
    await page.fill("#code", code)
    await page.click("#sign-in")
    await page.locator("#viewer-name").wait_for()
    return page
