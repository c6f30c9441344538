"""The escalation ladder: who an audience of the clock is, in people (R3, R4, R11-R14, R37)."""

from __future__ import annotations

from collections.abc import Iterable

from models import BoardInitiator, Matter, Person, Role, Unit
from scheduler.policy import Board
from scheduler.rules import Audience

OPERATORS = (Role.OPERATOR_A, Role.OPERATOR_B)


async def people(unit: Unit | int, roles: Iterable[Role]) -> list[Person]:
    roles = list(roles)
    found = await Person.filter(unit_id=getattr(unit, "id", unit), role__in=roles, active=True)
    return sorted(found, key=lambda p: (roles.index(p.role), p.id))


async def responsible_units(matter: Matter) -> list[Unit]:
    return [await matter.lead, *await matter.cooperating.all().order_by("id")]


async def handlers(initiator_id: int) -> list[Person]:
    """The initiator's handling people: its supervisors, else its operators."""
    return await people(initiator_id, [Role.SUPERVISOR]) or await people(initiator_id, OPERATORS)


DUCHA_BOARDS = (Board.DAILY, Board.KEY_WORK, Board.REFORM)  # 督查室 initiates these (M art.10)


async def ducha_id(matter: Matter) -> int:
    """督查室: the initiator of the daily (or key_work, reform) board; the matter's own
    initiator only when no such board has one."""
    for board in DUCHA_BOARDS:
        row = await BoardInitiator.get_or_none(board=board.value)
        if row:
            return row.initiator_id
    return matter.initiator_id


async def audience_people(matter: Matter, audience: Audience) -> list[Person]:
    lead = matter.lead_id
    match audience:
        case Audience.RESPONSIBLE | Audience.WARNING:  # R3 notice; R25 warnings
            found = [p for u in await responsible_units(matter)
                     for p in await people(u, (Role.HEAD, *OPERATORS))]
        case Audience.OPERATORS:
            found = await people(lead, OPERATORS)
        case Audience.OPERATORS_DIRECTOR:
            found = await people(lead, (*OPERATORS, Role.DIRECTOR))
        case Audience.SUPERVISE:
            found = await people(lead, (*OPERATORS, Role.DIRECTOR, Role.HEAD))
            found += await handlers(matter.initiator_id)
        case Audience.OPERATOR_B:
            found = await people(lead, [Role.OPERATOR_B]) or await people(lead, [Role.OPERATOR_A])
        case Audience.DIRECTOR:
            found = await people(lead, [Role.DIRECTOR])
        case Audience.INITIATOR_HANDLER:
            found = await handlers(matter.initiator_id)
        case Audience.INITIATOR_HEAD:
            found = await people(matter.initiator_id, [Role.HEAD])
        case Audience.DUCHA:
            found = await people(await ducha_id(matter), [Role.HEAD])
        case Audience.INITIATOR_LEADER:
            found = (await people(matter.initiator_id, [Role.LEADER])
                     or await people(matter.initiator_id, [Role.HEAD]))
    return unique(found)


def unique(found: list[Person]) -> list[Person]:
    seen: set[int] = set()
    return [p for p in found if not (p.id in seen or seen.add(p.id))]
