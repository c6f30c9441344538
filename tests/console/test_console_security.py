"""Sign-in and session security over real HTTP: CSRF refusals, lockout after wrong codes,
single-use codes, security headers, Secure cookies behind a trusted HTTPS proxy, logout
and an administrator ending a person's sessions. Every login is audited."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from console.auth import MAX_FAILURES, send_code
from models import AuditEntry, ConsolePassword, ConsoleSession, LoginLock, OutboundMessage
from tests.console.conftest import LEADER, ROADS_A, SUPERVISOR, WATER_A, csrf_of, login


async def test_security_headers_on_every_response(served, client):
    for path in ("/login", "/static/console.css", "/matters/D1", "/api/v1/openapi.json"):
        async with client.get(served.console + path, allow_redirects=False) as response:
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_login_code_goes_through_the_outbox_and_is_single_use(served, client):
    response = await login(client, served, WATER_A)
    assert response.status == 302 and response.headers["Location"] == "/"
    cookie = response.cookies["duban_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    row = await OutboundMessage.get(kind="login_code")
    assert row.channel == "sms" and row.address == WATER_A
    assert await AuditEntry.filter(action="login", channel="web").count() == 1
    # The same code again is refused.
    token = await csrf_of(client, f"{served.console}/login")
    again = await client.post(f"{served.console}/login", data={
        "csrf": token, "phone": WATER_A, "code": row.context["login_code"]})
    assert again.status == 400


async def test_csrf_refused_without_the_token(served, client):
    response = await client.post(f"{served.console}/login/code", data={"phone": WATER_A})
    assert response.status == 403
    assert not await OutboundMessage.exists()
    await login(client, served, SUPERVISOR)
    response = await client.post(f"{served.console}/logout", data={"csrf": "forged"},
                                 allow_redirects=False)
    assert response.status == 403
    assert await ConsoleSession.filter(ended_at=None).count() == 1


async def test_wrong_codes_lock_the_number(served, client):
    token = await csrf_of(client, f"{served.console}/login")
    code = await send_code(ROADS_A, served.service.ctx.clock.now())
    wrong = "000000" if code != "000000" else "111111"
    statuses = []
    for _ in range(MAX_FAILURES):
        response = await client.post(f"{served.console}/login", data={
            "csrf": token, "phone": ROADS_A, "code": wrong})
        statuses.append(response.status)
    assert statuses == [400] * (MAX_FAILURES - 1) + [403]
    locked = await client.post(f"{served.console}/login", data={
        "csrf": token, "phone": ROADS_A, "code": code})
    assert locked.status == 403 and "已锁定" in await locked.text()
    assert await AuditEntry.filter(action="login_locked").exists()
    clock = served.service.ctx.clock
    clock.set(clock.now() + timedelta(minutes=16))
    assert (await login(client, served, ROADS_A)).status == 302


async def test_codes_are_rate_limited_per_number(served, client):
    token = await csrf_of(client, f"{served.console}/login")
    first = await client.post(f"{served.console}/login/code", data={"csrf": token,
                                                                   "phone": WATER_A})
    second = await client.post(f"{served.console}/login/code", data={"csrf": token,
                                                                    "phone": WATER_A})
    assert (first.status, second.status) == (200, 400)
    assert await OutboundMessage.filter(kind="login_code").count() == 1


async def test_secure_cookie_behind_a_trusted_https_proxy(served, client):
    served.service.settings.console.trust_proxy = True
    token = await csrf_of(client, f"{served.console}/login")
    code = await send_code(WATER_A, served.service.ctx.clock.now())
    response = await client.post(f"{served.console}/login", allow_redirects=False,
                                 headers={"X-Forwarded-Proto": "https"},
                                 data={"csrf": token, "phone": WATER_A, "code": code})
    assert response.cookies["duban_session"]["secure"]


async def test_logout_and_admin_ends_all_sessions(served, client):
    await login(client, served, WATER_A)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        await login(admin, served, LEADER)
        token = await csrf_of(admin, f"{served.console}/org")
        person = (await ConsoleSession.filter(ended_at=None).prefetch_related("person")
                  .order_by("id").first()).person
        await admin.post(f"{served.console}/org/people/{person.id}/sessions/end",
                         data={"csrf": token})
    async with client.get(f"{served.console}/", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/login"
    assert await AuditEntry.filter(action="sessions_ended").exists()


async def test_unknown_phone_gets_the_same_answer_and_no_sms(served, client):
    token = await csrf_of(client, f"{served.console}/login")
    response = await client.post(f"{served.console}/login/code", data={
        "csrf": token, "phone": "13500000009"})
    assert response.status == 200 and "如该号码已在系统登记" in await response.text()
    assert not await OutboundMessage.exists()


async def test_sessions_expire(served, client):
    await login(client, served, WATER_A)
    async with client.get(f"{served.console}/", allow_redirects=False) as response:
        assert response.status == 200
    clock = served.service.ctx.clock
    clock.set(clock.now() + timedelta(hours=13))
    async with client.get(f"{served.console}/", allow_redirects=False) as response:
        assert response.status == 302


async def test_optional_argon2_password(served, client):
    await login(client, served, WATER_A)
    token = await csrf_of(client, f"{served.console}/account")
    short = await client.post(f"{served.console}/account/password",
                              data={"csrf": token, "password": "short"})
    assert short.status == 400
    await client.post(f"{served.console}/account/password",
                      data={"csrf": token, "password": "河道清理2026abc"})
    assert (await ConsolePassword.get()).password_hash.startswith("$argon2id$")
    await client.post(f"{served.console}/logout", data={"csrf": token})
    token = await csrf_of(client, f"{served.console}/login")
    wrong = await client.post(f"{served.console}/login", data={
        "csrf": token, "phone": WATER_A, "password": "wrong-password"})
    assert wrong.status == 400 and (await LoginLock.get(phone=WATER_A)).failures == 1
    right = await client.post(f"{served.console}/login", allow_redirects=False, data={
        "csrf": token, "phone": WATER_A, "password": "河道清理2026abc"})
    assert right.status == 302
    assert await AuditEntry.filter(action="logout").exists()
    methods = [a.detail["method"] for a in await AuditEntry.filter(action="login")]
    assert methods == ["code", "password"]
