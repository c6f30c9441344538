"""Issue 9 part 4: one message per person, on the channel they use (R3, R35).

李一 (A post of 水务局) has SMS and the messenger. The daily matter registered on Monday 23
Nov 2026 09:00 has its 1d node on Tuesday 09:00 and the reminder at 04:00 (R9); the SMS
fallback of a messenger-first person comes 4 hours after an unread messenger message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from dispatch.channel import FailureKind, InboundText, SendResult
from dispatch.dispatcher import Dispatcher
from dispatch.render import Renderer
from models import AuditEntry, ChannelPreference, OutboundMessage, Person, SmsFallback
from replies.inbound import Inbox
from scheduler.clock import SHANGHAI, VirtualClock
from scheduler.policy import Policy, QuietHours
from sms_gateway.dev import DevChannel
from workflow.chase import run_clock
from workflow.context import Context
from workflow.delivery import set_channel_preference
from workflow.records import Actor

from .conftest import register


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


async def prefer(name: str, preference: ChannelPreference) -> Person:
    person = await Person.get(name=name)
    await set_channel_preference(person, preference, Actor(None, "cli"), sh(23, 8))
    return person


async def channels(kind: str, name: str = "李一") -> list[str]:
    rows = await OutboundMessage.filter(kind=kind, person__name=name).order_by("id")
    return [r.channel for r in rows]


async def tick_until(ctx: Context, clock: VirtualClock, until: datetime) -> None:
    while clock.now() < until:
        clock.set(min(clock.now() + timedelta(hours=1), until))
        await run_clock(ctx)


@pytest.mark.parametrize(("preference", "reminded"), [
    (None, ["sms", "telegram"]),  # the default: both, as before preferences existed
    (ChannelPreference.SMS_ONLY, ["sms"]),
    (ChannelPreference.MESSENGER_FIRST, ["telegram"]),
])
async def test_r3_issue9_part4_the_assignment_goes_on_every_channel_the_rest_as_preferred(
        org, ctx, clock, preference, reminded):
    if preference is None:
        assert (await Person.get(name="李一")).channel_preference is ChannelPreference.BOTH
    else:
        await prefer("李一", preference)
    await register(ctx)
    await tick_until(ctx, clock, sh(24, 5))
    assert await channels("assigned") == ["sms", "telegram"]  # R3
    assert await channels("remind") == reminded
    assert await SmsFallback.exists() is (preference is ChannelPreference.MESSENGER_FIRST)


async def test_r9_issue9_part4_messenger_first_unread_gets_the_sms_n_hours_later(org, ctx,
                                                                               clock):
    await prefer("李一", ChannelPreference.MESSENGER_FIRST)
    await register(ctx)
    await tick_until(ctx, clock, sh(24, 7))
    assert await channels("remind") == ["telegram"]
    await tick_until(ctx, clock, sh(24, 8))  # reminder at 04:00 + 4 h
    assert await channels("remind") == ["telegram", "sms"]
    fallback = await SmsFallback.get()
    assert (fallback.due_at, fallback.outcome) == (sh(24, 8), "sent")
    await tick_until(ctx, clock, sh(24, 10))
    assert await channels("remind") == ["telegram", "sms"]  # once


async def test_r9_issue9_part4_messenger_first_read_means_no_sms(org, ctx, clock):
    """"Read" is what we can see: 李一 answered about the matter (a reply or a button
    press, both inbound messages on the reply path) after the messenger message."""
    await prefer("李一", ChannelPreference.MESSENGER_FIRST)
    matter = await register(ctx)
    await tick_until(ctx, clock, sh(24, 5))
    await Inbox(ctx).inbound(InboundText("telegram", "8002", f"{matter.code} 收到"))
    await tick_until(ctx, clock, sh(24, 9))
    assert await channels("remind") == ["telegram"]
    assert (await SmsFallback.get()).outcome == "read"


class BlockedBot:
    """The messenger refuses for good (the person blocked the bot)."""

    name = "telegram"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]:
        return {}

    async def send(self, message: Any) -> SendResult:
        return SendResult.failed(FailureKind.PERMANENT, "Forbidden: bot was blocked by the user")


async def test_r9_issue9_part4_a_failed_messenger_send_goes_by_sms_at_once_and_once(org, ctx,
                                                                                  clock):
    await prefer("李一", ChannelPreference.MESSENGER_FIRST)
    await register(ctx)
    dispatcher = Dispatcher({"sms": DevChannel("sms", clock), "telegram": BlockedBot()},
                            Renderer("【督办】"), clock, worker="test")
    await tick_until(ctx, clock, sh(24, 4))
    await dispatcher.drain()
    assert await channels("remind") == ["telegram", "sms"]  # the dispatcher's failover
    await tick_until(ctx, clock, sh(24, 9))
    assert await channels("remind") == ["telegram", "sms"]
    assert (await SmsFallback.get()).outcome == "failed_over"


async def test_r35_issue9_part4_the_fallback_waits_for_the_end_of_quiet_hours(org, clock):
    ctx = Context(clock=clock, policy=Policy(quiet_hours=QuietHours.parse("22:00-07:00")))
    await prefer("李一", ChannelPreference.MESSENGER_FIRST)
    await register(ctx)
    await tick_until(ctx, clock, sh(23, 22))  # the 04:00 reminder moved to 21:59 (R35)
    assert await channels("remind") == ["telegram"]
    assert (await SmsFallback.get()).due_at == sh(24, 7)  # 01:59 is quiet: held to 07:00
    await tick_until(ctx, clock, sh(24, 7))
    assert await channels("remind") == ["telegram", "sms"]


async def test_r4_issue9_part4_a_person_with_one_channel_gets_it_there(org, ctx, clock):
    await prefer("赵二", ChannelPreference.MESSENGER_FIRST)  # SMS only on record
    await register(ctx)
    await tick_until(ctx, clock, sh(24, 5))
    assert await channels("remind", "赵二") == ["sms"]


async def test_issue9_part4_a_preference_change_is_audited(org):
    person = await Person.get(name="李一")
    actor = Actor(await Person.get(name="周干事"), "web")
    assert await set_channel_preference(person, "sms_only", actor, sh(23, 8))
    assert not await set_channel_preference(person, ChannelPreference.SMS_ONLY, actor, sh(23, 9))
    entry = await AuditEntry.get(action="channel_preference")
    assert entry.detail == {"person": person.id, "old": "both", "new": "sms_only"}
    assert entry.actor_label == "周干事" and entry.channel == "web"
    assert (await Person.get(id=person.id)).channel_preference is ChannelPreference.SMS_ONLY


async def test_issue9_part4_the_org_file_sets_the_preference_and_an_empty_cell_keeps_it(
        db, tmp_path):
    from service.org_import import import_file

    path = tmp_path / "org.csv"
    path.write_text("单位编码,单位名称,姓名,角色,手机号,接收方式\n"
                    "water,区水务局,李一,A岗,13800000002,消息优先\n"
                    "water,区水务局,赵二,B岗,13800000003,sms_only\n"
                    "water,区水务局,王五,工作人员,13800000005,微信\n", encoding="utf-8")
    report = await import_file(path)
    assert [r.row for r in report.rejected] == [4] and "微信" in report.rejected[0].reason
    assert (await Person.get(name="李一")).channel_preference is ChannelPreference.MESSENGER_FIRST
    assert (await Person.get(name="赵二")).channel_preference is ChannelPreference.SMS_ONLY
    path.write_text("单位编码,单位名称,姓名,角色,手机号,接收方式\n"
                    "water,区水务局,李一,A岗,13800000002,\n", encoding="utf-8")
    await import_file(path)
    assert (await Person.get(name="李一")).channel_preference is ChannelPreference.MESSENGER_FIRST
