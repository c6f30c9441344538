"""Issue 10 "answers in under a second": the answer to a reply is sent by the dispatcher loop
as soon as it is written, not at the next tick (the clock is virtual and never moves here)."""

from __future__ import annotations

from models import MessageStatus
from tests.dispatch.support import ScriptedChannel
from tests.dispatch.test_loop import running, until
from tests.inbound.conftest import answers, new_matter, send


async def test_an_answer_to_a_reply_is_sent_without_waiting_for_a_tick(org, ctx, inbox):
    await new_matter(ctx, "D17")
    sms = ScriptedChannel("sms")
    async with running(ctx.clock, sms, ScriptedChannel("telegram")):
        row = await send(inbox, "D17 收到")
        (answer,) = await answers(row)
        await until(lambda: answer.id in sms.ids())
    await answer.refresh_from_db()
    assert answer.status is MessageStatus.SUBMITTED
