"""The steps that changes to a matter share — its lock, its node rows, R15's forward — for
one matter or for many at once: the reply worker files a batch of feedback in one
transaction (`workflow.feedback`), in the same few statements whatever the batch's size."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from dispatch.pacing import paced
from dispatch.wakeup import is_postgres
from models import Matter, Node, Person
from scheduler.clock import as_utc
from scheduler.rules import Audience, Kind, MatterFacts, NodeState, node_states
from scheduler.rules import Node as ClockNode
from workflow import recipients
from workflow.bulk import plain_values, update_many
from workflow.chase import Headings, load_headings, message_context
from workflow.context import Context
from workflow.delivery import letters, write_letters
from workflow.errors import Refused
from workflow.permissions import Action, may
from workflow.states import FINISHED

NODE_ROWS_AHEAD = timedelta(days=40)  # periodic report rows are written this far ahead


async def hold(matter: Matter) -> None:
    """Take the matter's row lock for the rest of the transaction, then read it afresh.
    Every change to one matter (A and B posts replying at once, a supervisor, the clock's
    catch-up) then waits for the one before it instead of deadlocking on its node rows, and
    decides on the state that one left. FOR NO KEY UPDATE, as the clock's own lock: it does
    not conflict with the KEY SHARE locks that inserting rows which reference the matter
    takes (a short number, an outbound row), so it cannot deadlock with those either.
    PostgreSQL only: SQLite has one writer at a time."""
    await hold_many([matter])


async def hold_many(matters: list[Matter]) -> None:
    """`hold` for many matters in one statement. They are locked in id order, as the
    clock's batches lock theirs, so two batches wait for each other instead of
    deadlocking."""
    if not is_postgres() or not matters:
        return
    fresh = {m.id: m for m in await read_held([m.id for m in matters])}
    for matter in matters:
        row = fresh[matter.id]
        for name in matter._meta.db_fields:
            setattr(matter, name, getattr(row, name, None))


async def read_held(ids: list[int]) -> list[Matter]:
    """The matters read and held (`hold_many`) in one statement, for a caller that has not
    read them yet."""
    query = Matter.filter(id__in=ids).order_by("id")
    return await (query.select_for_update(no_key=True) if is_postgres() else query)


async def check_may(matter: Matter, person: Person, action: Action,
                    responsible: set[int] | None = None) -> None:
    """The permission first, so an outsider learns nothing of the matter's state.
    `responsible`: the matter's lead and cooperating units, when the caller read them."""
    verdict = await may(person, action, matter, responsible=responsible)
    if not verdict:
        raise Refused(verdict.reason, code=matter.code)
    if matter.state in FINISHED:
        raise Refused("matter_closed", code=matter.code)


@dataclass(frozen=True)
class Refreshed:
    """A matter's nodes as the clock sees them now, each with when it was satisfied, and
    the node a feedback filed just now satisfied, if any."""

    states: list[NodeState]
    satisfied: ClockNode | None


class NodeRow(NamedTuple):
    """The columns of a stored node row that keeping it in step compares."""

    id: int
    matter_id: int
    key: str
    due_at: datetime
    satisfied_at: datetime | None


async def refresh_nodes(ctx: Context, matter: Matter, facts: MatterFacts) -> Refreshed:
    """Keep the matter's node rows (its schedule, for display and plan) in step with the
    clock's own rule, from the matter's `facts` as they stand now."""
    return (await refresh_many_nodes(ctx, [matter], {matter.id: facts}))[matter.id]


async def refresh_many_nodes(ctx: Context, matters: list[Matter],
                             facts: dict[int, MatterFacts]) -> dict[int, Refreshed]:
    """`refresh_nodes` for many matters: their rows read, made and changed at once (read as
    plain values: a batch compares thousands)."""
    now = ctx.clock.now()
    existing: dict[int, dict[str, NodeRow]] = defaultdict(dict)
    for values in await plain_values(Node.filter(matter_id__in=[m.id for m in matters])
                                     .values_list(*NodeRow._fields)):
        row = NodeRow(*values)
        existing[row.matter_id][row.key] = row
    made, changed, refreshed = [], [], {}
    async for matter in paced(matters):
        states = node_states(facts[matter.id], ctx.policy, ctx.calendar, now + NODE_ROWS_AHEAD)
        satisfied = None
        for state in states:
            row = existing[matter.id].get(state.node.key)
            before = row.satisfied_at if row else None
            if row is None:
                made.append(Node(matter_id=matter.id, key=state.node.key, due_at=state.node.due,
                                 satisfied_at=state.satisfied_at))
            elif (before, row.due_at) != (state.satisfied_at, state.node.due):
                # a due time moves only on a replan or an imported holiday notice
                changed.append((row.id, state.satisfied_at and as_utc(state.satisfied_at),
                                as_utc(state.node.due)))
            if state.satisfied_at == now and before != now:
                satisfied = state.node
        refreshed[matter.id] = Refreshed(states, satisfied)
    await Node.bulk_create(made)
    await update_many("node", ("id", "satisfied_at", "due_at"), changed,
                      types={"id": "integer", "satisfied_at": "timestamptz",
                             "due_at": "timestamptz"})
    return refreshed


@dataclass(frozen=True)
class Forward:
    """A feedback, application or consent to forward to the initiator (R15)."""

    matter: Matter
    what: str  # the template's reason: ack, progress, extension, completion, consent
    text: str
    person: Person
    extra: dict[str, Any] = field(default_factory=dict)


async def forward(ctx: Context, matter: Matter, what: str, text: str, person: Person,
                  now: datetime, **extra: Any) -> Headings:
    """R15: every feedback goes to the initiator's handling person. Returns the headings
    it named the matter with."""
    return await forward_many(ctx, [Forward(matter, what, text, person, extra)], now)


async def forward_many(ctx: Context, forwards: list[Forward], now: datetime) -> Headings:
    """`forward` for many matters: their people and names read, their rows written, at
    once. Returns the headings, which name every matter and sender."""
    matters = [f.matter for f in forwards]
    # Only the initiators' people: a batch forwards hundreds of units' replies to a few.
    directory = await recipients.load_directory(units={m.initiator_id for m in matters})
    headings = await load_headings(matters, [f.person.unit_id for f in forwards])
    rows, people = [], []
    for f in forwards:
        handlers = directory.audience(f.matter, Audience.INITIATOR_HANDLER)
        context = await message_context(ctx, f.matter, headings) | {
            "reason": f.what, "body": f.text, "sender": f.person.name,
            "sender_unit": headings.unit_names[f.person.unit_id], **f.extra}
        rows += letters(kind=Kind.FEEDBACK, people=handlers, context=context, due_at=now,
                        matter=f.matter)
        people += handlers
    await write_letters(ctx, rows, people, now)
    return headings
