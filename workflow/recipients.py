"""The escalation ladder: who an audience of the clock is, in people (R3, R4, R11-R14, R37).

The people, cooperating units and 督查室 are read once for many matters (`load_directory`),
so a clock tick addresses thousands of actions without a query per action."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from models import BoardInitiator, Matter, Person, Role
from scheduler.policy import Board
from scheduler.rules import Audience

OPERATORS = (Role.OPERATOR_A, Role.OPERATOR_B)
DUCHA_BOARDS = (Board.DAILY, Board.KEY_WORK, Board.REFORM)  # 督查室 initiates these (M art.10)


@dataclass(frozen=True)
class Directory:
    """The active people of some units, the matters' cooperating units and 督查室."""

    staff: dict[int, list[Person]]  # unit id -> its active people
    cooperating: dict[int, list[int]]  # matter id -> cooperating unit ids, by id
    ducha: int | None  # the daily (else key_work, reform) board's initiator

    def people(self, unit_id: int, roles: Iterable[Role]) -> list[Person]:
        roles = list(roles)
        found = [p for p in self.staff.get(unit_id, []) if p.role in roles]
        return sorted(found, key=lambda p: (roles.index(p.role), p.id))

    def handlers(self, initiator_id: int) -> list[Person]:
        """The initiator's handling people: its supervisors, else its operators."""
        return self.people(initiator_id, [Role.SUPERVISOR]) or self.people(initiator_id,
                                                                            OPERATORS)

    def ducha_id(self, matter: Matter) -> int:
        """督查室; the matter's own initiator only when no such board has one."""
        return matter.initiator_id if self.ducha is None else self.ducha

    def audience(self, matter: Matter, audience: Audience) -> list[Person]:
        lead, initiator = matter.lead_id, matter.initiator_id
        match audience:
            case Audience.RESPONSIBLE | Audience.WARNING:  # R3 notice; R25 warnings
                found = [p for u in [lead, *self.cooperating.get(matter.id, [])]
                         for p in self.people(u, (Role.HEAD, *OPERATORS))]
            case Audience.OPERATORS:
                found = self.people(lead, OPERATORS)
            case Audience.OPERATORS_DIRECTOR:
                found = self.people(lead, (*OPERATORS, Role.DIRECTOR))
            case Audience.SUPERVISE:
                found = self.people(lead, (*OPERATORS, Role.DIRECTOR, Role.HEAD))
                found += self.handlers(initiator)
            case Audience.OPERATOR_B:
                found = self.people(lead, [Role.OPERATOR_B]) or self.people(lead,
                                                                            [Role.OPERATOR_A])
            case Audience.DIRECTOR:
                found = self.people(lead, [Role.DIRECTOR])
            case Audience.INITIATOR_HANDLER:
                found = self.handlers(initiator)
            case Audience.INITIATOR_HEAD:
                found = self.people(initiator, [Role.HEAD])
            case Audience.DUCHA:
                found = self.people(self.ducha_id(matter), [Role.HEAD])
            case Audience.INITIATOR_LEADER:
                found = (self.people(initiator, [Role.LEADER])
                         or self.people(initiator, [Role.HEAD]))
        return unique(found)


async def load_directory(matters: Iterable[Matter] = (), units: Iterable[int] = ()
                         ) -> Directory:
    """Everything the ladder needs for `matters` (and the people of `units`), in 3 queries."""
    matters = list(matters)
    pairs = await Matter.filter(id__in=[m.id for m in matters]).values_list(
        "id", "cooperating__id") if matters else []
    cooperating: dict[int, list[int]] = defaultdict(list)
    for matter_id, unit_id in sorted(p for p in pairs if p[1] is not None):
        cooperating[matter_id].append(unit_id)
    initiators = dict(await BoardInitiator.filter(
        board__in=[b.value for b in DUCHA_BOARDS]).values_list("board", "initiator_id"))
    ducha = next((initiators[b.value] for b in DUCHA_BOARDS if b.value in initiators), None)
    wanted = {*units, *(u for us in cooperating.values() for u in us), *(
        u for m in matters for u in (m.lead_id, m.initiator_id))}
    if ducha is not None:
        wanted.add(ducha)
    staff: dict[int, list[Person]] = defaultdict(list)
    for person in await Person.filter(unit_id__in=sorted(wanted), active=True).order_by("id"):
        staff[person.unit_id].append(person)
    return Directory(dict(staff), dict(cooperating), ducha)


async def audience_people(matter: Matter, audience: Audience) -> list[Person]:
    return (await load_directory([matter])).audience(matter, audience)


def unique(found: list[Person]) -> list[Person]:
    seen: set[int] = set()
    return [p for p in found if not (p.id in seen or seen.add(p.id))]
