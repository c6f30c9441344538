"""Issue 10: /metrics for Prometheus, read by a real HTTP client from the served app."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from dispatch.metrics import binds
from service.app import build_app, build_service
from service.config import Settings
from tests.dispatch.support import make_people
from tests.dispatch.test_dispatcher import queue


async def scrape(service) -> str:
    runner = web.AppRunner(build_app(service))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            return await response.text()
    finally:
        await runner.cleanup()


def value(text: str, sample: str) -> float:
    (line,) = [x for x in text.splitlines() if x.startswith(sample + " ")]
    return float(line.split()[-1])


async def test_metrics_show_the_backlog_then_the_sends_by_channel_and_status(db, clock):
    service = build_service(Settings(database_url=db), clock=clock)
    await queue(clock, await make_people(3, telegram=False))
    text = await scrape(service)
    assert value(text, "duban_due_backlog") == 3
    assert value(text, 'duban_outbound_rows{channel="sms",status="pending"}') == 3
    before = text.count('duban_messages_total{channel="sms",status="submitted"}')
    await service.tick()
    assert await service.dispatcher.run_once() == 3
    text = await scrape(service)
    assert value(text, "duban_due_backlog") == 0
    assert value(text, 'duban_messages_total{channel="sms",status="submitted"}') >= 3 > before
    assert value(text, "duban_tick_seconds_count") >= 1
    for name in ("duban_submit_seconds_bucket", "duban_inbound_total", "duban_tick_lag_seconds",
                 "duban_oldest_due_age_seconds", "duban_binds"):
        assert name in text
    assert "+86138" not in text  # labels never carry an address


def test_binds_up_and_down_from_a_channel_health():
    assert binds({"bound": True}) == {"up": 1, "down": 0}
    assert binds({"binds": [{"bound": True}, {"bound": False}, "bound"]}) == {"up": 2, "down": 1}
    assert binds({"kind": "dev"}) == {}
