"""The one permission function (`workflow.permissions`) and the service deciding through it.

Issue 8 item 5: nobody decides on their own unit's matter; the bot and the workflow agree on
who is a supervisor because both ask `may`/`supervised_boards`.
"""

from __future__ import annotations

import pytest
from test_workflow import org, person, register  # noqa: F401  (org is a fixture)

from models import Matter, MatterState, Person, Role
from workflow import service
from workflow.errors import Refused
from workflow.permissions import Action, may, supervised_boards, visible_matters

pytestmark = pytest.mark.usefixtures("org")


async def own_matter(ctx) -> Matter:
    """督查室 registers a matter led by 督查室 itself, with 区财政局 cooperating."""
    return await register(ctx, lead="ducha", cooperating=["finance"])


async def completion_requested(ctx, matter: Matter, reporter: str) -> Matter:
    await service.request_completion(ctx, matter, await person(reporter), "web", "已办结")
    return await Matter.get(id=matter.id)


@pytest.mark.parametrize("action", [Action.RETURN, Action.DECIDE_EXTENSION, Action.GRADE,
                                    Action.REVIEW, Action.APPROVE])
async def test_issue8_item5_nobody_decides_on_their_own_units_matter(ctx, action):
    """Issue 8 item 5: the initiator leads its own matter: none of its people may decide."""
    matter = await own_matter(ctx)
    for name in ("陈主任", "孙区长", "周干事", "吴管理员"):
        verdict = await may(await person(name), action, matter)
        assert (verdict.ok, verdict.reason) == (False, "own_unit"), name


async def test_issue8_item5_a_cooperating_initiator_cannot_decide_either(ctx):
    """Issue 8 item 5: cooperating on the matter is being responsible for it too."""
    matter = await register(ctx, lead="water", cooperating=["ducha"])
    verdict = await may(await person("孙区长"), Action.APPROVE, matter)
    assert (verdict.ok, verdict.reason) == (False, "own_unit")


async def test_issue8_item5_the_service_refuses_grading_and_approving_ones_own_matter(ctx):
    """Issue 8 item 5: grade, approve and return of an own-unit matter are refused by the
    service itself (any channel), and nothing changes."""
    matter = await completion_requested(ctx, await own_matter(ctx), "陈主任")
    for call in (lambda p: service.grade(ctx, matter, p, "web", "优秀"),
                 lambda p: service.approve(ctx, matter, p, "web"),
                 lambda p: service.return_matter(ctx, matter, p, "web", "补材料")):
        with pytest.raises(Refused) as refused:
            await call(await person("周干事"))
        assert refused.value.code == "own_unit"
    assert (await Matter.get(id=matter.id)).state is MatterState.COMPLETION_REQUESTED


async def test_issue8_item5_the_responsible_unit_answers_and_never_decides(ctx):
    matter = await register(ctx)
    water_head = await person("王局长")
    assert await may(water_head, Action.ANSWER, matter)
    assert (await may(water_head, Action.GRADE, matter)).reason == "not_supervisor"
    assert (await may(await person("周干事"), Action.ANSWER, matter)).reason == "not_your_matter"


async def test_r30_the_approver_is_the_leader_else_the_head(ctx):
    matter = await register(ctx)
    assert await may(await person("孙区长"), Action.APPROVE, matter)
    assert (await may(await person("陈主任"), Action.APPROVE, matter)).reason == "not_approver"
    assert await may(await person("陈主任"), Action.REVIEW, matter)
    await Person.filter(name="孙区长").update(active=False)
    assert await may(await person("陈主任"), Action.APPROVE, matter)  # no leader: the head


async def test_a_unit_never_sees_another_units_matter(ctx):
    """Issue 8 item 6 / issue 11: VIEW and `visible_matters` agree; no duplicate rows."""
    matter = await register(ctx, cooperating=["finance", "zhongdian"])
    other = await register(ctx, lead="finance", cooperating=[])
    seen = {}
    for name in ("周干事", "李一", "何主任", "钱干事"):
        p = await person(name)
        codes = await Matter.filter(await visible_matters(p)).values_list("code", flat=True)
        seen[name] = sorted(codes)
        for m in (matter, other):
            assert bool(await may(p, Action.VIEW, m)) == (m.code in codes), (name, m.code)
    assert seen == {"周干事": sorted([matter.code, other.code]), "李一": [matter.code],
                    "何主任": sorted([matter.code, other.code]), "钱干事": [matter.code]}


async def test_issue8_item5_bot_and_workflow_agree_on_supervisors(ctx):
    """Issue 8 item 5: the operators of an initiator supervise (simulate contract), on the
    bot as in the workflow; a responsible unit's head and an initiator's staff do not."""
    assert await supervised_boards(await person("吴管理员")) == ["daily", "key_work", "reform"]
    assert await supervised_boards(await person("王局长")) == []
    matter = await register(ctx)
    assert await may(await person("吴管理员"), Action.GRADE, matter)
    staff = await Person.create(unit_id=matter.initiator_id, name="临时工", role=Role.STAFF)
    assert await supervised_boards(staff) == []
    assert (await may(staff, Action.GRADE, matter)).reason == "not_supervisor"


async def test_register_export_and_admin(ctx):
    assert await may(await person("周干事"), Action.REGISTER, board="daily")
    refused = await may(await person("钱干事"), Action.REGISTER, board="daily")
    assert refused.reason == "not_initiator"
    assert await may(await person("钱干事"), Action.EXPORT, board="engineering")
    assert not await may(await person("钱干事"), Action.EXPORT, board="daily")
    assert await may(await person("吴管理员"), Action.ADMIN)
    assert not await may(await person("周干事"), Action.ADMIN)  # a supervisor, no admin
    assert not await may(await person("李一"), Action.ADMIN)


async def test_an_inactive_person_may_nothing(ctx):
    matter = await register(ctx)
    await Person.filter(name="周干事").update(active=False)
    assert (await may(await person("周干事"), Action.VIEW, matter)).reason == "inactive"
