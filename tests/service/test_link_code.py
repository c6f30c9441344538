"""One-time messenger link codes (issue 5: linking by a code sent by SMS)."""

from __future__ import annotations

from datetime import timedelta

from bot.accounts import link_by_code
from dispatch.dispatcher import Dispatcher
from dispatch.render import Renderer
from models import LinkCode, Person, Role, Unit
from service.link_code import UnknownPerson, send_link_code
from service.simulate import RecordingChannel
from workflow.context import Context


async def test_code_is_texted_and_links_once(db, clock):
    unit = await Unit.create(key="water", name="区水务局")
    person = await Person.create(unit=unit, name="李一", role=Role.OPERATOR_A,
                                 phone="+8613800000002")
    code = await send_link_code(Context(clock=clock), "138 0000 0002")
    sms = RecordingChannel("sms", clock)
    await Dispatcher({"sms": sms}, Renderer("【督办】"), clock, "w").run_once()
    [(_, message)] = sms.sent
    assert f"/start {code}" in message.text and message.to == "+8613800000002"

    assert (await link_by_code(code.lower(), 5005, clock.now())).id == person.id
    assert await link_by_code(code, 6006, clock.now()) is None  # single use
    assert (await Person.get(id=person.id)).telegram_chat_id == 5005


async def test_expired_code_links_nobody(db, clock):
    unit = await Unit.create(key="water", name="区水务局")
    await Person.create(unit=unit, name="李一", role=Role.OPERATOR_A, phone="+8613800000002")
    code = await send_link_code(Context(clock=clock), "13800000002")
    assert await link_by_code(code, 5005, clock.now() + timedelta(hours=25)) is None
    assert await LinkCode.filter(used_at=None).count() == 1


async def test_unknown_phone_gets_no_code(db, clock):
    try:
        await send_link_code(Context(clock=clock), "13899999999")
    except UnknownPerson as exc:
        assert "13899999999" in str(exc)
    else:
        raise AssertionError("a code for nobody")
