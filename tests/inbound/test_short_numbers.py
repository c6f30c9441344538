"""Short numbers: lowest free per person, stable, not reused for 72 h after closing."""

from __future__ import annotations

from datetime import timedelta

from models import Matter, Person, ShortNumber
from replies.short_numbers import lowest_free, matter_by_number, numbered_matters
from tests.inbound.conftest import LEADER, OPERATOR, new_matter, send


async def numbers(person: Person, now) -> dict[str, int]:
    return {n.matter.code: n.number for n in await numbered_matters(person, now)}


async def close(inbox, code: str) -> None:
    await send(inbox, f"{code} 办结 已完成")
    await send(inbox, f"评定 {code} 合格", sender=LEADER)
    await send(inbox, f"同意 {code}", sender=LEADER)
    assert (await Matter.get(code=code)).state == "closed"


def test_lowest_free_fills_gaps():
    assert lowest_free(set()) == 1
    assert lowest_free({1, 2, 4}) == 3


async def test_numbers_follow_assignment_order_and_stay(org, ctx):
    li = await Person.get(phone=f"+86{OPERATOR}")
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    now = ctx.clock.now()
    assert await numbers(li, now) == {"D17": 1, "D18": 2}
    await new_matter(ctx, "D19", title="排查燃气管网隐患")
    assert await numbers(li, now) == {"D17": 1, "D18": 2, "D19": 3}
    assert await ShortNumber.filter(person=li).count() == 3


async def test_each_person_numbers_their_own_matters(org, ctx):
    li = await Person.get(phone=f"+86{OPERATOR}")
    sun = await Person.get(name="孙三")
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="修缮校舍", lead="roads")
    now = ctx.clock.now()
    assert await numbers(li, now) == {"D17": 1}
    assert await numbers(sun, now) == {"D18": 1}


async def test_a_closed_matters_number_rests_72_hours(org, ctx, inbox):
    li = await Person.get(phone=f"+86{OPERATOR}")
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    await numbers(li, ctx.clock.now())
    await close(inbox, "D17")
    closed_at = ctx.clock.now()
    await new_matter(ctx, "D19", title="排查燃气管网隐患")
    assert await numbers(li, ctx.clock.now()) == {"D18": 2, "D19": 3}
    assert (await matter_by_number(li, 1, ctx.clock.now())).code == "D17"
    row = await ShortNumber.get(person=li, matter__code="D17")
    assert row.released_at == closed_at

    ctx.clock.set(closed_at + timedelta(hours=72, minutes=1))
    assert await matter_by_number(li, 1, ctx.clock.now()) is None
    await new_matter(ctx, "D20", title="补种行道树")
    assert await numbers(li, ctx.clock.now()) == {"D20": 1, "D18": 2, "D19": 3}
    assert (await matter_by_number(li, 1, ctx.clock.now())).code == "D20"
