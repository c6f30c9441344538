"""Rate limiting is a step of its own: a row over the limit is rescheduled, not slept on."""

from __future__ import annotations

from datetime import timedelta

from dispatch.dispatcher import Dispatcher
from dispatch.outbox import enqueue
from dispatch.ratelimit import Limit, RateLimiter
from dispatch.render import Renderer
from models import MessageStatus, OutboundMessage, Person, Role, Unit
from service.simulate import RecordingChannel


async def test_sms_over_the_per_number_limit_waits_for_its_turn(db, clock):
    unit = await Unit.create(key="water", name="区水务局")
    person = await Person.create(unit=unit, name="李一", role=Role.OPERATOR_A,
                                 phone="+8613800000002")
    now = clock.now()
    for n in range(4):
        await enqueue(kind="remind", people=[person], now=now, due_at=now, context={
            "reason": "year_end", "matters": [{"code": f"D{n}", "title": "t", "state": "x"}]})
    channel = RecordingChannel("sms", clock)
    limiter = RateLimiter(per_number=[Limit(2, 60.0)])
    dispatcher = Dispatcher({"sms": channel}, Renderer("【督办】"), clock, "w1",
                            limits={"sms": limiter})

    await dispatcher.run_once()
    assert len(channel.sent) == 2
    waiting = await OutboundMessage.filter(status=MessageStatus.PENDING)
    assert len(waiting) == 2 and all(row.due_at > now for row in waiting)
    assert all(row.attempts == 0 for row in waiting)  # a wait is not a failed attempt

    clock.set(now + timedelta(seconds=61))
    await dispatcher.run_once()
    assert len(channel.sent) == 4
