"""Carry out what the 13710 clock says is due: state effects, score events, message rows.

A tick works on its due matters a batch at a time: it reads the batch's facts, done actions,
people and names in a few set-based queries, plans each matter (pure rules), and writes the
clock actions, score events, audit entries and message rows of the whole batch in a few
statements, in one transaction. Each clock action is done once per matter however many
instances or ticks race for it: its `ClockAction` key is inserted first (ON CONFLICT DO
NOTHING) and only the keys this transaction inserted get their effects. On PostgreSQL the
batch also locks its matters (SKIP LOCKED), so racing instances split the due matters
between them instead of planning the same ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from dispatch import metrics
from dispatch.outbox import announce
from dispatch.pacing import paced
from models import (
    AuditEntry,
    ClockAction,
    Matter,
    Node,
    Person,
    Role,
    ScoreEvent,
    Unit,
    YearEndList,
)
from scheduler.clock import as_utc
from scheduler.policy import BOARD_NAMES, Board, BoardPolicy
from scheduler.rules import Action, Effect, Kind, MatterFacts, board_policy, plan, year_end_lists
from workflow import recipients
from workflow.bulk import insert_new, plain_values, update_many
from workflow.context import Context
from workflow.delivery import deliver, letters, write_letters
from workflow.facts import many_facts, matter_policy
from workflow.records import CLOCK, audit_entry, moved, score_event, write_states
from workflow.states import FINISHED, OPEN, Event
from workflow.upkeep import before_tick

log = logging.getLogger("duban.clock")

EFFECT_EVENTS = {Effect.SUPERVISED: Event.SUPERVISE, Effect.KEY_SUPERVISION: Event.KEY_SUPERVISION}
YEAR_END_INTERVAL = timedelta(weeks=1)
LOOK_AHEAD = timedelta(days=40)  # a matter with nothing due sooner is looked at again then
PENALTIES = {"urge_episode": "-0.1", "supervised": "-0.5"}  # R32
REPLAN_CHUNK = 2000  # matters without a planned next moment looked at per tick
BATCH = 1000  # matters caught up in one transaction

Work = list[tuple[Matter, BoardPolicy, list[tuple[Action, bool]]]]  # due actions, stale?


async def run_clock(ctx: Context) -> int:
    """One tick: every open matter with an action due catches up, in id order (`duban
    simulate` prints the same rows in the same order every run), and the year-end lists go
    out (R23). Matters whose next moment is unknown are planned `REPLAN_CHUNK` a tick."""
    await before_tick(ctx)
    now = ctx.clock.now()
    open_ = Matter.filter(state__in=list(OPEN))
    due = await open_.filter(next_action_at__lte=now).order_by("next_action_at").values_list(
        "id", "next_action_at")
    if due:
        metrics.TICK_LAG.set((now - due[0][1]).total_seconds())
    unplanned = await open_.filter(next_action_at=None).order_by("id").limit(
        REPLAN_CHUNK).values_list("id", flat=True)
    ids = sorted({i for i, _ in due} | set(unplanned))
    count = 0
    for start in range(0, len(ids), BATCH):
        count += await safe_catch_up(ctx, ids[start:start + BATCH])
    return count + await send_year_end_lists(ctx)


async def safe_catch_up(ctx: Context, ids: list[int]) -> int:
    try:
        return await catch_up_many(ctx, ids, skip_locked=True)
    except Exception:  # e.g. a date past the calendar's data: the others still go on
        if len(ids) == 1:
            log.exception("matter %s: the clock could not catch up", ids[0])
            return 0
    return sum([await safe_catch_up(ctx, [i]) for i in ids])  # find the one that fails


async def catch_up(ctx: Context, matter: Matter, facts: MatterFacts | None = None) -> int:
    """Do every action of the matter that is due by now and not done yet (after a change:
    waits for a tick that holds the matter, then plans with what that tick did). `facts`:
    the matter's facts, when the caller read them after its change (else they are read)."""
    known = {matter.id: facts} if facts is not None else None
    return await catch_up_many(ctx, [matter.id], skip_locked=False, facts=known)


async def catch_up_many(ctx: Context, ids: list[int], *, skip_locked: bool,
                        facts: dict[int, MatterFacts] | None = None,
                        held: list[Matter] | None = None) -> int:
    """Catch the matters up in one transaction; returns how many actions were due.
    `held`: the matters themselves, when the caller holds their locks in its transaction
    and changed them there (they are not read again)."""
    now = ctx.clock.now()
    async with in_transaction():
        if held is None:
            held = await Matter.filter(id__in=ids).exclude(state__in=list(FINISHED)).order_by(
                "id").select_for_update(skip_locked=skip_locked, no_key=True)
        matters = [m for m in held if m.state not in FINISHED]
        work = await planned(ctx, matters, now, facts or await many_facts(matters))
        wrote = await carry_out(ctx, work, now)
        await update_many("matter", ("id", "next_action_at"),
                          [(m.id, as_utc(m.next_action_at)) for m in matters],
                          types={"id": "integer", "next_action_at": "timestamptz"})
    if wrote:  # again after the commit: SQLite has no NOTIFY to wake this process's loop then
        await announce()
    return sum(len(due) for _, _, due in work)


async def planned(ctx: Context, matters: list[Matter], now: datetime,
                  facts: dict[int, MatterFacts]) -> Work:
    """Each matter's due actions not done yet (marked stale or not), and its next moment."""
    done = await done_keys(matters)
    work = []
    async for matter in paced(matters):  # a tick plans a thousand matters between statements
        actions = plan(facts[matter.id], ctx.policy, ctx.calendar, now + LOOK_AHEAD)
        due = [a for a in actions if a.key not in done[matter.id] and a.at <= now]
        later = (a.at for a in actions if a.at > now and a.key not in done[matter.id])
        matter.next_action_at = min(later, default=now + LOOK_AHEAD)
        work.append((matter, board_policy(facts[matter.id], ctx.policy), mark_stale(due, now)))
    return work


async def done_keys(matters: list[Matter]) -> dict[int, set[str]]:
    """The clock-action keys each matter has done, in one query."""
    done: dict[int, set[str]] = {m.id: set() for m in matters}
    for matter_id, key in await plain_values(ClockAction.filter(matter_id__in=list(done))
                                             .values_list("matter_id", "key")):
        done[matter_id].add(key)
    return done


async def run_stretch(ctx: Context, before: datetime) -> datetime | None:
    """`duban simulate` between two inputs: every clock action due before `before`, each
    carried out at the moment one tick per moment would (each matter's next moment, as
    `planned` stores it), in one transaction. Until the next input a matter's facts do not
    change (clock actions change states, scores and messages only), so one plan tells
    every moment. Year-end lists and SMS fallbacks are not in it: the caller ends the
    stretch before them. Returns the last moment that had something due."""
    await before_tick(ctx)
    async with in_transaction():
        matters = await Matter.filter(state__in=list(OPEN), next_action_at__lt=before
                                      ).order_by("id")
        done = await done_keys(matters)
        facts = await many_facts(matters)
        work = []
        for matter in matters:
            actions = plan(facts[matter.id], ctx.policy, ctx.calendar, before + LOOK_AHEAD)
            policy = board_policy(facts[matter.id], ctx.policy)
            for at, due in ticks(matter, actions, done[matter.id], before):
                work.append((at, matter, policy, due))
        work.sort(key=lambda item: (item[0], item[1].id))
        last = work[-1][0] if work else None
        await carry_out_moments(ctx, work, last or before)
        if matters:
            await Matter.bulk_update(matters, ["next_action_at"], batch_size=BATCH)
    if work:
        await announce()
    return last


def ticks(matter: Matter, actions: list[Action], done: set[str], before: datetime
          ) -> list[tuple[datetime, list[tuple[Action, bool]]]]:
    """The moments before `before` at which ticks would catch the matter up, with what each
    finds due (as `planned` sees it then); sets the matter's next moment after them."""
    found = []
    moment = matter.next_action_at
    while moment < before:
        due = [a for a in actions if a.key not in done and a.at <= moment]
        done |= {a.key for a in due}
        if due:
            found.append((moment, mark_stale(due, moment)))
        horizon = moment + LOOK_AHEAD
        moment = min((a.at for a in actions if moment < a.at <= horizon and a.key not in done),
                     default=horizon)
    matter.next_action_at = moment
    return found


def mark_stale(due: list[Action], now: datetime) -> list[tuple[Action, bool]]:
    """After downtime, send only the newest urge of a series and no reminder whose deadline
    has passed; the older ones are recorded as skipped, never sent in a burst."""
    newest: dict[str | None, datetime] = {}
    for action in due:
        if action.kind is Kind.URGE:
            newest[action.node] = max(newest.get(action.node, action.at), action.at)
    result = []
    for action in due:
        stale = (action.kind is Kind.URGE and action.at < newest[action.node]) or (
            action.kind in (Kind.REMIND, Kind.REPORT_DUE) and action.deadline is not None
            and action.deadline <= now)
        result.append((action, stale))
    return result


async def carry_out(ctx: Context, work: Work, now: datetime) -> bool:
    """Claim the due actions' keys; do what each claimed one does; write it all at once.
    Returns whether it wrote message rows."""
    return await carry_out_moments(ctx, [(now, m, p, due) for m, p, due in work], now)


async def carry_out_moments(ctx: Context, work: list[tuple[datetime, Matter, BoardPolicy,
                                                             list[tuple[Action, bool]]]],
                            now: datetime) -> bool:
    """`carry_out` of actions each done at its own moment (in the order given: moments in
    time order, matters by id), as that many ticks would."""
    claimed = await claim([(m, a, stale, at) for at, m, _, due in work for a, stale in due])
    if not claimed:
        return False
    matters = list({m.id: m for _, m, _, _ in work}.values())
    found = Carried(await recipients.load_directory(matters), await load_headings(matters))
    async for at, matter, policy, due in paced(work):
        for action, stale in due:
            if (matter.id, action.key) in claimed:
                found.add(ctx, matter, policy, action, stale, at)
    return await found.write(ctx, now)


async def claim(due: list[tuple[Matter, Action, bool, datetime]]) -> set[tuple[int, str]]:
    """Insert the actions' keys, each done at its moment; those another transaction holds
    already are left out. Returns the (matter id, key) pairs this transaction inserted: the
    ones it carries out."""
    rows = [(m.id, a.key, a.kind.value, a.at.astimezone(UTC), at.astimezone(UTC), stale)
            for m, a, stale, at in due]
    return set(await insert_new(ClockAction._meta.db_table,
                                ("matter_id", "key", "kind", "due_at", "done_at", "skipped"),
                                rows, unique=("matter_id", "key"), returning=("matter_id", "key"),
                                types={"matter_id": "integer", "due_at": "timestamptz",
                                       "done_at": "timestamptz", "skipped": "boolean"}))


@dataclass
class Carried:
    """What the claimed actions of a batch write, in the order today's rows are expected:
    matters by id, actions in plan order, people in the ladder's order."""

    directory: recipients.Directory
    headings: Headings
    scores: list[ScoreEvent] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)
    moved: dict[int, Matter] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    people: dict[int, Person] = field(default_factory=dict)

    def add(self, ctx: Context, matter: Matter, policy: BoardPolicy, action: Action,
            stale: bool, now: datetime) -> None:
        if action.penalty:  # a skipped urge still opened its episode (R32)
            self.scores.append(score_event(matter, PENALTIES[action.penalty.value],
                                           action.penalty.value, action.at))
        if stale:
            return
        self.apply_effect(matter, action)
        people = self.directory.audience(matter, action.audience)
        self.people |= {p.id: p for p in people}
        context = matter_context(ctx, matter, policy, self.headings) | action_context(ctx,
                                                                                       action)
        self.rows += [row | {"written_at": now} for row in letters(
            kind=action.kind.value, people=people, context=context, due_at=action.at,
            matter=matter, dedup=f"{matter.id}:{action.key}")]

    def apply_effect(self, matter: Matter, action: Action) -> None:
        if action.effect in EFFECT_EVENTS:  # `clock_action=`, not `action=`: audit's own
            self.audits.append(moved(matter, EFFECT_EVENTS[action.effect], CLOCK, action.at,
                                     clock_action=action.key))
            self.moved[matter.id] = matter
        elif action.effect is Effect.ACCOUNTABILITY:
            self.audits.append(audit_entry(matter, CLOCK, "accountability", matter.state,
                                           matter.state, action.at))

    async def write(self, ctx: Context, now: datetime) -> bool:
        await ScoreEvent.bulk_create(self.scores)
        await write_states(list(self.moved.values()))
        await AuditEntry.bulk_create(self.audits)
        return bool(await write_letters(ctx, self.rows, self.people.values(), now))


@dataclass(frozen=True)
class Headings:
    """What message templates name besides the matter's own fields."""

    unit_names: dict[int, str]
    first_due: dict[int, datetime]  # matter id -> its 1d node's deadline


async def load_headings(matters: list[Matter], units: Iterable[int] = ()) -> Headings:
    """The headings of `matters`; the names of `units` too (a sender's, say), in the same
    query."""
    units = {*units, *(u for m in matters for u in (m.lead_id, m.initiator_id))}
    names = dict(await Unit.filter(id__in=sorted(units)).values_list("id", "name"))
    first = await plain_values(Node.filter(matter_id__in=[m.id for m in matters], key="1d")
                               .values_list("matter_id", "due_at"))
    return Headings(names, dict(first))


async def message_context(ctx: Context, matter: Matter, headings: Headings | None = None
                          ) -> dict[str, Any]:
    """`matter_context` of one matter; with the `headings` the caller has, if it has them."""
    return matter_context(ctx, matter, matter_policy(ctx.policy, matter),
                          headings or await load_headings([matter]))


def matter_context(ctx: Context, matter: Matter, policy: BoardPolicy, headings: Headings
                   ) -> dict[str, Any]:
    """What every template about a matter may use (plain JSON: it is stored on the row)."""
    first_due = headings.first_due.get(matter.id)
    return {
        # R6: on a board counting working days, "24 hours" would mislead; name the time.
        "working_days": policy.working_days,
        "first_due": local_text(ctx, first_due) if first_due else "",
        "code": matter.code, "title": matter.title, "board": matter.board,
        "board_name": BOARD_NAMES[Board(matter.board)],
        "lead": headings.unit_names[matter.lead_id],
        "initiator": headings.unit_names[matter.initiator_id], "state": matter.state.value,
        "deadline": local_text(ctx, matter.deadline) if matter.deadline else "",
    }


def action_context(ctx: Context, action: Action) -> dict[str, Any]:
    """The action's own fields; its deadline, when it has one, replaces the matter's."""
    context = {"reason": action.reason, "node": action.node or "", "number": action.number,
               "effect": action.effect.value if action.effect else ""}
    if action.deadline:
        context["deadline"] = local_text(ctx, action.deadline)
    return context


def local_text(ctx: Context, instant: datetime) -> str:
    return instant.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


async def send_year_end_lists(ctx: Context) -> int:
    now = ctx.clock.now()
    done = set(await YearEndList.all().values_list("key", flat=True))
    due = [(key, at) for key, at in year_end_lists(now, now)
           if key not in done and at > now - YEAR_END_INTERVAL]
    for key, at in due[-1:]:  # only the latest list, also after downtime
        await year_end_list(ctx, key, at, now)
    if due[:-1]:
        await YearEndList.bulk_create([YearEndList(key=k, done_at=now) for k, _ in due[:-1]])
    return len(due)


async def year_end_list(ctx: Context, key: str, at: datetime, now: datetime) -> None:
    try:
        async with in_transaction():
            await YearEndList.create(key=key, done_at=now)
            for initiator_id in await open_initiators():
                matters = await Matter.filter(initiator_id=initiator_id, state__in=list(OPEN)
                                              ).order_by("code")
                people = await year_end_recipients(initiator_id)
                context = {"reason": "year_end", "matters": [
                    {"code": m.code, "title": m.title, "state": m.state.value} for m in matters]}
                await deliver(ctx, kind=Kind.REMIND.value, people=people, context=context, due_at=at,
                              now=now, dedup=f"{key}:{initiator_id}")
    except IntegrityError:
        return


async def open_initiators() -> list[int]:
    ids = await Matter.filter(state__in=list(OPEN)).values_list("initiator_id", flat=True)
    return sorted(set(ids))


async def year_end_recipients(initiator_id: int) -> list[Person]:
    directory = await recipients.load_directory(units=[initiator_id])
    return recipients.unique(directory.people(initiator_id, [Role.HEAD])
                             + directory.handlers(initiator_id))
