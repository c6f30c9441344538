"""End to end through `duban serve`'s composition with both new channels from their TOML
sections: a matter is assigned (a WeCom card and a CMPP SMS), acknowledged by the card's
收到 button, reported by a CMPP reply to the extension the notice came from, applied for
completion by SMS and closed by the supervising office's head in WeCom (R3, R7, R27, R30)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import aiohttp

from models import BoardInitiator, Feedback, InboundMessage, Matter, MatterState, Person, Role, Unit
from service.app import build_app, build_service
from service.config import load_settings
from sms_gateway.cmpp import CmppChannel
from tests.loopback import serve
from tests.sms_gateway.ismg import Ismg
from tests.wecom.fake_api import FakeWeCom, card_event, sealed, text_message, wecom_section
from wecom.channel import WeComChannel
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

SP_CODE = "1069012345"


async def seed() -> None:
    water = await Unit.create(key="water", name="区水务局")
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    await BoardInitiator.create(board="daily", initiator=ducha)
    await Person.create(unit=water, name="王局长", role=Role.HEAD, phone="+8613800000001")
    await Person.create(unit=water, name="李一", role=Role.OPERATOR_A, phone="+8613800000002",
                        wecom_userid="liyi")
    await Person.create(unit=ducha, name="陈主任", role=Role.HEAD, phone="+8613900000001",
                        wecom_userid="chenzr")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


def in_state(state: MatterState) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await Matter.get(code="D1")).state is state

    return check


async def test_assigned_acked_by_wecom_button_reported_by_cmpp_and_closed(db, clock):
    await seed()
    ismg, fake = Ismg(), FakeWeCom()
    await ismg.start()
    async with serve(fake.app()) as api_base:
        settings = load_settings(database_url=db, sms={
            "provider": "cmpp", "cmpp": {
                "host": "127.0.0.1", "port": ismg.port, "source_addr": "901234",
                "shared_secret": "s3cret", "sp_code": SP_CODE, "extensions": True}},
            wecom=wecom_section(api_base))
        service = build_service(settings, clock=clock)
        for channel in service.channels.values():
            await channel.start()
        replying = asyncio.create_task(service.replies.run())  # as `serve` runs it (issue 10)
        try:
            async with serve(build_app(service)) as base, aiohttp.ClientSession() as http:
                await run_story(service, ismg, fake, http, base + "/wecom/callback")
        finally:
            replying.cancel()
            await asyncio.gather(replying, return_exceptions=True)
            for channel in service.channels.values():
                await channel.stop()
            await ismg.stop()


async def run_story(service, ismg: Ismg, fake: FakeWeCom, http: aiohttp.ClientSession,
                    callback: str) -> None:
    assert await service.channels["sms"].wait_connected(5)
    await register_matter(service.ctx, MatterDraft(
        board="daily", title="清理辖区河道垃圾", initiator="ducha", lead="water",
        approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True, code="D1"),
        Actor(None, "web"))
    await service.tick()
    await service.dispatcher.run_once()  # the dispatcher loop's step

    # Assigned: the operator's card on WeCom, and an SMS from our number + short number 1.
    card = next(m for m in fake.sent if m["touser"] == "liyi")["template_card"]
    to_operator = next(s for s in ismg.submits if s["Dest_terminal_Id"] == "13800000002")
    assert "D1" in to_operator["Msg_Content"].decode("utf-16-be")
    assert to_operator["Src_Id"] == SP_CODE + "1"

    # Acknowledged by the card's 收到 button (an encrypted callback to the service).
    ack = next(b["key"] for b in card["button_list"] if b["text"] == "收到")
    query, body = sealed(card_event("liyi", ack), "e2e-ack")
    async with http.post(callback, params=query, data=body.encode()) as response:
        assert response.status == 200
    await until(in_state(MatterState.ACKNOWLEDGED))

    # Reported by SMS over CMPP: no code in the text, the extension names the matter.
    ismg.deliver("进展 已清理主河道垃圾12吨".encode("utf-16-be"), src="8613800000002",
                 dest=SP_CODE + "1")

    async def reported() -> bool:
        return await Feedback.filter(matter__code="D1", text__contains="12吨").exists()

    await until(reported)
    ismg.deliver("办结 河道垃圾已全部清理，建立巡查机制".encode("utf-16-be"),
                 src="8613800000002", dest=SP_CODE + "1")
    await until(in_state(MatterState.COMPLETION_REQUESTED))

    # Graded (R29: before the decision) and closed by the supervising office's head, in
    # WeCom text.
    query, body = sealed(text_message("chenzr", "评定 D1 良好", 9000), "e2e-grade")
    async with http.post(callback, params=query, data=body.encode()) as response:
        assert response.status == 200
    query, body = sealed(text_message("chenzr", "同意 D1", 9001), "e2e-close")
    async with http.post(callback, params=query, data=body.encode()) as response:
        assert response.status == 200
    await until(in_state(MatterState.CLOSED))

    # The answers go back on the channel each message came from.
    await service.dispatcher.run_once()  # the dispatcher loop's step
    close_answer = [m for m in fake.sent if m["touser"] == "chenzr" and m["msgtype"] == "text"]
    assert any("D1" in m["text"]["content"] for m in close_answer)
    channels = await InboundMessage.all().order_by("id").values_list("channel", "outcome")
    assert channels == [("wecom", "acknowledge D1"), ("sms", "progress D1"),
                        ("sms", "completion D1"), ("wecom", "grade D1"), ("wecom", "approve D1")]


def test_the_readme_example_composes_both_channels():
    example = Path(__file__).parents[2] / "examples" / "cmpp-wecom.toml"
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    text = example.read_text(encoding="utf-8")
    cmpp, wecom = text[text.index("[sms]"):text.index("[wecom]")], text[text.index("[wecom]"):]
    assert cmpp.strip() in readme and wecom.strip() in readme  # the README's worked examples
    service = build_service(load_settings(example))
    assert isinstance(service.channels["sms"], CmppChannel)
    assert isinstance(service.channels["wecom"], WeComChannel)
    assert service.channels["sms"].concurrency == 16
    assert any(route.path == "/wecom/callback" for route in service.routes)
    assert {"sms", "wecom"} <= set(service.dispatcher.limits)
