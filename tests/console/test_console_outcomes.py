"""A message of unknown outcome is decided by a person: sent again as a new row (the old
one closed as failed, naming the new), or confirmed delivered; each an audit row; a message
with a known outcome is refused and nothing changes."""

from __future__ import annotations

import pytest

from console.outcomes import mark_delivered, send_again
from dispatch.outbox import enqueue
from models import AuditEntry, MessageEvent, MessageStatus, OutboundMessage, Person
from tests.console.conftest import LEADER, WATER_A, seed_org
from workflow.errors import Refused


async def test_send_again_and_refuse_a_known_outcome(db, clock):
    await seed_org()
    now = clock.now()
    person, admin = await Person.get(phone=WATER_A), await Person.get(phone=LEADER)
    [row] = await enqueue(kind="reply", people=[person], context={"reason": "help"},
                          due_at=now, now=now, only_channel="sms")
    await OutboundMessage.filter(id=row.id).update(status=MessageStatus.UNKNOWN)
    again = await send_again(row.id, admin, now)
    old = await OutboundMessage.get(id=row.id)
    assert old.status is MessageStatus.FAILED
    assert again.status is MessageStatus.PENDING and again.context == row.context
    assert f"#{again.id}" in (await MessageEvent.filter(message_id=row.id).order_by("-id")
                              .first()).detail
    assert await AuditEntry.filter(action="message_resent", actor=admin).exists()
    with pytest.raises(Refused):
        await mark_delivered(row.id, admin, now)
    assert await OutboundMessage.filter(kind="reply").count() == 2
