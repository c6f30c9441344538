"""Short numbers (短号): "1 收到" instead of "D17 收到".

Each person numbers their own open matters 1, 2, 3 … (the lowest free number when the
matter first needs one). A number stays with its matter for the matter's whole life, and
after the matter closes it is not given to another matter for 72 hours, so a late "1 进展"
still reaches the closed matter and is refused by name instead of landing on a new one.

Numbers are assigned lazily, whenever the reply path answers or lists for a person.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from dispatch.channel import Outgoing
from dispatch.outbox import is_postgres
from models import Matter, Person, ShortNumber
from replies.parser import Intent, Parsed
from scheduler.clock import Clock
from sms_gateway.text import to_e164
from workflow.bulk import plain_values
from workflow.permissions import may_answer
from workflow.states import FINISHED, OPEN

QUARANTINE = timedelta(hours=72)


@dataclass(frozen=True)
class Numbered:
    matter: Matter
    number: int


@dataclass(frozen=True)
class Number:
    """A person's short number for one of their open matters (the matter not read whole:
    the reply worker numbers every open matter of hundreds of people a batch)."""

    matter_id: int
    code: str
    number: int


class OpenMatter(NamedTuple):
    """The columns of an open matter that numbering and the permission to answer need."""

    id: int
    code: str
    lead_id: int


class InUse(NamedTuple):
    """A short number in use (its matter open, or closed less than 72 h ago)."""

    person_id: int
    matter_id: int
    number: int


async def numbered_matters(person: Person, now: datetime) -> list[Numbered]:
    """Every open matter of the person with its short number, assigning missing ones."""
    numbers = (await numbers_many([person], now))[person.id]
    matters = {m.id: m for m in await Matter.filter(id__in=[n.matter_id for n in numbers])}
    return [Numbered(matters[n.matter_id], n.number) for n in numbers]


async def numbers_many(people: list[Person], now: datetime) -> dict[int, list[Number]]:
    """The short numbers of many people's open matters (the reply worker's batch),
    assigning missing ones, in the same few statements whatever their number; by person
    id, each person's by number."""
    people = list({p.id: p for p in people}.values())
    ids = [p.id for p in people]
    async with in_transaction():
        await lock(ids)
        await release_finished(ids, now)
        matters = await responsible_open_matters(people)
        # An open matter's number is in use (only a finished matter's is released, and a
        # finished matter stays finished): the numbers in use hold every one it has. Plain
        # values: a batch reads hundreds of people's numbers, thousands of rows.
        in_use_rows: dict[int, list[InUse]] = {i: [] for i in ids}
        for row in await plain_values(ShortNumber.filter(in_use(now), person_id__in=ids)
                                      .values_list("person_id", "matter_id", "number")):
            in_use_rows[row[0]].append(InUse(*row))
        numbers, new = {}, []
        for person in people:
            numbers[person.id], made = number(person, matters[person.id],
                                              in_use_rows[person.id])
            new += made
        await ShortNumber.bulk_create(new)  # a person's first reply may number many at once
    return numbers


def number(person: Person, matters: list[OpenMatter], in_use_rows: list[InUse]
           ) -> tuple[list[Number], list[ShortNumber]]:
    """The person's open matters numbered, by number, and the rows of new numbers."""
    open_ids = {m.id for m in matters}
    rows = {r.matter_id: r for r in in_use_rows if r.matter_id in open_ids}
    taken = {r.number for r in in_use_rows}
    numbers, new = [], []
    for matter in matters:
        row = rows.get(matter.id)
        if row is None:
            row = ShortNumber(person=person, matter_id=matter.id, number=lowest_free(taken))
            new.append(row)
            taken.add(row.number)
        numbers.append(Number(matter.id, matter.code, row.number))
    return sorted(numbers, key=lambda n: n.number), new


async def responsible_open_matters(people: list[Person]) -> dict[int, list[OpenMatter]]:
    """The open matters each person may report on, in the order they were assigned; by
    person id."""
    units = sorted({p.unit_id for p in people})
    candidates: dict[int, OpenMatter] = {}
    responsible: dict[int, set[int]] = {}  # lead and cooperating units (those of `units`, at least)
    # A batch reads every open matter of hundreds of units, thousands of rows: plain loops.
    for matter_id, code, lead_id, cooperating in await plain_values(Matter.filter(
            Q(lead_id__in=units) | Q(cooperating__id__in=units), state__in=list(OPEN)
    ).order_by("assigned_at", "id").values_list("id", "code", "lead_id", "cooperating__id")):
        if matter_id not in candidates:
            candidates[matter_id] = OpenMatter(matter_id, code, lead_id)
            responsible[matter_id] = {lead_id}
        if cooperating is not None:
            responsible[matter_id].add(cooperating)
    by_unit: dict[int, list[OpenMatter]] = {u: [] for u in units}
    for matter in candidates.values():  # in the order they were assigned
        for unit in responsible[matter.id]:
            if unit in by_unit:
                by_unit[unit].append(matter)
    found = {}
    for person in people:
        theirs = by_unit[person.unit_id]
        # Each is led or cooperated on by the person's unit, so whether the person may
        # answer is the same for all of them (active, a reporting role): asked once.
        allowed = theirs and may_answer(person, responsible[theirs[0].id])
        found[person.id] = theirs if allowed else []
    return found


async def matter_by_number(person: Person, number: int, now: datetime) -> Matter | None:
    """The matter a number means for this person: open, or closed less than 72 h ago."""
    row = (
        await ShortNumber.filter(in_use(now), person=person, number=number).order_by("-id").first()
    )
    return await Matter.get(id=row.matter_id) if row else None


async def lock(person_ids: list[int]) -> None:
    """Two replies of one person at once must not both take the same free number. FOR NO KEY
    UPDATE: a message row to this person being inserted meanwhile (its foreign key takes KEY
    SHARE) is not held up by it, so the lock cannot close a deadlock with a matter's lock.
    Many people are locked in id order, so two batches wait instead of deadlocking. The
    rows are not read into models: a batch locks hundreds."""
    if is_postgres() and person_ids:
        await Tortoise.get_connection("default").execute_query(
            "SELECT id FROM person WHERE id = ANY($1::int[]) ORDER BY id FOR NO KEY UPDATE",
            [person_ids])


async def release_finished(person_ids: list[int], now: datetime) -> None:
    """Start the 72 h quarantine of numbers whose matter has closed (or been archived)."""
    rows = await ShortNumber.filter(
        person_id__in=person_ids, released_at=None, matter__state__in=list(FINISHED)
    ).prefetch_related("matter")
    for row in rows:
        row.released_at = row.matter.closed_at or now
        await row.save(update_fields=["released_at"])


def in_use(now: datetime) -> Q:
    return Q(released_at=None) | Q(released_at__gt=now - QUARANTINE)


def lowest_free(taken: set[int]) -> int:
    number = 1
    while number in taken:
        number += 1
    return number


def extension_for(clock: Clock) -> Callable[[Outgoing], Awaitable[str]]:
    """CMPP per-extension replies: a notice about a matter goes out from our number plus
    the recipient's short number for it, so a reply to that number means that matter."""

    async def extension(message: Outgoing) -> str:
        if not message.matter_code:
            return ""
        person = await Person.get_or_none(phone=to_e164(message.to), active=True)
        if person is None:
            return ""
        numbered = await numbered_matters(person, clock.now())
        return next((str(n.number) for n in numbered if n.matter.code == message.matter_code),
                    "")

    return extension


def by_extension(intent: Parsed, raw: dict[str, Any]) -> Parsed:
    """A reply sent to our number + N that names no matter means short number N."""
    extension = str(raw.get("extension") or "")
    if not isinstance(intent, Intent) or not extension.isdigit():
        return intent
    if intent.matter_code or intent.short_number is not None:
        return intent  # what the text says wins over where it was sent
    return replace(intent, short_number=int(extension))
