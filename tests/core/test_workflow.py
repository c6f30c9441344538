"""The matter workflow (`workflow.service`, `workflow.chase`) against a real database.

The clock is the virtual one of conftest (Monday 2026-11-23 09:00 Asia/Shanghai); a daily
matter registered then has its 1d node at Tue 24 Nov 09:00, 3d at Thu 26 Nov 09:00 and 7d
at Mon 30 Nov 09:00.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    AuditEntry,
    BoardInitiator,
    ClockAction,
    Feedback,
    Matter,
    MatterState,
    Node,
    OutboundMessage,
    Person,
    Role,
    ScoreEvent,
    Unit,
)
from scheduler.clock import SHANGHAI
from scheduler.rules import Action, Audience, Kind, plan
from workflow import service
from workflow.chase import carry_out, catch_up, mark_stale, run_clock
from workflow.errors import Refused
from workflow.facts import matter_facts
from workflow.feedback import file_feedback
from workflow.records import Actor
from workflow.service import MatterDraft
from workflow.states import TRANSITIONS, Event, next_state

H = timedelta(hours=1)
D = timedelta(days=1)
START = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


def sh(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


# ---------------------------------------------------------------------------------------
# An organisation: 督查室 (initiator of daily/key_work/reform), 重点办 (engineering), and two
# responsible units with every role; some people have SMS only, some Telegram only, some both.

ORG = {
    "ducha": ("区政府督查室", [
        ("陈主任", Role.HEAD, "+8613900000001", 9001),
        ("孙区长", Role.LEADER, "+8613900000005", None),
        ("周干事", Role.SUPERVISOR, "+8613900000002", 9002),
        ("吴管理员", Role.OPERATOR_A, "+8613900000003", None),
    ]),
    "zhongdian": ("区重点办", [
        ("郑主任", Role.HEAD, "+8613700000001", None),
        ("钱干事", Role.SUPERVISOR, "+8613700000002", None),
    ]),
    "water": ("区水务局", [
        ("王局长", Role.HEAD, "+8613800000001", None),
        ("刘主任", Role.DIRECTOR, "+8613800000004", None),
        ("李一", Role.OPERATOR_A, "+8613800000002", 8002),
        ("赵二", Role.OPERATOR_B, "+8613800000003", None),
        ("钱三", Role.STAFF, "+8613800000009", None),
    ]),
    "finance": ("区财政局", [
        ("黄局长", Role.HEAD, None, 7001),
        ("何主任", Role.DIRECTOR, "+8613600000004", None),
        ("马一", Role.OPERATOR_A, "+8613600000002", None),
        ("牛二", Role.OPERATOR_B, "+8613600000003", 7003),
    ]),
}
INITIATORS = {"daily": "ducha", "key_work": "ducha", "reform": "ducha",
              "engineering": "zhongdian"}


@pytest.fixture
async def org(db):
    units = {}
    for key, (name, people) in ORG.items():
        units[key] = await Unit.create(key=key, name=name)
        for person, role, phone, chat in people:
            await Person.create(unit=units[key], name=person, role=role, phone=phone,
                                telegram_chat_id=chat)
    for board, key in INITIATORS.items():
        await BoardInitiator.create(board=board, initiator=units[key])
    return units


async def person(name: str) -> Person:
    return await Person.get(name=name)


def draft(**changes: object) -> MatterDraft:
    base = MatterDraft(board="daily", title="清理辖区河道垃圾", initiator="ducha", lead="water",
                       approver="孙区长", approved_on=date(2026, 11, 20), not_classified=True,
                       cooperating=["finance"])
    return replace(base, **changes)


async def register(ctx, **changes: object) -> Matter:
    actor = Actor(await person("周干事"), "web")
    return await service.register_matter(ctx, draft(**changes), actor)


async def refresh(matter: Matter) -> Matter:
    return await Matter.get(id=matter.id)


async def rows(kind: str, matter: Matter | None = None) -> list[tuple[str, str]]:
    """(person, channel) of every outbound row of `kind`."""
    query = OutboundMessage.filter(kind=kind)
    if matter is not None:
        query = query.filter(matter=matter)
    found = await query.prefetch_related("person").order_by("id")
    return [(m.person.name, m.channel) for m in found]


async def scores(matter: Matter) -> list[tuple[str, Decimal]]:
    events = await ScoreEvent.filter(matter=matter).order_by("id")
    return [(e.reason, e.delta) for e in events]


async def advance(ctx, clock, matter: Matter, until: datetime, step: timedelta = H) -> None:
    """Run the clock every `step` up to `until`, as the service's tick would."""
    moment = clock.now()
    while moment < until:
        moment = min(moment + step, until)
        clock.set(moment)
        await catch_up(ctx, matter)


async def feedback(ctx, matter: Matter, text: str = "已安排李一办理", *, ack: bool = False,
                   who: str = "李一") -> Feedback:
    filed = await file_feedback(ctx, matter, await person(who), "sms", text,
                                        ack_only=ack)
    return filed.feedback


def refused(code: str):
    return pytest.raises(Refused, match=f"^{code}$")


# ---------------------------------------------------------------------------------------
# R1, R2 registration


async def test_r1_only_the_boards_initiator_registers(org, ctx):
    with refused("not_initiator"):
        await register(ctx, initiator="water")
    # A person of another unit cannot register in the initiator's name either.
    with refused("not_initiator"):
        await service.register_matter(ctx, draft(), Actor(await person("李一"), "web"))
    # 重点办 is the engineering initiator, not the daily one.
    with refused("not_initiator"):
        await service.register_matter(ctx, draft(initiator="zhongdian"),
                                      Actor(await person("钱干事"), "web"))
    assert await Matter.all().count() == 0


@pytest.mark.parametrize("missing", [{"approver": ""}, {"approved_on": None}])
async def test_r1_registration_requires_the_written_approval(org, ctx, missing):
    with refused("approval_missing"):
        await register(ctx, **missing)
    assert await Matter.all().count() == 0


async def test_r1_approver_and_date_are_recorded_on_the_matter(org, ctx):
    matter = await register(ctx)
    matter = await refresh(matter)
    assert (matter.approver, matter.approved_on) == ("孙区长", date(2026, 11, 20))
    assert matter.not_classified is True
    assert (matter.code, matter.state, matter.assigned_at) == ("D1", MatterState.ASSIGNED, START)
    entry = await AuditEntry.get(matter=matter, action="register")
    assert entry.detail == {"approver": "孙区长", "approved_on": "2026-11-20"}
    assert entry.actor_label == "周干事" and entry.after == MatterState.ASSIGNED
    # The initiator of another board registers there (R1: each board its own initiator).
    engineering = await service.register_matter(
        ctx, draft(board="engineering", initiator="zhongdian"),
        Actor(await person("钱干事"), "web"))
    assert engineering.code == "E1"


async def test_r1_a_new_code_follows_the_highest_number_of_its_board(org, ctx):
    """Codes given by hand with other endings, and other boards' codes, are not counted;
    the number is the highest in use plus one, not the count."""
    for code in ("D9", "D10", "D2", "D17a", "DX", "d50", "E99"):
        await register(ctx, code=code)
    assert (await register(ctx)).code == "D11"


async def test_r2_registration_requires_the_not_classified_confirmation(org, ctx):
    with refused("classified_not_confirmed"):
        await register(ctx, not_classified=False)
    assert await Matter.all().count() == 0


@pytest.mark.parametrize(("title", "text"), [
    ("【机密】关于防汛物资调配的通知", ""),
    ("绝密★长期 城防工程", ""),
    ("秘密★1年 关于某事项的督办", ""),
    ("关于某事项的督办（秘密）", ""),
    ("清理辖区河道垃圾", "附件：机密文件摘录"),  # the text is checked as well as the title
    ("商业秘密保护专项行动", ""),  # conservative: 秘密 anywhere else is taken as a mark
])
async def test_r2_a_classification_mark_is_refused(org, ctx, title, text):
    with refused("classified_mark"):
        await register(ctx, title=title, text=text)
    assert await Matter.all().count() == 0


@pytest.mark.parametrize("title", [
    "开展保密工作自查整改",  # 保密 (keeping secrets) is a topic, not a mark
    "机关保密宣传月活动",
    "政务外网密码统一重置",  # 密码 (password)
    "更换门禁秘密码锁",  # 秘密码 (a code lock), the one 秘密 compound the rule lets through
])
async def test_r2_words_that_are_not_a_classification_mark_pass(org, ctx, title):
    matter = await register(ctx, title=title)
    assert (await refresh(matter)).title == title


# ---------------------------------------------------------------------------------------
# R3, R4 assignment notice


async def test_r3_assignment_goes_at_once_to_head_and_both_operators_by_every_channel(org, ctx):
    matter = await register(ctx)
    assert sorted(await rows("assigned", matter)) == sorted([
        ("王局长", "sms"), ("李一", "sms"), ("李一", "telegram"), ("赵二", "sms"),
        ("黄局长", "telegram"), ("马一", "sms"), ("牛二", "sms"), ("牛二", "telegram"),
    ])  # no director, no staff: they are not the assignment's audience
    due = {m.due_at for m in await OutboundMessage.filter(matter=matter, kind="assigned")}
    assert due == {START}
    action = await ClockAction.get(matter=matter, key="assigned")
    assert action.done_at == START and not action.skipped


async def test_r4_operator_b_receives_what_goes_to_the_operators(org, ctx, clock):
    matter = await register(ctx)
    await advance(ctx, clock, matter, sh(11, 24, 4))  # the 1d reminder, 5 h before 09:00
    assert sorted(await rows("remind", matter)) == sorted([
        ("刘主任", "sms"),  # R37: not acknowledged within 4 hours, the director is told
        ("李一", "sms"), ("李一", "telegram"), ("赵二", "sms"),  # the 1d reminder: A and B
    ])
    # R37: the assignment is resent to operator B.
    assigned = await OutboundMessage.filter(matter=matter, kind="assigned").prefetch_related(
        "person")
    resend = [m for m in assigned if m.due_at == START + 4 * H]
    assert {(m.person.name, m.context["reason"]) for m in resend} == {("赵二", "ack_resend")}


# ---------------------------------------------------------------------------------------
# R7, R15 feedback


async def test_r7_r15_feedback_is_stored_satisfies_its_node_and_is_forwarded(org, ctx, clock):
    matter = await register(ctx)
    clock.set(START + H)
    receipt = await feedback(ctx, matter, "收到，已安排李一处理", ack=True)
    receipt = await Feedback.get(id=receipt.id)
    assert (receipt.node_key, receipt.late, receipt.ack_only) == ("1d", False, True)
    assert receipt.text == "收到，已安排李一处理" and receipt.channel == "sms"
    node = await Node.get(matter=matter, key="1d")
    assert node.satisfied_at == START + H
    assert (await refresh(matter)).state == MatterState.ACKNOWLEDGED
    # R15: forwarded to the initiator's handling person, by each of their channels.
    assert await rows("feedback", matter) == [("周干事", "sms"), ("周干事", "telegram")]
    forwarded = await OutboundMessage.filter(matter=matter, kind="feedback").first()
    assert forwarded.context["body"] == "收到，已安排李一处理"
    assert forwarded.context["sender"] == "李一" and forwarded.context["reason"] == "ack"
    # A progress report satisfies the next node.
    clock.set(START + 30 * H)
    progress = await feedback(ctx, matter, "已完成排查，正在清运")
    assert (await Feedback.get(id=progress.id)).node_key == "3d"
    assert (await refresh(matter)).state == MatterState.IN_PROGRESS
    assert len(await rows("feedback", matter)) == 4


async def test_r7_an_on_time_receipt_cancels_the_1d_reminder_not_the_3d_one(org, ctx, clock):
    matter = await register(ctx)
    clock.set(START + H)
    await feedback(ctx, matter, "收到", ack=True)
    await advance(ctx, clock, matter, sh(11, 26, 4))
    done = set(await ClockAction.filter(matter=matter).values_list("key", flat=True))
    assert "remind:1d" not in done and "assigned:resend" not in done
    assert "remind:3d" in done
    assert not await OutboundMessage.filter(matter=matter, kind="urge").exists()


async def test_only_the_lead_and_cooperating_units_may_report(org, ctx):
    matter = await register(ctx)
    with refused("not_your_matter"):
        await feedback(ctx, matter, "收到", ack=True, who="周干事")
    await feedback(ctx, matter, "收到", ack=True, who="马一")  # a cooperating unit's operator


# ---------------------------------------------------------------------------------------
# R8 completion application stops the chase


async def test_r8_a_completion_application_stops_every_clock_action(org, ctx, clock):
    matter = await register(ctx)
    clock.set(START + H)
    await feedback(ctx, matter, "收到", ack=True)
    clock.set(START + 2 * H)
    await service.request_completion(ctx, matter, await person("李一"), "sms", "已全部清理")
    assert (await refresh(matter)).state == MatterState.COMPLETION_REQUESTED
    before = await ClockAction.filter(matter=matter).count()
    messages = await OutboundMessage.filter(matter=matter).count()
    await advance(ctx, clock, matter, START + 20 * D, step=6 * H)
    assert await ClockAction.filter(matter=matter).count() == before
    assert await OutboundMessage.filter(matter=matter).count() == messages
    assert (await refresh(matter)).state == MatterState.COMPLETION_REQUESTED


async def test_r8_the_chase_resumes_after_the_completion_application_is_returned(org, ctx,
                                                                                 clock):
    matter = await register(ctx)
    clock.set(START + H)
    await feedback(ctx, matter, "收到", ack=True)
    clock.set(START + 2 * H)
    await service.request_completion(ctx, matter, await person("李一"), "sms", "已全部清理")
    await advance(ctx, clock, matter, sh(11, 26, 10), step=6 * H)  # 3d due 09:00 passed
    assert not await OutboundMessage.filter(matter=matter, kind="urge").exists()
    what = await service.return_matter(ctx, matter, await person("周干事"), "web", "材料不全")
    assert what == "completion"
    await advance(ctx, clock, matter, sh(11, 26, 13))
    urges = await ClockAction.filter(matter=matter, kind="urge", skipped=False)
    assert [u.due_at for u in urges] == [sh(11, 26, 13)]  # a fresh chase: return + 3 h


# ---------------------------------------------------------------------------------------
# R16 return


async def test_r16_a_returned_report_is_told_to_the_unit_costs_points_and_reopens(org, ctx,
                                                                              clock):
    matter = await register(ctx)
    clock.set(START + H)
    await feedback(ctx, matter, "收到", ack=True)
    clock.set(START + 2 * H)
    report = await feedback(ctx, matter, "已清理")
    assert (await Node.get(matter=matter, key="3d")).satisfied_at == START + 2 * H
    clock.set(START + 3 * H)
    what = await service.return_matter(ctx, matter, await person("周干事"), "web",
                                       "未说明清理范围")
    assert what == "report"
    matter = await refresh(matter)
    assert matter.state == MatterState.RETURNED
    report = await Feedback.get(id=report.id)
    assert report.returned_at == START + 3 * H and report.return_reason == "未说明清理范围"
    assert (await Node.get(matter=matter, key="3d")).satisfied_at is None
    assert (await Node.get(matter=matter, key="1d")).satisfied_at == START + H
    assert await scores(matter) == [("returned", Decimal("-0.1"))]
    returned = await OutboundMessage.filter(matter=matter, kind="returned").prefetch_related(
        "person")
    assert {m.person.name for m in returned} == {"王局长", "李一", "赵二", "黄局长", "马一",
                                                "牛二"}
    assert {m.context["reason"] for m in returned} == {"未说明清理范围"}
    # Only the initiator's people return.
    with refused("not_supervisor"):
        await service.return_matter(ctx, matter, await person("王局长"), "web", "x")
    # Resubmitting satisfies the reopened node again.
    clock.set(START + 4 * H)
    again = await feedback(ctx, matter, "已清理河道3公里")
    assert (await Feedback.get(id=again.id)).node_key == "3d"
    assert (await refresh(matter)).state == MatterState.IN_PROGRESS


# ---------------------------------------------------------------------------------------
# R17, R18 extension


async def test_r17_an_extension_later_than_two_days_before_the_last_node_is_refused(org, ctx,
                                                                                clock):
    matter = await register(ctx)
    clock.set(sh(11, 28, 9, 1))  # 7d is due 30 Nov 09:00
    with pytest.raises(Refused) as caught:
        await service.request_extension(ctx, matter, await person("李一"), "sms",
                                        date(2026, 12, 31), "需协调资金")
    assert caught.value.code == "extension_too_late"
    assert caught.value.params == {"deadline": "2026-11-30 09:00"}
    assert (await refresh(matter)).state == MatterState.ASSIGNED
    assert not await Application.exists(matter=matter)


async def test_r17_r18_an_extension_in_time_is_requested_then_approved(org, ctx, clock):
    matter = await register(ctx)
    clock.set(sh(11, 28, 9))  # exactly two days before the last node
    application = await service.request_extension(
        ctx, matter, await person("李一"), "sms", date(2026, 12, 31), "计划：12月完成；责任人李一")
    assert application.kind is ApplicationKind.EXTENSION
    assert application.new_deadline == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert (await refresh(matter)).state == MatterState.EXTENSION_REQUESTED
    assert await rows("feedback", matter) == [("周干事", "sms"), ("周干事", "telegram")]
    clock.set(sh(11, 28, 10))
    assert await service.approve(ctx, matter, await person("周干事"), "web") == "extension"
    matter = await refresh(matter)
    assert matter.state == MatterState.CONTINUING
    assert matter.continuing_since == sh(11, 28, 10)
    assert matter.continuing_until == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    application = await Application.get(id=application.id)
    assert application.status is ApplicationStatus.APPROVED
    # R18: the daily board's continuing track reports weekly (Thursday 3 Dec), plus the
    # extended deadline as a node of its own.
    keys = set(await Node.filter(matter=matter).values_list("key", flat=True))
    assert {"W2026-12-03", "ext"} <= keys


async def test_r17_a_new_deadline_must_be_later_than_the_last_node(org, ctx):
    matter = await register(ctx)
    with refused("extension_not_later"):
        await service.request_extension(ctx, matter, await person("李一"), "sms",
                                        date(2026, 11, 29), "x")


# ---------------------------------------------------------------------------------------
# R29, R30, R31 grade, approval, archive


async def completion_requested(ctx, clock) -> Matter:
    matter = await register(ctx)
    clock.set(START + H)
    await feedback(ctx, matter, "收到", ack=True)
    clock.set(START + 2 * H)
    await service.request_completion(ctx, matter, await person("李一"), "sms", "已全部清理")
    return matter


async def test_r29_a_grade_is_stored_and_excellent_earns_points(org, ctx, clock):
    matter = await completion_requested(ctx, clock)
    await service.grade(ctx, matter, await person("周干事"), "web", "优秀")
    application = await Application.get(matter=matter, kind=ApplicationKind.COMPLETION)
    assert application.grade == "优秀" and application.status is ApplicationStatus.PENDING
    assert await scores(matter) == [("grade:优秀", Decimal("0.1"))]
    assert (await refresh(matter)).state == MatterState.COMPLETION_REQUESTED
    entry = await AuditEntry.get(matter=matter, action="grade")
    assert entry.detail == {"grade": "优秀"}


@pytest.mark.parametrize("grade", ["良好", "合格"])
async def test_r29_good_and_pass_grades_move_no_points(org, ctx, clock, grade):
    matter = await completion_requested(ctx, clock)
    await service.grade(ctx, matter, await person("周干事"), "web", grade)
    assert await scores(matter) == []


async def test_r29_a_fail_grade_returns_the_matter_and_costs_points(org, ctx, clock):
    matter = await completion_requested(ctx, clock)
    await service.grade(ctx, matter, await person("周干事"), "web", "不合格")
    assert (await refresh(matter)).state == MatterState.RETURNED
    application = await Application.get(matter=matter, kind=ApplicationKind.COMPLETION)
    assert (application.grade, application.status) == ("不合格", ApplicationStatus.RETURNED)
    # R32 lists both: the fail grade (-0.1) and the returned material (-0.1).
    assert await scores(matter) == [("grade:不合格", Decimal("-0.1")),
                                    ("returned", Decimal("-0.1"))]
    assert await OutboundMessage.filter(matter=matter, kind="returned").exists()


async def test_r29_an_unknown_grade_is_refused(org, ctx, clock):
    matter = await completion_requested(ctx, clock)
    with refused("bad_grade"):
        await service.grade(ctx, matter, await person("周干事"), "web", "很好")


async def graded_and_reviewed(ctx, clock) -> Matter:
    """A completion graded 合格 (R29) and reviewed by the supervising office (R30)."""
    matter = await completion_requested(ctx, clock)
    await service.grade(ctx, matter, await person("周干事"), "web", "合格")
    assert await service.approve(ctx, matter, await person("周干事"), "web") == "reviewed"
    return matter


async def test_r30_an_operator_of_the_initiator_only_reviews(org, ctx, clock):
    matter = await completion_requested(ctx, clock)
    await service.grade(ctx, matter, await person("周干事"), "web", "合格")
    assert await service.approve(ctx, matter, await person("周干事"), "web") == "reviewed"
    assert (await refresh(matter)).state == MatterState.COMPLETION_REQUESTED
    assert await rows("feedback", matter) == [("周干事", "sms"), ("周干事", "telegram"),
                                              ("周干事", "sms"), ("周干事", "telegram"),
                                              ("孙区长", "sms")]  # passed on to the leader
    assert await AuditEntry.exists(matter=matter, action="review")
    with refused("not_supervisor"):
        await service.approve(ctx, matter, await person("王局长"), "web")


async def test_r30_approval_by_the_initiators_leader_closes(org, ctx, clock):
    matter = await graded_and_reviewed(ctx, clock)
    clock.set(START + 3 * H)
    assert await service.approve(ctx, matter, await person("孙区长"), "web") == "closed"
    matter = await refresh(matter)
    assert matter.state == MatterState.CLOSED and matter.closed_at == START + 3 * H
    closed = await OutboundMessage.filter(matter=matter, kind="closed").prefetch_related(
        "person")
    assert {m.person.name for m in closed} == {"王局长", "李一", "赵二", "黄局长", "马一", "牛二"}
    application = await Application.get(matter=matter, kind=ApplicationKind.COMPLETION)
    assert application.status is ApplicationStatus.APPROVED
    assert (await application.decided_by).name == "孙区长"


async def test_r31_a_closed_matter_keeps_its_record_and_is_archived_never_deleted(org, ctx,
                                                                               clock):
    matter = await graded_and_reviewed(ctx, clock)
    await service.approve(ctx, matter, await person("孙区长"), "web")
    models = (Feedback, Application, AuditEntry, OutboundMessage, ClockAction, Node)
    counts = {m.__name__: await m.filter(matter=matter).count() for m in models}
    assert all(counts.values()), counts
    clock.set(START + 30 * D)
    assert await catch_up(ctx, matter) == 0  # nothing is chased any more
    await service.archive(ctx, await refresh(matter), Actor(await person("周干事"), "web"))
    matter = await refresh(matter)
    assert matter.state == MatterState.ARCHIVED
    after = {m.__name__: await m.filter(matter=matter).count() for m in models}
    assert after == {**counts, "AuditEntry": counts["AuditEntry"] + 1}
    entry = await AuditEntry.filter(matter=matter).order_by("-id").first()
    assert (entry.action, entry.before, entry.after) == ("archive", "closed", "archived")
    with refused("matter_closed"):
        await feedback(ctx, matter, "补充材料")
    with refused("matter_closed"):
        await service.approve(ctx, matter, await person("陈主任"), "web")


# ---------------------------------------------------------------------------------------
# R12, R13, R32 the clock's effects and score events


async def test_r32_urge_episode_supervise_and_late_feedback_score_once_each(org, ctx, clock):
    matter = await register(ctx)
    await advance(ctx, clock, matter, sh(11, 24, 12))  # 1d due 09:00: first urge at 12:00
    assert await scores(matter) == [("urge_episode", Decimal("-0.1"))]
    await advance(ctx, clock, matter, sh(11, 26, 8))
    assert await scores(matter) == [("urge_episode", Decimal("-0.1"))]  # one per episode
    assert len(await ClockAction.filter(matter=matter, kind="urge")) == 19
    await advance(ctx, clock, matter, sh(11, 26, 9))  # R12: +48 h
    assert await scores(matter) == [("urge_episode", Decimal("-0.1")),
                                    ("supervised", Decimal("-0.5"))]
    assert (await refresh(matter)).state == MatterState.SUPERVISED
    supervise = await rows("supervise", matter)
    assert {name for name, _ in supervise} == {"李一", "赵二", "刘主任", "王局长", "周干事"}
    clock.set(sh(11, 26, 10))
    late = await feedback(ctx, matter, "已安排")
    late = await Feedback.get(id=late.id)
    assert (late.node_key, late.late) == ("1d", True)
    assert await scores(matter) == [("urge_episode", Decimal("-0.1")),
                                    ("supervised", Decimal("-0.5")),
                                    ("overdue_feedback", Decimal("-0.1"))]
    total = sum(delta for _, delta in await scores(matter))
    assert total == Decimal("-0.7")
    assert all(e.unit_id == matter.lead_id for e in await ScoreEvent.filter(matter=matter))


async def test_r13_key_supervision_at_72h_goes_to_the_initiators_head(org, ctx, clock):
    matter = await register(ctx)
    await advance(ctx, clock, matter, sh(11, 27, 9), step=2 * H)  # 1d deadline + 72 h
    assert (await refresh(matter)).state == MatterState.KEY_SUPERVISION
    assert {name for name, _ in await rows("escalate", matter)} == {"陈主任"}


# ---------------------------------------------------------------------------------------
# The state machine


@pytest.mark.parametrize(("state", "event"), [
    (MatterState.CLOSED, Event.REPORT),
    (MatterState.ARCHIVED, Event.RETURN),
    (MatterState.ASSIGNED, Event.ARCHIVE),
    (MatterState.ASSIGNED, Event.APPROVE_COMPLETION),
    (MatterState.IN_PROGRESS, Event.APPROVE_EXTENSION),
    (MatterState.COMPLETION_REQUESTED, Event.REQUEST_EXTENSION),
])
def test_illegal_transitions_are_refused_naming_state_and_event(state, event):
    with pytest.raises(Refused) as caught:
        next_state(state, event)
    assert caught.value.code == "illegal_transition"
    assert caught.value.params == {"state": state.value, "event": event.value}


def test_finished_states_have_no_way_back():
    for event, moves in TRANSITIONS.items():
        assert MatterState.ARCHIVED not in moves, event
        if event is not Event.ARCHIVE:
            assert MatterState.CLOSED not in moves, event


async def test_an_illegal_transition_through_the_service_changes_nothing(org, ctx):
    matter = await register(ctx)
    audit_rows = await AuditEntry.filter(matter=matter).count()
    with pytest.raises(Refused) as caught:
        await service.archive(ctx, matter, Actor(await person("周干事"), "web"))
    assert caught.value.code == "illegal_transition"
    assert caught.value.params == {"state": "assigned", "event": "archive"}
    assert (await refresh(matter)).state == MatterState.ASSIGNED
    assert await AuditEntry.filter(matter=matter).count() == audit_rows


# ---------------------------------------------------------------------------------------
# Clock actions: once each, and no burst after downtime


async def test_a_clock_action_is_carried_out_once_even_if_catch_up_runs_twice(org, ctx, clock):
    matter = await register(ctx)
    clock.set(sh(11, 24, 12))
    first = await catch_up(ctx, matter)
    counts = (await ClockAction.filter(matter=matter).count(),
              await OutboundMessage.filter(matter=matter).count(),
              await ScoreEvent.filter(matter=matter).count())
    assert first > 0
    assert await catch_up(ctx, matter) == 0
    assert await run_clock(ctx) == 0
    assert counts == (await ClockAction.filter(matter=matter).count(),
                      await OutboundMessage.filter(matter=matter).count(),
                      await ScoreEvent.filter(matter=matter).count())


async def test_carrying_out_the_same_action_twice_leaves_one_record(org, ctx, clock):
    # Two instances racing for the same action: the unique (matter, key) decides.
    matter = await register(ctx)
    clock.set(sh(11, 24, 12))
    actions = plan(await matter_facts(matter), ctx.policy, ctx.calendar, clock.now())
    urge = next(a for a in actions if a.kind is Kind.URGE)
    for _ in range(2):
        await carry_out(ctx, [(matter, ctx.policy.board(matter.board), [(urge, False)])],
                        clock.now())
    assert await ClockAction.filter(matter=matter, key=urge.key).count() == 1
    assert await scores(matter) == [("urge_episode", Decimal("-0.1"))]
    assert len(await rows("urge", matter)) == 4  # 李一 sms+telegram, 赵二, 刘主任: once


def action(key: str, kind: Kind, at: datetime, node: str | None = "1d",
           deadline: datetime | None = None) -> Action:
    return Action(key, kind, at, Audience.OPERATORS, node, deadline=deadline)


def test_mark_stale_keeps_only_the_newest_urge_per_node_and_no_past_reminder():
    now = sh(11, 25, 10)
    due = [
        action("remind:1d", Kind.REMIND, sh(11, 24, 4), deadline=sh(11, 24, 9)),
        action("remind:unacknowledged", Kind.REMIND, sh(11, 23, 13), node=None),
        action("urge:1d:1", Kind.URGE, sh(11, 24, 12)),
        action("urge:1d:2", Kind.URGE, sh(11, 24, 15)),
        action("urge:1d:3", Kind.URGE, sh(11, 24, 18)),
        action("supervise:1d", Kind.SUPERVISE, sh(11, 24, 19)),
        action("report_due:W", Kind.REPORT_DUE, sh(11, 25, 9), node="W",
               deadline=sh(11, 27)),
    ]
    stale = {a.key: flag for a, flag in mark_stale(due, now)}
    assert stale == {"remind:1d": True, "remind:unacknowledged": False, "urge:1d:1": True,
                     "urge:1d:2": True, "urge:1d:3": False, "supervise:1d": False,
                     "report_due:W": False}


async def test_after_downtime_only_the_newest_urge_is_sent_and_the_episode_still_counts(
        org, ctx, clock):
    matter = await register(ctx)
    clock.set(sh(11, 24, 19, 30))  # down since registration: 1d urges at 12, 15, 18 due
    await catch_up(ctx, matter)
    done = {a.key: a for a in await ClockAction.filter(matter=matter)}
    urges = sorted((a for a in done.values() if a.kind == "urge"), key=lambda a: a.due_at)
    assert [(a.due_at, a.skipped) for a in urges] == [
        (sh(11, 24, 12), True), (sh(11, 24, 15), True), (sh(11, 24, 18), False)]
    assert done["remind:1d"].skipped  # its deadline has passed: pointless now
    sent = await OutboundMessage.filter(matter=matter, kind="urge")
    assert {m.due_at for m in sent} == {sh(11, 24, 18)}
    assert {m.context["number"] for m in sent} == {3}
    # Downtime does not change a unit's points: the node was overdue and urged.
    assert await scores(matter) == [("urge_episode", Decimal("-0.1"))]
