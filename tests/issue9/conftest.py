"""A small organisation for issue 9's tests: 督查室 initiates the daily and key_work boards;
水务局 is the responsible unit. 李一 (A post) has SMS and the messenger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models import BoardInitiator, Matter, Node, Person, Role, Unit
from scheduler.rules import node_states
from workflow.context import Context
from workflow.facts import matter_facts
from workflow.holidays import load_calendar
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

PEOPLE = {
    "ducha": ("区政府督查室", [("陈主任", Role.HEAD, "+8613900000001", None),
                            ("周干事", Role.SUPERVISOR, "+8613900000002", 9002)]),
    "water": ("区水务局", [("王局长", Role.HEAD, "+8613800000001", None),
                         ("刘主任", Role.DIRECTOR, "+8613800000004", None),
                         ("李一", Role.OPERATOR_A, "+8613800000002", 8002),
                         ("赵二", Role.OPERATOR_B, "+8613800000003", None)]),
}


@pytest.fixture
async def org(db):
    units = {key: await Unit.create(key=key, name=name) for key, (name, _) in PEOPLE.items()}
    await Person.bulk_create([
        Person(unit=units[key], name=name, role=role, phone=phone, telegram_chat_id=chat)
        for key, (_, people) in PEOPLE.items() for name, role, phone, chat in people])
    for board in ("daily", "key_work"):
        await BoardInitiator.create(board=board, initiator=units["ducha"])
    return units


async def register(ctx: Context, board: str = "daily", **extra: object) -> Matter:
    draft = MatterDraft(board=board, title="清理辖区河道垃圾", initiator="ducha", lead="water",
                        approver="孙区长", approved_on=date(2026, 11, 20), not_classified=True,
                        **extra)
    return await register_matter(ctx, draft, Actor(await Person.get(name="周干事"), "web"))


async def assert_nodes_agree_with_the_clock(ctx: Context, matter: Matter) -> None:
    """Every node row has the clock's due time, and every class node has a row (periodic
    rows are written 40 days ahead of their last refresh, so later ones may lack one)."""
    matter = await Matter.get(id=matter.id)
    states = node_states(await matter_facts(matter), ctx.policy, await load_calendar(),
                         ctx.clock.now() + timedelta(days=40))
    clock = {s.node.key: s.node.due for s in states}
    rows = {n.key: n.due_at for n in await Node.filter(matter=matter)}
    assert rows == {k: clock[k] for k in rows}
    assert {k for k in clock if k[0] not in "WM"} <= set(rows)
