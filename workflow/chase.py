"""Carry out what the 13710 clock says is due: state effects, score events, message rows.

Each clock action is done once per matter (a `ClockAction` row with a unique key, written
in the same transaction as its effects), however many instances or ticks race for it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from dispatch import metrics
from models import ClockAction, Matter, Node, Person, Role, Unit, YearEndList
from scheduler.policy import BOARD_NAMES, Board
from scheduler.rules import Action, Effect, Kind, plan, year_end_lists
from workflow import recipients
from workflow.context import Context
from workflow.delivery import deliver
from workflow.facts import matter_facts, matter_policy
from workflow.records import CLOCK, add_score, audit, move
from workflow.states import FINISHED, OPEN, Event
from workflow.upkeep import before_tick

log = logging.getLogger("duban.clock")

EFFECT_EVENTS = {Effect.SUPERVISED: Event.SUPERVISE, Effect.KEY_SUPERVISION: Event.KEY_SUPERVISION}
YEAR_END_INTERVAL = timedelta(weeks=1)
LOOK_AHEAD = timedelta(days=40)  # a matter with nothing due sooner is looked at again then
PENALTIES = {"urge_episode": "-0.1", "supervised": "-0.5"}  # R32
REPLAN_CHUNK = 2000  # matters without a planned next moment looked at per tick


async def catch_up(ctx: Context, matter: Matter) -> int:
    """Do every action of the matter that is due by now and not done yet."""
    now = ctx.clock.now()
    matter = await Matter.get(id=matter.id)
    if matter.state in FINISHED:
        return 0
    done = set(await ClockAction.filter(matter=matter).values_list("key", flat=True))
    facts = await matter_facts(matter)
    actions = plan(facts, ctx.policy, ctx.calendar, now + LOOK_AHEAD)
    due = [a for a in actions if a.key not in done and a.at <= now]
    for action, stale in mark_stale(due, now):
        await carry_out(ctx, matter, action, now, stale)
    later = (a.at for a in actions if a.at > now and a.key not in done)
    await Matter.filter(id=matter.id).update(next_action_at=min(later, default=now + LOOK_AHEAD))
    return len(due)


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


async def carry_out(ctx: Context, matter: Matter, action: Action, now: datetime,
                    stale: bool) -> None:
    try:
        async with in_transaction():
            await ClockAction.create(matter=matter, key=action.key, kind=action.kind.value,
                                     due_at=action.at, done_at=now, skipped=stale)
            if action.penalty:  # a skipped urge still opened its episode (R32)
                await add_score(matter, PENALTIES[action.penalty.value], action.penalty.value,
                                action.at)
            if stale:
                return
            await apply_effect(matter, action, now)
            people = await recipients.audience_people(matter, action.audience)
            context = await message_context(ctx, matter) | action_context(ctx, action)
            await deliver(ctx, kind=action.kind.value, people=people, context=context,
                          due_at=action.at, now=now, matter=matter,
                          dedup=f"{matter.id}:{action.key}")
    except IntegrityError:
        return  # another instance carried this action out first


async def apply_effect(matter: Matter, action: Action, now: datetime) -> None:
    if action.effect in EFFECT_EVENTS:
        await move(matter, EFFECT_EVENTS[action.effect], CLOCK, action.at,
                   clock_action=action.key)  # not `action=`: audit's own parameter
    elif action.effect is Effect.ACCOUNTABILITY:
        await audit(matter, CLOCK, "accountability", matter.state, matter.state, action.at)


async def message_context(ctx: Context, matter: Matter) -> dict[str, Any]:
    """What every template about a matter may use (plain JSON: it is stored on the row)."""
    lead: Unit = await matter.lead
    initiator: Unit = await matter.initiator
    first = await Node.get_or_none(matter=matter, key="1d")
    return {
        # R6: on a board counting working days, "24 hours" would mislead; name the time.
        "working_days": matter_policy(ctx.policy, matter).working_days,
        "first_due": local_text(ctx, first.due_at) if first else "",
        "code": matter.code, "title": matter.title, "board": matter.board,
        "board_name": BOARD_NAMES[Board(matter.board)], "lead": lead.name,
        "initiator": initiator.name, "state": matter.state.value,
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


async def run_clock(ctx: Context, parallel: int = 1) -> int:
    """One tick: every open matter with an action due catches up, and the year-end lists go
    out (R23). Matters whose next moment is unknown (after a restart) are replanned
    `REPLAN_CHUNK` at a time, so a tick stays short however many matters are open. With
    `parallel` > 1 that many matters catch up at once (PostgreSQL: round trips overlap)."""
    await before_tick(ctx)
    count = 0
    now = ctx.clock.now()
    open_ = Matter.filter(state__in=list(OPEN))
    due = await open_.filter(next_action_at__lte=now).order_by("next_action_at", "id")
    if due:
        metrics.TICK_LAG.set((now - due[0].next_action_at).total_seconds())
    unplanned = await open_.filter(next_action_at=None).order_by("id").limit(REPLAN_CHUNK)
    matters = sorted(due + unplanned, key=lambda m: m.id)
    if parallel > 1:  # each matter in its own transaction; its clock-action keys keep it once
        slots = asyncio.Semaphore(parallel)

        async def one(matter: Matter) -> int:
            async with slots:
                return await safe_catch_up(ctx, matter)

        count = sum(await asyncio.gather(*(one(m) for m in matters)))
    else:  # in id order: `duban simulate` prints the same rows in the same order every run
        for matter in matters:
            count += await safe_catch_up(ctx, matter)
    return count + await send_year_end_lists(ctx)


async def safe_catch_up(ctx: Context, matter: Matter) -> int:
    try:
        return await catch_up(ctx, matter)
    except Exception:  # e.g. a date past the calendar's data: the others still go on
        log.exception("matter %s: the clock could not catch up", matter.code)
        return 0


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
    found = await recipients.people(initiator_id, [Role.HEAD])
    return recipients.unique(found + await recipients.handlers(initiator_id))
