"""STUB of `workflow.permissions` (helper c, OWNERS.md interface #1) with exactly its
interface, until branch hc lands; then this module is deleted and the console imports
`workflow.permissions` instead."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tortoise.expressions import Q

from models import BoardInitiator, Matter, Person, Role
from workflow import recipients
from workflow.states import FINISHED


class Action(StrEnum):
    VIEW = "view"
    ANSWER = "answer"
    REGISTER = "register"
    RETURN = "return"
    DECIDE_EXTENSION = "decide_extension"
    GRADE = "grade"
    REVIEW = "review"
    APPROVE = "approve"
    EXPORT = "export"
    ADMIN = "admin"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


YES = Verdict(True)
DECISIONS = (Action.RETURN, Action.DECIDE_EXTENSION, Action.GRADE, Action.REVIEW, Action.APPROVE)
ADMIN_ROLES = (Role.HEAD, Role.DIRECTOR, Role.SUPERVISOR)


async def supervised_boards(person: Person) -> list[str]:
    return list(await BoardInitiator.filter(initiator_id=person.unit_id)
                .values_list("board", flat=True))


async def visible_matters(person: Person) -> Q:
    cooperating = await Matter.filter(cooperating__id=person.unit_id).values_list("id", flat=True)
    return (Q(initiator_id=person.unit_id) | Q(lead_id=person.unit_id)
            | Q(id__in=list(cooperating)))


async def may(person: Person, action: Action, matter: Matter | None = None,
              board: str | None = None) -> Verdict:
    if not person.active:
        return Verdict(False, "inactive")
    if action is Action.REGISTER:
        return YES if board in await supervised_boards(person) else Verdict(False, "not_initiator")
    if action in (Action.EXPORT, Action.ADMIN):
        boards = await supervised_boards(person)
        if not boards or (action is Action.ADMIN and person.role not in ADMIN_ROLES):
            return Verdict(False, "not_supervisor")
        return YES
    assert matter is not None
    own = await recipients.is_responsible(person, matter) or person.unit_id in {
        u.id for u in await recipients.responsible_units(matter)}
    if action is Action.VIEW:
        return YES if own or person.unit_id == matter.initiator_id else Verdict(False, "not_your_unit")
    if action is Action.ANSWER:
        if matter.state in FINISHED:
            return Verdict(False, "matter_closed")
        return YES if await recipients.is_responsible(person, matter) else Verdict(False, "not_your_unit")
    if own:
        return Verdict(False, "own_unit")
    if not recipients.is_supervisor_of(person, matter):
        return Verdict(False, "not_supervisor")
    if action is Action.APPROVE and not recipients.is_approving_leader(person, matter):
        return Verdict(False, "not_leader")
    return YES
