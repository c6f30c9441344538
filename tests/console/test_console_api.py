"""The JSON API /api/v1/ with a token an administrator issued on the org page: the OpenAPI
document, registration with the same checks as the form (R1, R2), the list and a matter's
timeline, and the same visibility rule as the pages."""

from __future__ import annotations

import re
from datetime import datetime

import aiohttp

from console.auth import digest
from models import ApiToken, Matter, Person
from scheduler.clock import SHANGHAI
from tests.console.conftest import LEADER, ROADS_A, csrf_of, login

MATTER = {"board": "daily", "title": "清理辖区河道垃圾", "lead": "water",
          "approver": "张副区长", "approved_on": "2026-11-20", "not_classified": True}


async def issue(client, served) -> str:
    await login(client, served, LEADER)
    token = await csrf_of(client, f"{served.console}/org")
    async with client.post(f"{served.console}/org/tokens", data={"csrf": token,
                                                                 "name": "市平台"}) as response:
        return re.search(r'id="new-token">([^<]+)<', await response.text())[1]


async def test_api_registers_lists_and_shows_a_timeline(served, client):
    token = await issue(client, served)
    assert (await ApiToken.get()).token_hash != token  # stored hashed
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as api:
        base = f"{served.console}/api/v1"
        async with api.get(f"{base}/openapi.json") as response:
            spec = await response.json()
        assert set(spec["paths"]) == {"/api/v1/matters", "/api/v1/matters/{code}"}
        async with api.post(f"{base}/matters", json=MATTER | {"title": "核查机密文件"}) as bad:
            assert bad.status == 400
            assert (await bad.json())["fields"] == {"title": "classified_mark"}  # R2
        async with api.post(f"{base}/matters", json=MATTER | {"approver": ""}) as bad:
            assert (await bad.json())["fields"] == {"approver": "invalid"}  # R1
        async with api.post(f"{base}/matters", json=MATTER | {"deadline": "2026-12-31"}
                            ) as created:
            assert created.status == 201 and (await created.json())["code"] == "D1"
        # A deadline given as a day is the end of that day in Beijing.
        assert (await Matter.get(code="D1")).deadline == datetime(2027, 1, 1, tzinfo=SHANGHAI)
        async with api.get(f"{base}/matters", params={"q": "河道"}) as listed:
            body = await listed.json()
        assert [m["code"] for m in body["matters"]] == ["D1"]
        assert body["matters"][0]["light"] == "green" and body["next_after"] is None
        async with api.get(f"{base}/matters/D1") as detail:
            matter = await detail.json()
        assert matter["lead"] == "water"
        assert [e["what"] for e in matter["timeline"] if e["kind"] == "audit"] == ["register"]
        assert any(e["kind"] == "out" and e["what"] == "assigned" for e in matter["timeline"])


async def test_api_refuses_without_a_token_and_hides_other_units(served, client):
    token = await issue(client, served)
    async with aiohttp.ClientSession() as anonymous, anonymous.get(
            f"{served.console}/api/v1/matters") as response:
        assert response.status == 401
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as api:
        await api.post(f"{served.console}/api/v1/matters", json=MATTER)
    roads = await Person.get(phone=ROADS_A)
    other = "dbn_other"
    await ApiToken.create(name="x", token_hash=digest(other), person=roads,
                          created_at=served.service.ctx.clock.now())
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {other}"}) as api:
        async with api.get(f"{served.console}/api/v1/matters/D1") as response:
            assert response.status == 403 and "河道" not in await response.text()
        async with api.get(f"{served.console}/api/v1/matters") as response:
            assert (await response.json())["matters"] == []
        async with api.post(f"{served.console}/api/v1/matters", json=MATTER) as response:
            assert response.status == 403
