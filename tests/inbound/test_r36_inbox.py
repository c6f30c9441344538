"""The inbox itself: raw rows first, resends once, unknown senders, caps, receipts (R36)."""

from __future__ import annotations

from datetime import timedelta

import pytest

import replies.batch
import replies.inbound
from dispatch.channel import InboundText, Receipt, SendResult
from dispatch.dispatcher import Dispatcher
from models import Feedback, InboundMessage, MessageEvent, MessageStatus, OutboundMessage
from replies.inbound import NOISE_CAP
from tests.inbound.conftest import (
    OPERATOR,
    RENDERER,
    STRANGER,
    answer_text,
    answers,
    new_matter,
    render,
    send,
    state,
)


async def test_r36_raw_row_is_stored_before_parsing(org, ctx, inbox, monkeypatch):
    await new_matter(ctx, "D17")

    def crash(*args, **kwargs):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(replies.inbound, "parse_reply", crash)
    monkeypatch.setattr(replies.batch, "parse_reply", crash)  # the batch reads it first
    row = await send(inbox, "D17 进展 已清理三处", provider_id="p-1")
    assert row.text == "D17 进展 已清理三处" and row.provider_message_id == "p-1"
    assert row.raw_data == {"test": True}
    assert (row.status, row.outcome) == ("error", "internal RuntimeError")
    assert "出错" in await answer_text(row)
    assert await state("D17") == "assigned"


async def test_r36_change_and_answer_roll_back_together(org, ctx, inbox, monkeypatch):
    """A failure after the workflow call leaves no half-done change behind."""
    await new_matter(ctx, "D17")

    async def crash(*args, **kwargs):
        raise RuntimeError("answer failed")

    monkeypatch.setattr(replies.inbound.Inbox, "about", crash)
    row = await send(inbox, "D17 进展 已清理三处")
    assert row.status == "error"
    assert await Feedback.filter(matter__code="D17").count() == 0
    assert len(await answers(row)) == 1


async def test_r36_duplicate_provider_id_is_processed_once(org, ctx, inbox):
    await new_matter(ctx, "D17")
    for _ in range(3):
        await send(inbox, "D17 进展 已清理三处", provider_id="aliyun-77")
    rows = await InboundMessage.filter(provider_message_id="aliyun-77")
    assert len(rows) == 1 and rows[0].status == "done"
    assert await Feedback.filter(matter__code="D17").count() == 1
    assert len(await answers(rows[0])) == 1


async def test_r36_same_provider_id_on_another_channel_is_another_message(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await send(inbox, "D17 收到", provider_id="42")
    await send(inbox, "D17 进展 已清理三处", sender="1001", channel="telegram", provider_id="42")
    assert await InboundMessage.filter(provider_message_id="42").count() == 2
    assert await Feedback.filter(matter__code="D17").count() == 2


async def test_r36_resend_completes_a_row_whose_processing_never_ran(org, ctx, inbox):
    """Stored, then the process died: the provider's resend is processed, once."""
    await new_matter(ctx, "D17")
    stuck = await InboundMessage.create(
        channel="sms",
        sender=OPERATOR,
        text="D17 收到",
        provider_message_id="p-9",
        received_at=ctx.clock.now(),
    )
    await send(inbox, "D17 收到", provider_id="p-9")
    await send(inbox, "D17 收到", provider_id="p-9")
    await stuck.refresh_from_db()
    assert stuck.status == "done"
    assert await state("D17") == "acknowledged"
    assert len(await answers(stuck)) == 1


async def test_r36_unknown_sender_changes_nothing_and_is_answered_once_a_day(org, ctx, inbox):
    await new_matter(ctx, "D17")
    for _ in range(3):
        row = await send(inbox, "D17 收到", sender=STRANGER)
        assert row.status == "refused" and row.person_id is None
    assert await state("D17") == "assigned"
    sent = await OutboundMessage.filter(kind="reply", address=f"+86{STRANGER}")
    assert len(sent) == 1
    assert "未登记" in render(sent[0])
    ctx.clock.set(ctx.clock.now() + timedelta(days=1))
    await send(inbox, "D17 收到", sender=STRANGER)
    assert await OutboundMessage.filter(kind="reply", address=f"+86{STRANGER}").count() == 2


async def test_r36_unknown_sender_formats_and_channels(org, ctx, inbox):
    await send(inbox, "收到", sender="+86 136-0000-0009")
    await send(inbox, "收到", sender="8613600000009")  # same phone, same day: no second answer
    await send(inbox, "收到", sender="555", channel="telegram")
    await send(inbox, "收到", sender="not-a-phone")  # no address to answer to
    sent = await OutboundMessage.filter(kind="reply").order_by("id")
    assert [(m.channel, m.address) for m in sent] == [
        ("sms", "+8613600000009"),
        ("telegram", "555"),
    ]
    assert "/start" in render(sent[1])
    last = await InboundMessage.all().order_by("-id").first()
    assert last.status == "refused" and "no address" in last.outcome


async def test_r36_known_sender_in_any_phone_format(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "D17 收到", sender="+86 138 0000 0002")
    assert row.status == "done" and await state("D17") == "acknowledged"
    assert (await answers(row))[0].address == f"+86{OPERATOR}"


async def test_r36_garbled_reply_is_answered_and_changes_nothing(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "今天开会讨论一下再说")
    assert (row.status, row.outcome) == ("error", "parse unknown")
    text = await answer_text(row)
    assert "未能识别" in text and "帮助" in text and "D17" in text
    assert await state("D17") == "assigned"
    assert await Feedback.all().count() == 0


async def test_r36_parse_error_names_its_reason(org, ctx, inbox):
    await new_matter(ctx, "D17")
    text = await answer_text(await send(inbox, "D17 延期 因工程量大需延后"))
    assert "新时限" in text
    text = await answer_text(await send(inbox, "同意"))
    assert "编号" in text


async def test_r36_answer_goes_back_on_the_channel_it_came_from(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await send(inbox, "D17 收到", sender="1001", channel="telegram")
    sent = await answers(row)
    assert [(m.channel, m.address) for m in sent] == [("telegram", "1001")]


async def test_r36_incomplete_sms_is_not_acted_on(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await inbox.inbound(InboundText("sms", OPERATOR, "D17 办结 已全", None, {"incomplete": True}))
    row = await InboundMessage.all().order_by("-id").first()
    assert row.status == "error" and "重新发送" in await answer_text(row)
    assert await state("D17") == "assigned"


async def test_r36_help_and_error_answers_are_capped_until_a_valid_command(org, ctx, inbox):
    await new_matter(ctx, "D17")
    noise = ["自动回复：我正在开会", "帮助"] * 4
    rows = [await send(inbox, text) for text in noise]
    assert [len(await answers(r)) for r in rows] == [1] * NOISE_CAP + [0] * (8 - NOISE_CAP)
    assert "unanswered: cap" in rows[-1].outcome
    valid = await send(inbox, "D17 收到")
    assert len(await answers(valid)) == 1
    again = await send(inbox, "自动回复：我正在开会")
    assert len(await answers(again)) == 1


async def test_r36_cap_lifts_after_a_quiet_day(org, ctx, inbox):
    await new_matter(ctx, "D17")
    for _ in range(NOISE_CAP + 1):
        await send(inbox, "自动回复：我正在开会")
    ctx.clock.set(ctx.clock.now() + timedelta(hours=25))
    assert len(await answers(await send(inbox, "自动回复：我正在开会"))) == 1


async def test_r36_refusals_are_always_answered(org, ctx, inbox):
    """A refusal carries a rule's reason; the sender spoke the grammar, so no cap."""
    await new_matter(ctx, "D17")
    for _ in range(NOISE_CAP + 2):
        row = await send(inbox, "D99 进展 已清理")
        assert row.status == "refused" and len(await answers(row)) == 1


class RecordingSms:
    name = "sms"

    def __init__(self) -> None:
        self.count = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict:
        return {}

    async def send(self, message):
        self.count += 1
        return SendResult.sent(f"sms-{message.message_id}-a", f"sms-{message.message_id}-b")


@pytest.fixture
async def sent_answer(org, ctx, inbox) -> OutboundMessage:
    """An answer, rendered and handed to a channel that returns two segment ids."""
    await new_matter(ctx, "D17")
    row = await send(inbox, "D17 收到")
    dispatcher = Dispatcher({"sms": RecordingSms()}, RENDERER, ctx.clock, worker="test")
    await dispatcher.drain()
    message = (await answers(row))[0]
    await message.refresh_from_db()
    assert message.status == MessageStatus.SUBMITTED
    return message


async def test_receipts_are_matched_to_their_rows(ctx, inbox, sent_answer):
    await inbox.receipt(Receipt("sms", f"sms-{sent_answer.id}-a", "delivered"))
    await sent_answer.refresh_from_db()
    assert sent_answer.status == MessageStatus.DELIVERED
    history = await MessageEvent.filter(message_id=sent_answer.id).order_by("id")
    assert history[-1].status == "delivered" and f"sms-{sent_answer.id}-a" in history[-1].detail


async def test_receipt_of_a_failed_segment_is_not_hidden_by_a_delivered_one(
    ctx, inbox, sent_answer
):
    await inbox.receipt(Receipt("sms", f"sms-{sent_answer.id}-a", "failed", "handset off"))
    await inbox.receipt(Receipt("sms", f"sms-{sent_answer.id}-b", "delivered"))
    await sent_answer.refresh_from_db()
    assert sent_answer.status == MessageStatus.FAILED
    statuses = await MessageEvent.filter(message_id=sent_answer.id).values_list("status", flat=True)
    assert statuses[-2:] == ["failed", "delivered"]


async def test_unknown_receipts_are_ignored(ctx, inbox, sent_answer):
    before = await MessageEvent.all().count()
    await inbox.receipt(Receipt("sms", "no-such-id", "delivered"))
    await inbox.receipt(Receipt("telegram", f"sms-{sent_answer.id}-a", "delivered"))
    await inbox.receipt(Receipt("sms", f"sms-{sent_answer.id}-a", "bounced"))
    assert await MessageEvent.all().count() == before
