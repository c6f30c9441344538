"""Replies from the new channels in the one inbox: WeCom people are found by their UserID
and answered in WeCom; a CMPP reply to our number + N means short number N (R5, R36)."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from aiohttp import web

from bot.callbacks import signed
from dispatch.channel import FailureKind, InboundText, Outgoing, SendResult
from dispatch.dispatcher import Dispatcher
from models import Feedback, InboundMessage, MessageStatus, OutboundMessage, Person
from replies.inbound import Inbox
from replies.short_numbers import extension_for
from sms_gateway.dev import DevChannel
from tests.inbound.conftest import (
    LEADER,
    OPERATOR,
    RENDERER,
    SUPERVISOR,
    answer_text,
    answers,
    new_matter,
    state,
)
from tests.loopback import serve
from tests.wecom.fake_api import BUTTON_SECRET, card_event, sealed, wecom_section
from wecom.callback import callback_routes
from wecom.inbox import WeComInbox
from wecom.settings import WeComSettings


async def link_wecom(phone: str, userid: str) -> Person:
    person = await Person.get(phone=f"+86{phone}")
    person.wecom_userid = userid
    await person.save(update_fields=["wecom_userid"])
    return person


async def reply(inbox, text: str, channel: str, sender: str, raw: dict | None = None,
                provider_id: str | None = None) -> InboundMessage:
    await inbox.inbound(InboundText(channel, sender, text, provider_id, raw or {}))
    return await InboundMessage.filter(channel=channel).order_by("-id").first()


async def test_r36_wecom_reply_is_understood_and_answered_in_wecom(org, ctx, inbox):
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    row = await reply(inbox, "D17 收到", "wecom", "liyi", provider_id="wecom:1")
    assert (row.status, row.outcome) == ("done", "acknowledge D17")
    [answer] = await answers(row)
    assert (answer.channel, answer.address) == ("wecom", "liyi")
    assert "D17" in await answer_text(row)
    await reply(inbox, "D17 收到", "wecom", "liyi", provider_id="wecom:1")  # WeCom's retry
    assert await InboundMessage.filter(channel="wecom").count() == 1


async def test_unknown_wecom_user_changes_nothing(org, ctx, inbox):
    await new_matter(ctx, "D17")
    row = await reply(inbox, "D17 收到", "wecom", "nobody")
    assert row.status == "refused" and row.person_id is None
    assert await state("D17") == "assigned"


async def test_r5_extension_names_the_matter_only_when_the_text_does_not(org, ctx, inbox):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    phone = f"+86{OPERATOR}"
    row = await reply(inbox, "进展 已清理一半", "sms", phone, {"extension": "2"})
    assert row.outcome == "progress D18"
    row = await reply(inbox, "D17 进展 已清理", "sms", phone, {"extension": "2"})
    assert row.outcome == "progress D17"  # what the text says wins
    row = await reply(inbox, "进展 已清理", "sms", phone, {"extension": "9"})
    assert row.outcome == "refused unknown_number 9"
    assert await Feedback.filter(matter__code="D18").count() == 1


async def test_notice_extension_is_the_recipients_short_number(org, ctx):
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    extension = extension_for(ctx.clock)
    to_operator = Outgoing(1, "sms", f"+86{OPERATOR}", "…", "assigned", matter_code="D18")
    assert await extension(to_operator) == "2"
    assert await extension(Outgoing(2, "sms", "+8613600000009", "…", "assigned", "D18")) == ""
    assert await extension(Outgoing(3, "sms", f"+86{OPERATOR}", "…", "remind")) == ""


class Refusing(DevChannel):
    """WeCom answering invaliduser: the member left or blocked the app."""

    async def send(self, message: Outgoing) -> SendResult:
        return SendResult.failed(FailureKind.PERMANENT, f"invaliduser {message.to}")


async def test_a_member_wecom_refuses_gets_the_message_by_sms(org, ctx, inbox):
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    row = await reply(inbox, "D17 收到", "wecom", "liyi")
    dispatcher = Dispatcher({"wecom": Refusing("wecom", ctx.clock),
                             "sms": DevChannel("sms", ctx.clock)}, RENDERER, ctx.clock, "t",
                            lease=timedelta(seconds=60))
    await dispatcher.drain()
    [answer] = await answers(row)
    assert answer.status is MessageStatus.FAILED and "invaliduser" in answer.error
    [copy] = await OutboundMessage.filter(failover_of_id=answer.id)
    assert (copy.channel, copy.address, copy.status) == ("sms", f"+86{OPERATOR}",
                                                         MessageStatus.SUBMITTED)


async def test_r36_a_report_without_content_is_answered_with_what_to_add(org, ctx, inbox):
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    row = await reply(inbox, "D17 进展", "wecom", "liyi")  # typed without its content
    assert row.status == "error" and await state("D17") == "assigned"
    assert "“进展”后缺少内容，如“D17 进展 已完成排查”" in await answer_text(row)


async def test_supervisor_views_in_wecom_are_stored_and_answered_as_rows(org, ctx, inbox):
    await link_wecom(SUPERVISOR, "zhougs")
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    wecom = WeComInbox(inbox)
    ctx.clock.set(ctx.clock.now() + timedelta(days=2))  # the 1d node is overdue
    for text, outcome in (("/overdue", "view overdue"), ("/matter D17", "view matter"),
                          ("/stats 2026", "view stats"), ("/stats 明年", "view stats")):
        row = await reply(wecom, text, "wecom", "zhougs")
        assert (row.text, row.status, row.outcome) == (text, "done", outcome)
        [answer] = await answers(row)
        assert (answer.channel, answer.address, answer.kind) == ("wecom", "zhougs", "reply")
        assert answer.text
    overdue, matter, _, bad = [
        (await answers(r))[0].text for r in await InboundMessage.all().order_by("id")]
    assert "D17" in overdue and "清理辖区河道垃圾" in matter and "2026Q3" in bad
    row = await reply(wecom, "/overdue", "wecom", "liyi")  # not a supervisor: the inbox's answer
    assert row.status == "error" and "D17" not in (await answers(row))[0].context.get(
        "detail", "")


async def test_decisions_in_wecom_go_through_the_inbox(org, ctx, inbox):
    await link_wecom(LEADER, "chenzr")
    await new_matter(ctx, "D17")
    await reply(inbox, "D17 办结 已清理", "sms", f"+86{OPERATOR}")
    wecom = WeComInbox(inbox)
    row = await reply(wecom, "评定 D17 良好", "wecom", "chenzr")  # R29: graded before the decision
    assert row.status == "done", row.outcome
    row = await reply(wecom, "同意 D17", "wecom", "chenzr")
    assert row.outcome == "approve D17" and await state("D17") == "closed"


def press(action: str, code: str = "D17", n: int = 1) -> InboundText:
    """A verified card button press, as the callback hands it over."""
    text = {"a": "收到", "p": "进展", "e": "延期", "c": "办结"}[action]
    return InboundText("wecom", "liyi", f"{code} {text}", f"wecom-event:{action}{n}",
                       {"MsgType": "event", "press": {"action": action, "code": code}})


def typed(text: str, n: int) -> InboundText:
    return InboundText("wecom", "liyi", text, f"wecom:{n}", {"MsgType": "text"})


async def test_r7_report_button_asks_for_the_content_and_the_next_text_completes_it(
        org, ctx, inbox):
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    wecom = WeComInbox(inbox)
    await wecom.inbound(press("p"))
    pressed = await InboundMessage.get(provider_message_id="wecom-event:p1")
    assert (pressed.status, pressed.outcome) == ("done", "dialog p D17")
    [prompt] = await answers(pressed)
    assert prompt.channel == "wecom" and "D17 的进展情况" in prompt.text
    await wecom.inbound(typed("已完成排查，整改方案已报", 2))
    row = await InboundMessage.get(provider_message_id="wecom:2")
    assert row.text == "D17 进展 已完成排查，整改方案已报" and row.outcome == "progress D17"
    assert row.raw_data["dialog"] == "p"  # on its own, "已完成…" would apply for completion
    assert await Feedback.filter(matter__code="D17", text__contains="整改方案").exists()


async def test_issue10_a_dialog_opened_on_one_instance_is_completed_on_another(org, ctx):
    """Several instances behind WeCom's callback URL: the press reaches one, the text
    another (and the second instance stores replies for its worker, as under serve)."""
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    await WeComInbox(Inbox(ctx)).inbound(press("p"))
    other = Inbox(ctx, later=True)
    await WeComInbox(other).inbound(typed("已完成排查，整改方案已报", 2))
    row = await InboundMessage.get(provider_message_id="wecom:2")
    assert row.text == "D17 进展 已完成排查，整改方案已报" and row.raw_data["dialog"] == "p"
    assert await other.drain("wecom", "liyi") == 1
    assert (await InboundMessage.get(id=row.id)).outcome == "progress D17"
    # The dialog was the previous message only: a second text is read as it stands.
    await WeComInbox(other).inbound(typed("已完成", 3))
    assert (await InboundMessage.get(provider_message_id="wecom:3")).text == "已完成"


async def test_a_whole_command_or_a_late_text_is_read_as_it_stands(org, ctx, inbox):
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    wecom = WeComInbox(inbox)
    await wecom.inbound(press("c"))
    await wecom.inbound(typed("D17 收到", 3))  # a command of its own: the dialog is dropped
    assert (await InboundMessage.get(provider_message_id="wecom:3")).outcome == "acknowledge D17"
    await wecom.inbound(press("p", n=2))
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=11))
    await wecom.inbound(typed("排查中", 4))
    late = await InboundMessage.get(provider_message_id="wecom:4")
    assert late.text == "排查中" and late.status == "error"


async def test_issue10_a_callback_replayed_to_another_instance_is_dropped_as_a_repeat(org, ctx):
    """The (timestamp, nonce) pairs are remembered per instance; the stored rows are not."""
    await link_wecom(OPERATOR, "liyi")
    await new_matter(ctx, "D17")
    settings = WeComSettings(**wecom_section("http://unused"))
    apps = []
    for _ in range(2):
        app = web.Application()
        app.add_routes(callback_routes(settings, WeComInbox(Inbox(ctx, later=True))))
        apps.append(app)
    query, body = sealed(card_event("liyi", signed("p", "D17", BUTTON_SECRET)), "replayed")
    statuses = []
    async with serve(apps[0]) as one, serve(apps[1]) as two, aiohttp.ClientSession() as http:
        for base in (one, two, one):
            async with http.post(base + settings.callback_path, params=query,
                                 data=body.encode()) as response:
                statuses.append(response.status)
    assert statuses == [200, 200, 403]  # the second instance had not seen the nonce ...
    [row] = await InboundMessage.all()  # ... and stored nothing twice
    assert row.outcome == "dialog p D17" and len(await answers(row)) == 1
