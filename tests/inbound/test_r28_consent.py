"""R28: a matter with a service object closes only with its consent; after 3 failed
attempts, with an expert review or public evaluation instead. Driven through the reply
path as the unit would, by SMS."""

from __future__ import annotations

from dispatch.channel import InboundText
from models import Application, ConsentAttempt, Matter, MatterState, OutboundMessage
from replies.inbound import Inbox
from tests.core.test_workflow import org, register  # noqa: F401  (fixture and helper)

OPERATOR = "+8613800000002"


async def say(ctx, text: str) -> str:
    await Inbox(ctx).inbound(InboundText(channel="sms", sender=OPERATOR, text=text))
    answer = await OutboundMessage.filter(kind="reply", address=OPERATOR).order_by("-id").first()
    from dispatch.render import Renderer

    return Renderer().render(answer.kind, answer.context)


async def test_r28_completion_waits_for_the_service_objects_consent(db, org, ctx):  # noqa: F811
    await register(ctx, code="D5", service_object="沿河居民")
    answer = await say(ctx, "D5 办结 已全部清理")
    assert "须先征得服务对象（沿河居民）同意" in answer
    assert not await Application.exists()

    answer = await say(ctx, "D5 服务对象同意 已逐户走访")
    assert answer.startswith("已记录") and "同意办结" in answer
    await say(ctx, "D5 办结 已全部清理")
    assert (await Matter.get(code="D5")).state is MatterState.COMPLETION_REQUESTED


async def test_r28_three_refusals_open_the_expert_review_path(db, org, ctx):  # noqa: F811
    await register(ctx, code="D6", service_object="沿河居民")
    for attempt in (1, 2, 3):
        answer = await say(ctx, f"D6 服务对象不同意 第{attempt}次沟通")
    assert "已3次未同意" in answer and "专家论证" in answer
    assert await ConsentAttempt.filter(agreed=False).count() == 3

    answer = await say(ctx, "D6 办结 已全部清理")
    assert "专家论证或公众评价" in answer and not await Application.exists()
    await say(ctx, "D6 办结 经专家论证，整改已达标")
    assert (await Matter.get(code="D6")).state is MatterState.COMPLETION_REQUESTED


async def test_r28_a_matter_without_service_object_needs_no_consent(db, org, ctx):  # noqa: F811
    await register(ctx, code="D7")
    answer = await say(ctx, "D7 服务对象同意")
    assert "未登记服务对象" in answer and not await ConsentAttempt.exists()
    await say(ctx, "D7 办结 已全部清理")
    assert (await Matter.get(code="D7")).state is MatterState.COMPLETION_REQUESTED
