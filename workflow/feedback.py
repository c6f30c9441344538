"""Feedback (反馈): a receipt (收到) or a progress report a responsible unit files (R7, R15),
on one matter or on many at once. The reply worker files the receipts and reports of a
batch of senders in one transaction, in the same few statements whatever their number."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC

from tortoise.transactions import in_transaction

from models import AuditEntry, Feedback, Matter, Person, ScoreEvent
from scheduler.rules import NodeState, Report
from workflow.bulk import insert_new
from workflow.chase import Headings, catch_up_many
from workflow.context import Context
from workflow.errors import Refused
from workflow.facts import many_facts
from workflow.permissions import Action, responsible_units
from workflow.records import Actor, moved, score_event, write_states
from workflow.states import Event, next_state
from workflow.steps import Forward, check_may, forward_many, hold_many, refresh_many_nodes

LATE_PENALTY = "-0.1"  # R32: a feedback after its node's deadline
FEEDBACK_COLUMNS = ("matter_id", "person_id", "channel", "ack_only", "text", "at", "node_key",
                    "late")
FEEDBACK_TYPES = {"matter_id": "integer", "person_id": "integer", "ack_only": "boolean",
                  "at": "timestamptz", "late": "boolean"}


@dataclass(frozen=True)
class FeedbackDraft:
    """One feedback to file."""

    matter: Matter
    person: Person
    channel: str
    text: str
    ack_only: bool  # 收到, else a progress report

    @property
    def event(self) -> Event:
        return Event.ACKNOWLEDGE if self.ack_only else Event.REPORT


@dataclass(frozen=True)
class Filed:
    """A feedback filed, and what the change left known about its matter: its nodes, each
    with when it was satisfied (as its catch-up planned with them), and its headings (as
    its forward named it). Clock actions change neither."""

    feedback: Feedback
    states: list[NodeState]
    headings: Headings


async def file_feedback(ctx: Context, matter: Matter, person: Person, channel: str,
                        text: str, *, ack_only: bool) -> Filed:
    """A receipt (收到) or a progress report; satisfies the earliest open node it may."""
    [filed] = await file_feedbacks(ctx, [FeedbackDraft(matter, person, channel, text, ack_only)])
    if isinstance(filed, Refused):
        raise filed
    return filed


async def file_feedbacks(ctx: Context, drafts: list[FeedbackDraft], *, held: bool = False
                         ) -> list[Filed | Refused]:
    """Each draft filed, or the refusal that stopped it (nothing of it written); one draft
    a matter. One transaction from the locks to the catch-up (a savepoint inside a
    caller's), so the catch-up plans with the facts read here: nobody else changes the
    held matters. `held`: the caller read the matters with `read_held` in its transaction."""
    if len({d.matter.id for d in drafts}) < len(drafts):
        raise ValueError("file_feedbacks takes one feedback a matter")
    async with in_transaction():
        if not held:
            await hold_many([d.matter for d in drafts])
        refusals = await refused(drafts)
        going = [d for d in drafts if d.matter.id not in refusals]
        filed = await file_all(ctx, going) if going else {}
    return [refusals.get(d.matter.id) or filed[d.matter.id] for d in drafts]


async def refused(drafts: list[FeedbackDraft]) -> dict[int, Refused]:
    """What refuses each draft, by matter: the permission, then the state machine."""
    responsible = await responsible_units([d.matter for d in drafts])
    refusals = {}
    for d in drafts:
        try:
            await check_may(d.matter, d.person, Action.ANSWER, responsible[d.matter.id])
            next_state(d.matter.state, d.event, continuing=d.matter.continuing_since is not None)
        except Refused as refusal:
            refusals[d.matter.id] = refusal
    return refusals


async def file_all(ctx: Context, drafts: list[FeedbackDraft]) -> dict[int, Filed]:
    """The drafts' rows, node changes, score events, moves, forwards and catch-ups."""
    now = ctx.clock.now()
    matters = [d.matter for d in drafts]
    before = await many_facts(matters)
    # The facts as they stand once the feedback is in: it is the matter's latest report.
    facts = {d.matter.id: replace(before[d.matter.id], reports=(
        *before[d.matter.id].reports, Report(now, d.ack_only))) for d in drafts}
    nodes = await refresh_many_nodes(ctx, matters, facts)
    rows = []
    for d in drafts:
        node = nodes[d.matter.id].satisfied
        rows.append(Feedback(matter=d.matter, person=d.person, channel=d.channel,
                             ack_only=d.ack_only, text=d.text, at=now,
                             node_key=node.key if node else None,
                             late=bool(node and node.due < now)))
    await insert_feedback(rows)
    await ScoreEvent.bulk_create([score_event(row.matter, LATE_PENALTY, "overdue_feedback",
                                              now) for row in rows if row.late])  # R32
    entries = [moved(d.matter, d.event, Actor(d.person, d.channel), now, node=row.node_key)
               for d, row in zip(drafts, rows, strict=True)]
    await AuditEntry.bulk_create(entries)
    # Only the matters whose state moved (a unit's first receipt or report): the matters are
    # held and read in this transaction, so the others' stored state is what they hold.
    await write_states([e.matter for e in entries if e.before != e.after])
    headings = await forward_many(ctx, [Forward(d.matter, "ack" if d.ack_only else "progress",
                                                d.text, d.person) for d in drafts], now)
    await catch_up_many(ctx, [m.id for m in matters], skip_locked=False, facts=facts,
                        held=matters)
    return {row.matter.id: Filed(row, nodes[row.matter.id].states, headings) for row in rows}


async def insert_feedback(rows: list[Feedback]) -> None:
    """The rows in one statement; each gets its id (one row a matter: matched by it)."""
    values = [(r.matter.id, r.person.id, r.channel, r.ack_only, r.text, r.at.astimezone(UTC),
               r.node_key, r.late) for r in rows]
    ids = dict(await insert_new("feedback", FEEDBACK_COLUMNS, values, unique=(),
                                returning=("matter_id", "id"), types=FEEDBACK_TYPES))
    for row in rows:
        row.id = ids[row.matter.id]
        row._saved_in_db = True
