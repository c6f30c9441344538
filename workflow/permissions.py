"""The one permission function: who may do what to which matter, for every channel.

The bot, SMS replies, the web console and the workflow service all ask `may`; none keeps
its own notion of "supervisor". The rules (measures art. 10-18, R1, R16, R29, R30):

- A unit sees only the matters it initiated, leads or cooperates on — another unit's
  matter is invisible, title included (`visible_matters` is the queryset filter for it).
- The people of a responsible unit (lead or cooperating) answer its matters.
- The supervisors of a matter are the head, office director, operators (A/B posts),
  supervisors and leaders of its initiator unit; they review, return, grade and decide
  extensions.
- The approving leader (R30) is a leader of the initiator unit, or its head when the unit
  has no leader (the same fallback as the INITIATOR_LEADER audience).
- Nobody decides (return, grade, review, approve, extension) on a matter whose lead or
  cooperating unit is their own: no unit judges its own work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from tortoise.expressions import Q, Subquery

from models import BoardInitiator, Matter, Person, Role

SUPERVISING_ROLES = frozenset({Role.HEAD, Role.DIRECTOR, Role.OPERATOR_A, Role.OPERATOR_B,
                               Role.SUPERVISOR, Role.LEADER})
REPORTING_ROLES = frozenset({Role.HEAD, Role.DIRECTOR, Role.OPERATOR_A, Role.OPERATOR_B,
                             Role.STAFF})
ADMIN_ROLES = frozenset({Role.HEAD, Role.DIRECTOR, Role.OPERATOR_A, Role.OPERATOR_B})
# The supervising office (督查室) initiates these boards (measures art. 10) and runs the
# platform: its administrators administer units, people and API tokens.
OFFICE_BOARDS = ("daily", "key_work", "reform")


class Action(StrEnum):
    VIEW = "view"  # see a matter (title included) and its timeline
    ANSWER = "answer"  # report on it as a responsible unit: ack, progress, extension, completion
    REGISTER = "register"  # register a matter on a board (needs board=)
    RETURN = "return"  # R16 return a report/application
    DECIDE_EXTENSION = "decide_extension"  # R17, R18
    GRADE = "grade"  # R29
    REVIEW = "review"  # R30 first step (supervising office)
    APPROVE = "approve"  # R30 final decision
    EXPORT = "export"  # ledger / statistics (R34)
    ADMIN = "admin"  # units, people, API tokens


DECISIONS = frozenset({Action.RETURN, Action.DECIDE_EXTENSION, Action.GRADE, Action.REVIEW,
                       Action.APPROVE})


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # a short key, e.g. "not_your_unit", "own_unit", "not_supervisor"

    def __bool__(self) -> bool:
        return self.ok


ALLOWED = Verdict(True)


async def may(person: Person, action: Action, matter: Matter | None = None,
              board: str | None = None, *, responsible: set[int] | None = None) -> Verdict:
    """Whether `person` may do `action` (on `matter`, or on `board` for REGISTER/EXPORT).
    `responsible`: the matter's lead and cooperating units, when the caller read them
    (`responsible_units`, for many matters at once)."""
    if not person.active:
        return Verdict(False, "inactive")
    if action is Action.ADMIN:
        return await _admin(person)
    if action is Action.EXPORT:
        boards = await supervised_boards(person)
        allowed = boards and (board is None or board in boards)
        return ALLOWED if allowed else Verdict(False, "not_supervisor")
    if action is Action.REGISTER:
        return await _register(person, board)
    if matter is None:
        raise ValueError(f"may({action.value}) needs the matter")
    if responsible is None:
        responsible = await responsible_unit_ids(matter)
    return await _on_matter(person, action, matter, responsible)


async def _on_matter(person: Person, action: Action, matter: Matter, responsible: set[int]
                     ) -> Verdict:
    if action is Action.VIEW:
        seen = person.unit_id == matter.initiator_id or person.unit_id in responsible
        return ALLOWED if seen else Verdict(False, "not_your_unit")
    if action is Action.ANSWER:
        return may_answer(person, responsible)
    if person.unit_id != matter.initiator_id or person.role not in SUPERVISING_ROLES:
        return Verdict(False, "not_supervisor")
    if person.unit_id in responsible:
        return Verdict(False, "own_unit")  # nobody decides on their own unit's matter
    if action is Action.APPROVE and not await is_approver(person, matter):
        return Verdict(False, "not_approver")
    return ALLOWED


def may_answer(person: Person, responsible: set[int]) -> Verdict:
    """ANSWER on a matter whose lead and cooperating units are `responsible`: `may`'s rule,
    for a caller that asks it of many matters without reading them (the reply batch)."""
    if not person.active:
        return Verdict(False, "inactive")
    answers = person.unit_id in responsible and person.role in REPORTING_ROLES
    return ALLOWED if answers else Verdict(False, "not_your_matter")


async def is_approver(person: Person, matter: Matter) -> bool:
    """R30: a leader of the initiator, else its head when the unit has no leader."""
    if person.unit_id != matter.initiator_id:
        return False
    if person.role is Role.LEADER:
        return True
    has_leader = await Person.exists(unit_id=matter.initiator_id, role=Role.LEADER, active=True)
    return person.role is Role.HEAD and not has_leader


async def responsible_unit_ids(matter: Matter) -> set[int]:
    return (await responsible_units([matter]))[matter.id]


class MatterUnits(Protocol):
    """A matter as far as its units go (a model, or the columns a caller read)."""

    id: int
    lead_id: int


async def responsible_units(matters: Sequence[MatterUnits]) -> dict[int, set[int]]:
    """Each matter's lead and cooperating units, in one query."""
    found = {m.id: {m.lead_id} for m in matters}
    for matter_id, unit_id in await Matter.filter(id__in=list(found)).values_list(
            "id", "cooperating__id"):
        if unit_id is not None:
            found[matter_id].add(unit_id)
    return found


async def _register(person: Person, board: str | None) -> Verdict:
    if board is None:
        raise ValueError("may(register) needs the board")
    if person.role not in SUPERVISING_ROLES:
        return Verdict(False, "not_supervisor")
    row = await BoardInitiator.get_or_none(board=board)
    if row and row.initiator_id != person.unit_id:
        return Verdict(False, "not_initiator")  # R1: each board has its one initiator
    return ALLOWED


async def _admin(person: Person) -> Verdict:
    if person.role not in ADMIN_ROLES:
        return Verdict(False, "not_admin")
    office = await BoardInitiator.filter(board__in=OFFICE_BOARDS).values_list(
        "initiator_id", flat=True)
    return ALLOWED if person.unit_id in office else Verdict(False, "not_admin")


async def visible_matters(person: Person) -> Q:
    """The filter of the matters `person` may VIEW, for any Matter queryset (no join, so no
    duplicate rows): initiated, led or cooperated on by the person's unit."""
    unit = person.unit_id
    if not person.active:
        return Q(id__in=[])
    cooperating = Matter.filter(cooperating__id=unit).values("id")
    return Q(initiator_id=unit) | Q(lead_id=unit) | Q(id__in=Subquery(cooperating))


async def supervised_boards(person: Person) -> list[str]:
    """The boards whose matters this person supervises: those their unit initiates (R1),
    for people in a supervising role. Empty for everyone else."""
    if not person.active or person.role not in SUPERVISING_ROLES:
        return []
    registered = await BoardInitiator.filter(initiator_id=person.unit_id).values_list(
        "board", flat=True)
    initiated = await Matter.filter(initiator_id=person.unit_id).distinct().values_list(
        "board", flat=True)
    return sorted({*registered, *initiated})
