"""Provider ids are stored whole, so two long ids that share a prefix stay two ids."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.channel import InboundText
from models import InboundMessage, OutboundMessage, ProviderId, storable_provider_id
from replies.inbound import Inbox

PREFIX = "x" * 200


async def test_long_distinct_inbound_ids_are_two_messages(db, ctx) -> None:
    """Issue 8 item 15: ids longer than 128 characters that differ only at the end are not
    merged, so the second message is not dropped as a resend of the first."""
    inbox = Inbox(ctx)
    for n in (1, 2):
        await inbox.inbound(InboundText("sms", "+8613800138000", f"收到 {n}", PREFIX + str(n)))
    stored = await InboundMessage.all().order_by("id").values_list("provider_message_id", flat=True)
    assert stored == [PREFIX + "1", PREFIX + "2"]


async def test_long_distinct_outbound_ids_match_their_own_message(db) -> None:
    """Issue 8 item 15: the receipt index keeps a 300-character id whole."""
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    rows = [
        await OutboundMessage.create(kind="assigned", channel="sms", address="+86138",
                                     due_at=now, created_at=now)
        for _ in range(2)
    ]
    for n, row in enumerate(rows, start=1):
        await ProviderId.create(message=row, channel="sms", provider_id=PREFIX + str(n) * 100)
    ref = await ProviderId.get(channel="sms", provider_id=PREFIX + "2" * 100)
    assert ref.message_id == rows[1].id


async def test_an_id_beyond_the_column_is_kept_distinct_by_its_digest(db, ctx) -> None:
    """Issue 8 item 15: no provider issues ids over 512 characters, but a forged one must
    neither fail the store nor merge with another."""
    inbox = Inbox(ctx)
    for n in (1, 2):
        text = InboundText("sms", "+8613800138000", f"收到 {n}", "y" * 600 + str(n))
        await inbox.inbound(text)
    stored = await InboundMessage.all().order_by("id").values_list("provider_message_id", flat=True)
    assert stored == [storable_provider_id("y" * 600 + "1"), storable_provider_id("y" * 600 + "2")]
    assert len(set(stored)) == 2 and all(s.startswith("sha256:") for s in stored)


async def test_a_long_id_resent_is_still_one_message(db, ctx) -> None:
    """Issue 8 item 15: the wider column keeps its unique index (SQLite's table rebuild
    would have dropped it), so a resend under a long id is still dropped."""
    inbox = Inbox(ctx)
    for _ in range(2):
        await inbox.inbound(InboundText("sms", "+8613800138000", "收到", PREFIX + "!"))
    assert await InboundMessage.all().count() == 1
