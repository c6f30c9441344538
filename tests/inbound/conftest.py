"""A small organisation, the inbox and helpers to send a reply and read its answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from dispatch.channel import InboundText
from dispatch.render import Renderer
from models import BoardInitiator, InboundMessage, Matter, OutboundMessage, Person, Role, Unit
from replies.inbound import Inbox
from workflow.context import Context
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

OPERATOR = "13800000002"  # 李一, water's A post (also telegram 1001)
OPERATOR_B = "13800000003"  # 赵二, water's B post
OTHER_UNIT = "13700000002"  # 孙三, operator of the roads bureau
SUPERVISOR = "13900000002"  # 周干事, 督查室 handling person (telegram 2002)
LEADER = "13900000001"  # 陈主任, head of 督查室: approves completion (R30)
STRANGER = "13600000009"

RENDERER = Renderer(sms_signature="【督办】")


@dataclass
class Org:
    ducha: Unit
    water: Unit
    roads: Unit


async def build_org() -> Org:
    ducha = await Unit.create(key="ducha", name="区政府督查室")
    water = await Unit.create(key="water", name="区水务局")
    roads = await Unit.create(key="roads", name="区交通局")
    people = [
        (ducha, "陈主任", Role.HEAD, LEADER, 2001),
        (ducha, "周干事", Role.SUPERVISOR, SUPERVISOR, 2002),
        (water, "王局长", Role.HEAD, "13800000001", None),
        (water, "李一", Role.OPERATOR_A, OPERATOR, 1001),
        (water, "赵二", Role.OPERATOR_B, OPERATOR_B, None),
        (roads, "孙三", Role.OPERATOR_A, OTHER_UNIT, None),
    ]
    for unit, name, role, phone, chat in people:
        await Person.create(
            unit=unit, name=name, role=role, phone=f"+86{phone}", telegram_chat_id=chat
        )
    await BoardInitiator.create(board="daily", initiator=ducha)
    return Org(ducha, water, roads)


async def new_matter(
    ctx: Context, code: str, title: str = "清理辖区河道垃圾", lead: str = "water", **extra: object
) -> Matter:
    draft = MatterDraft(
        board="daily",
        title=title,
        initiator="ducha",
        lead=lead,
        approver="分管副区长",
        approved_on=date(2026, 11, 20),
        not_classified=True,
        code=code,
        **extra,
    )
    return await register_matter(ctx, draft, Actor(None, "cli"))


@pytest.fixture
async def org(db) -> Org:
    return await build_org()


@pytest.fixture
def inbox(ctx: Context) -> Inbox:
    return Inbox(ctx)


async def send(
    inbox: Inbox,
    text: str,
    sender: str = OPERATOR,
    channel: str = "sms",
    provider_id: str | None = None,
) -> InboundMessage:
    """Hand one reply to the inbox; return its stored row (after processing)."""
    await inbox.inbound(InboundText(channel, sender, text, provider_id, {"test": True}))
    return await InboundMessage.filter(channel=channel).order_by("-id").first()


async def answers(row: InboundMessage) -> list[OutboundMessage]:
    return await OutboundMessage.filter(dedup_key__startswith=f"reply:{row.id}:").order_by("id")


async def answer_text(row: InboundMessage) -> str:
    """The one answer to `row`, rendered as the dispatcher would."""
    found = await answers(row)
    assert len(found) == 1, f"expected one answer, got {len(found)}"
    return render(found[0])


def render(message: OutboundMessage) -> str:
    return RENDERER.render(message.kind, message.context)


async def state(code: str) -> str:
    return (await Matter.get(code=code)).state.value
