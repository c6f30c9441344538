"""The matter workflow service: the only code that changes a matter.

Each operation checks who may do it, moves the state machine, writes the audit row, the
score events and the messages it causes in one transaction, then lets the clock catch up.
Channels (SMS, the bot, the web console, simulate) call these; none holds a rule itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from dispatch.wakeup import is_postgres
from models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    BoardInitiator,
    ConsentAttempt,
    Feedback,
    Matter,
    MatterState,
    Person,
    Role,
    Unit,
)
from scheduler.policy import BOARD_PREFIX, Approval, Board, policy_to_json
from scheduler.rules import Audience, Kind, registration_due, walk
from workflow import recipients
from workflow.chase import catch_up, local_text, message_context
from workflow.context import Context
from workflow.delivery import deliver
from workflow.errors import Refused
from workflow.facts import matter_facts, matter_policy
from workflow.permissions import Action, may
from workflow.records import Actor, add_score, audit, move
from workflow.states import Event
from workflow.steps import check_may, forward, hold, refresh_nodes

CLASSIFICATION_MARK = re.compile(r"绝密|机密|(?<![保])秘密(?!码)")  # R2
GRADES = {"优秀": Decimal("0.1"), "良好": Decimal("0"), "合格": Decimal("0"),
          "不合格": Decimal("-0.1")}  # R29, R32
EXTENSION_NOTICE = timedelta(days=2)  # R17


@dataclass
class MatterDraft:
    """What a supervisor registers (R1, R2, R5)."""

    board: str
    title: str
    initiator: str  # unit key
    lead: str  # unit key
    approver: str  # R1
    approved_on: date  # R1
    not_classified: bool  # R2
    klass: str = "general"
    deadline: datetime | None = None
    cooperating: list[str] = field(default_factory=list)
    source: str = ""
    code: str | None = None
    text: str = ""
    reported_on: date | None = None  # investment: when the problem was reported (R26)
    service_object: str | None = None  # 服务对象 whose consent completion needs (R28)


# ---------------------------------------------------------------------------------------
# Registration (R1-R5)


async def register_matter(ctx: Context, draft: MatterDraft, actor: Actor) -> Matter:
    now = ctx.clock.now()
    board, initiator, lead, cooperating = await check_registration(draft, actor)
    async with in_transaction():
        matter = await Matter.create(
            code=draft.code or await next_code(board), title=draft.title, source=draft.source,
            board=board.value, klass=draft.klass, deadline=draft.deadline, initiator=initiator,
            policy=policy_to_json(ctx.policy.board(board)),
            lead=lead, approver=draft.approver, approved_on=draft.approved_on,
            not_classified=True, service_object=draft.service_object or None,
            state=MatterState.ASSIGNED, created_at=now, assigned_at=now)
        if cooperating:
            await matter.cooperating.add(*cooperating)
        await audit(matter, actor, "register", None, MatterState.ASSIGNED, now,
                    approver=draft.approver, approved_on=draft.approved_on.isoformat(),
                    **registration_timeliness(ctx, board, draft.reported_on, now))
        await refresh_nodes(ctx, matter, await matter_facts(matter))
    await catch_up(ctx, matter)  # R3: the assignment notice goes out at once
    return matter


async def check_registration(draft: MatterDraft, actor: Actor
                             ) -> tuple[Board, Unit, Unit, list[Unit]]:
    try:
        board = Board(draft.board)
    except ValueError:
        raise Refused("unknown_board", board=draft.board) from None
    if not draft.not_classified:
        raise Refused("classified_not_confirmed")  # R2
    if CLASSIFICATION_MARK.search(f"{draft.title}\n{draft.text}"):
        raise Refused("classified_mark")  # R2
    if not draft.approver or not draft.approved_on:
        raise Refused("approval_missing")  # R1
    if draft.klass not in ("general", "major"):
        raise Refused("unknown_class", klass=draft.klass)
    initiator = await unit_by_key(draft.initiator)
    registered = await BoardInitiator.get_or_none(board=board.value)
    if registered and registered.initiator_id != initiator.id:
        raise Refused("not_initiator", board=board.value)  # R1
    if actor.person and actor.person.unit_id != initiator.id:
        raise Refused("not_initiator", board=board.value)
    if draft.code and await Matter.exists(code=draft.code):
        raise Refused("code_taken", code=draft.code)
    lead = await unit_by_key(draft.lead)
    cooperating = [await unit_by_key(key) for key in draft.cooperating]
    return board, initiator, lead, cooperating


def registration_timeliness(ctx: Context, board: Board, reported_on: date | None,
                            now: datetime) -> dict[str, Any]:
    """R26: an investment problem is registered within 3 working days of being reported.
    A late registration is still made (the problem needs supervising) but is recorded so."""
    if board is not Board.INVESTMENT or reported_on is None:
        return {}
    due = registration_due(reported_on, ctx.calendar)
    return {"reported_on": reported_on.isoformat(), "registration_due": due.isoformat(),
            "registered_late": now.astimezone(ctx.tz).date() > due}


async def unit_by_key(key: str) -> Unit:
    unit = await Unit.get_or_none(key=key)
    if unit is None:
        raise Refused("unknown_unit", unit=key)
    return unit


async def next_code(board: Board) -> str:
    """The board's prefix and one more than the highest number after it ("D17" → "D18");
    codes with other endings (given by hand) are not counted. The database finds the
    highest: reading every code made each registration slower as the archive grew."""
    prefix = BOARD_PREFIX[board]
    rest = f"substr(code, {len(prefix) + 1})"
    digits_only = f"{rest} ~ '^[0-9]+$'" if is_postgres() else f"{rest} NOT GLOB '*[^0-9]*'"
    _, rows = await Tortoise.get_connection("default").execute_query(
        f"SELECT MAX(CAST({rest} AS BIGINT)) AS n FROM matter "
        f"WHERE substr(code, 1, {len(prefix)}) = '{prefix}' "
        f"AND length({rest}) BETWEEN 1 AND 18 AND {digits_only}")
    return f"{prefix}{(rows[0]['n'] or 0) + 1}"


# ---------------------------------------------------------------------------------------
# What the unit files (R7, R15, R17, R27); feedback is `workflow.feedback`


async def request_extension(ctx: Context, matter: Matter, person: Person, channel: str,
                            new_deadline: date, text: str) -> Application:
    """R17: at least 2 days before the last node, with a plan and a reason."""
    await hold(matter)
    await check_reporter(matter, person)
    now = ctx.clock.now()
    last_due = await last_deadline(ctx, matter)
    if now > last_due - EXTENSION_NOTICE:
        raise Refused("extension_too_late", deadline=local_text(ctx, last_due))
    until = datetime.combine(new_deadline + timedelta(days=1), time(0), ctx.tz)
    if until <= last_due:
        raise Refused("extension_not_later", deadline=local_text(ctx, last_due))
    if await pending_application(matter):
        raise Refused("application_pending")
    async with in_transaction():
        application = await Application.create(
            matter=matter, kind=ApplicationKind.EXTENSION, person=person, channel=channel,
            text=text, new_deadline=until, filed_at=now)
        await move(matter, Event.REQUEST_EXTENSION, Actor(person, channel), now,
                   new_deadline=new_deadline.isoformat())
        await forward(ctx, matter, "extension", text, person, now,
                      new_deadline=new_deadline.isoformat())
    return application


async def last_deadline(ctx: Context, matter: Matter) -> datetime:
    if matter.continuing_until:
        return matter.continuing_until
    nodes = walk(await matter_facts(matter), matter_policy(ctx.policy, matter), ctx.calendar,
                 ctx.clock.now())
    class_nodes = [n for n in nodes if n.reason == "node"]
    return max(n.due for n in class_nodes)


async def request_completion(ctx: Context, matter: Matter, person: Person, channel: str,
                             text: str) -> Application:
    """R27: the completion application; R8: the chase stops while it is pending."""
    await hold(matter)
    await check_reporter(matter, person)
    now = ctx.clock.now()
    if await pending_application(matter, ApplicationKind.COMPLETION):
        raise Refused("application_pending")
    await check_consent(matter, text)
    async with in_transaction():
        application = await Application.create(
            matter=matter, kind=ApplicationKind.COMPLETION, person=person, channel=channel,
            text=text, filed_at=now)
        matter.completion_requested_at = now
        await move(matter, Event.REQUEST_COMPLETION, Actor(person, channel), now,
                   ("completion_requested_at",))
        await forward(ctx, matter, "completion", text, person, now)
    return application


CONSENT_ATTEMPTS = 3  # R28: after this many refusals, an expert review instead
VERIFICATION_WORDS = ("专家论证", "专家评审", "公众评价", "群众评议")


async def check_consent(matter: Matter, text: str) -> None:
    """R28: a matter with a service object closes with its consent; after 3 failed
    attempts, with an expert review or public evaluation named in the application."""
    if not matter.service_object:
        return
    if await ConsentAttempt.exists(matter=matter, agreed=True):
        return
    refusals = await ConsentAttempt.filter(matter=matter, agreed=False).count()
    if refusals < CONSENT_ATTEMPTS:
        raise Refused("consent_missing", service_object=matter.service_object,
                      attempts=refusals)
    if not any(word in text for word in VERIFICATION_WORDS):
        raise Refused("verification_missing", service_object=matter.service_object)


async def record_consent(ctx: Context, matter: Matter, person: Person, channel: str,
                         agreed: bool, text: str) -> int:
    """R28: the unit reports one attempt to get the service object's consent. Returns how
    many times the service object has refused so far."""
    await hold(matter)
    await check_reporter(matter, person)
    if not matter.service_object:
        raise Refused("no_service_object")
    now = ctx.clock.now()
    async with in_transaction():
        await ConsentAttempt.create(matter=matter, person=person, channel=channel,
                                    agreed=agreed, text=text, at=now)
        await audit(matter, Actor(person, channel), "consent", matter.state, matter.state, now,
                    agreed=agreed)
        await forward(ctx, matter, "consent", text, person, now, agreed=agreed)
    return await ConsentAttempt.filter(matter=matter, agreed=False).count()


async def check_reporter(matter: Matter, person: Person) -> None:
    await check_may(matter, person, Action.ANSWER)


async def pending_application(matter: Matter, kind: ApplicationKind | None = None
                              ) -> Application | None:
    query = Application.filter(matter=matter, status=ApplicationStatus.PENDING)
    if kind:
        query = query.filter(kind=kind)
    return await query.order_by("-filed_at").first()


# ---------------------------------------------------------------------------------------
# What the initiator decides (R16, R18, R29, R30)


async def approve(ctx: Context, matter: Matter, person: Person, channel: str) -> str:
    """Decide the pending application. Returns what happened: extension, reviewed, closed.

    A completion is graded first (R29); then the board's approval chain (R30) says whether
    this person's approval is the supervising office's review or the final decision."""
    await hold(matter)
    await check_may(matter, person, Action.REVIEW)
    application = await pending_application(matter)
    if application is None:
        raise Refused("nothing_to_approve", code=matter.code)
    if application.kind is ApplicationKind.EXTENSION:
        await check_may(matter, person, Action.DECIDE_EXTENSION)
        await approve_extension(ctx, matter, application, person, channel)
        return "extension"
    if application.grade is None:
        raise Refused("grade_first", code=matter.code)  # R29
    if await approval_step(ctx, matter, application, person) == "review":
        await review_completion(ctx, matter, application, person, channel)
        return "reviewed"
    await close(ctx, matter, application, person, channel)
    return "closed"


async def approval_step(ctx: Context, matter: Matter, application: Application,
                        person: Person) -> str:
    """R30: "review" or "decide", or the refusal. Two steps: the office (the initiator's
    supervisors) reviews, then the approving leader decides. The initiator's head is the
    approver only when the unit has no leader; then, having no one above to pass it to,
    the head's approval gives both steps. One step: only the approver decides."""
    approver = await may(person, Action.APPROVE, matter)
    if ctx.policy.board(matter.board).approval is Approval.ONE_STEP:
        if not approver:
            raise Refused(approver.reason, code=matter.code)
        return "decide"
    if not approver:
        if application.reviewed_at:
            raise Refused("already_reviewed", code=matter.code)
        return "review"
    if application.reviewed_at is None and person.role is not Role.HEAD:
        raise Refused("review_first", code=matter.code)
    return "decide"


async def approve_extension(ctx: Context, matter: Matter, application: Application,
                            person: Person, channel: str) -> None:
    now = ctx.clock.now()
    async with in_transaction():
        await decide(application, ApplicationStatus.APPROVED, person, now)
        matter.continuing_since, matter.continuing_until = now, application.new_deadline
        await move(matter, Event.APPROVE_EXTENSION, Actor(person, channel), now,
                   ("continuing_since", "continuing_until"))
        await refresh_nodes(ctx, matter, await matter_facts(matter))
        await tell_unit(ctx, matter, Kind.REPLY, now, reason="extension_approved")
    await catch_up(ctx, matter)


async def review_completion(ctx: Context, matter: Matter, application: Application,
                            person: Person, channel: str) -> None:
    """The supervising office's review: recorded, and passed on to the approving leader."""
    now = ctx.clock.now()
    async with in_transaction():
        application.reviewed_at, application.reviewed_by = now, person
        await application.save(update_fields=["reviewed_at", "reviewed_by_id"])
        await audit(matter, Actor(person, channel), "review", matter.state, matter.state, now,
                    grade=application.grade)
        leaders = await recipients.audience_people(matter, Audience.INITIATOR_LEADER)
        context = await message_context(ctx, matter) | {"reason": "review_done",
                                                       "sender": person.name}
        await deliver(ctx, kind=Kind.FEEDBACK, people=leaders, context=context, due_at=now, now=now,
                      matter=matter)


async def close(ctx: Context, matter: Matter, application: Application, person: Person,
                channel: str) -> None:
    """The decision; the audit row names who reviewed (R30) and the grade (R29)."""
    now = ctx.clock.now()
    reviewer = await application.reviewed_by if application.reviewed_by_id else person
    async with in_transaction():
        await decide(application, ApplicationStatus.APPROVED, person, now)
        matter.closed_at = now
        await move(matter, Event.APPROVE_COMPLETION, Actor(person, channel), now, ("closed_at",),
                   reviewed_by=reviewer.name, grade=application.grade)
        await tell_unit(ctx, matter, Kind.CLOSED, now, grade=application.grade or "")


async def return_matter(ctx: Context, matter: Matter, person: Person, channel: str,
                        reason: str) -> str:
    """R16: return the pending application, else the latest report, with a reason."""
    await hold(matter)
    await check_may(matter, person, Action.RETURN)
    now = ctx.clock.now()
    application = await pending_application(matter)
    feedback = None if application else await Feedback.filter(
        matter=matter, returned_at=None, ack_only=False).order_by("-at").first()
    if application is None and feedback is None:
        raise Refused("nothing_to_return", code=matter.code)
    async with in_transaction():
        if application:
            await decide(application, ApplicationStatus.RETURNED, person, now, reason)
            if application.kind is ApplicationKind.COMPLETION:
                matter.completion_requested_at = None
        else:
            feedback.returned_at, feedback.return_reason = now, reason
            await feedback.save(update_fields=["returned_at", "return_reason"])
        await add_score(matter, "-0.1", "returned", now)  # R32
        await move(matter, Event.RETURN, Actor(person, channel), now,
                   ("completion_requested_at",), reason=reason)
        await refresh_nodes(ctx, matter, await matter_facts(matter))
        what = application.kind.value if application else "report"
        await tell_unit(ctx, matter, Kind.RETURNED, now, reason=reason, what=what)
    await catch_up(ctx, matter)
    return what


async def grade(ctx: Context, matter: Matter, person: Person, channel: str, value: str) -> None:
    """R29: grade the completion application, once; 不合格 returns the matter to the unit.
    A second grade is refused: a changed grade is `correct_grade`, audited as such."""
    await hold(matter)
    application = await application_to_grade(matter, person, value)
    if application.grade:
        raise Refused("already_graded", code=matter.code, grade=application.grade)
    now = ctx.clock.now()
    async with in_transaction():
        application.grade = value
        await application.save(update_fields=["grade"])
        await audit(matter, Actor(person, channel), "grade", matter.state, matter.state, now,
                    grade=value)
        if GRADES[value]:
            await add_score(matter, str(GRADES[value]), f"grade:{value}", now)  # R32
    if value == "不合格":
        await return_matter(ctx, matter, person, channel, "评定为不合格")


async def correct_grade(ctx: Context, matter: Matter, person: Person, channel: str,
                        value: str, reason: str) -> str:
    """R29, R32: replace the grade of the pending completion before it is decided. The old
    grade's points are reversed by a score event of their own (the record keeps both) and
    the new grade's added; the audit row names both grades and the reason. Returns the
    grade replaced."""
    await hold(matter)
    application = await application_to_grade(matter, person, value)
    old = application.grade
    if old is None:
        raise Refused("nothing_to_correct", code=matter.code)
    if old == value:
        raise Refused("same_grade", code=matter.code, grade=value)
    if not reason.strip():
        raise Refused("correction_reason_missing", code=matter.code)
    now = ctx.clock.now()
    async with in_transaction():
        application.grade = value
        await application.save(update_fields=["grade"])
        await audit(matter, Actor(person, channel), "grade_corrected", matter.state,
                    matter.state, now, grade=value, replaced=old, reason=reason)
        if GRADES[old]:
            await add_score(matter, str(-GRADES[old]), f"grade_reversed:{old}", now)
        if GRADES[value]:
            await add_score(matter, str(GRADES[value]), f"grade:{value}", now)
    if value == "不合格":
        await return_matter(ctx, matter, person, channel, "评定为不合格")
    return old


async def application_to_grade(matter: Matter, person: Person, value: str) -> Application:
    await check_may(matter, person, Action.GRADE)
    if value not in GRADES:
        raise Refused("bad_grade", grade=value)
    application = await pending_application(matter, ApplicationKind.COMPLETION)
    if application is None:
        raise Refused("nothing_to_grade", code=matter.code)
    return application


async def decide(application: Application, status: ApplicationStatus, person: Person,
                 now: datetime, reason: str | None = None) -> None:
    application.status, application.decided_at = status, now
    application.decided_by, application.reason = person, reason
    await application.save(update_fields=["status", "decided_at", "decided_by_id", "reason"])


async def archive(ctx: Context, matter: Matter, actor: Actor) -> None:
    """R31: closed matters are archived with their whole record, never deleted."""
    await move(matter, Event.ARCHIVE, actor, ctx.clock.now())


# ---------------------------------------------------------------------------------------
# Shared steps


async def tell_unit(ctx: Context, matter: Matter, kind: Kind, now: datetime, **extra: Any
                    ) -> None:
    people = await recipients.audience_people(matter, Audience.RESPONSIBLE)
    context = await message_context(ctx, matter) | extra
    await deliver(ctx, kind=kind, people=people, context=context, due_at=now, now=now, matter=matter)

