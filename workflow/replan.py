"""Each matter keeps the board policy it was registered under (a snapshot on the matter);
a policy change reaches an open matter only through `duban replan`, which never repeats a
clock action the matter has had (issue 9 part 5; R11-R14, R32).

The clock's action keys of an overdue episode carry the moment the episode started, so a
policy that moves a node's deadline gives its urges, supervise and escalations new keys.
Replanning records each new key that stands for an action already done under the old
policy (same kind, node and ordinal) as done too: skipped, without effect or score.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import ClockAction, Matter, Node
from scheduler.policy import Board, policy_to_json
from scheduler.rules import Action, node_states, plan
from workflow.chase import BATCH, catch_up, catch_up_many
from workflow.context import Context
from workflow.facts import matter_facts, matter_policy
from workflow.records import Actor, audit
from workflow.states import OPEN
from workflow.steps import NODE_ROWS_AHEAD, refresh_nodes

# Far enough that a repeat of a done action (a 1m node's supervise, a month's report)
# is recognised however far the new policy moves it.
REPLAN_AHEAD = timedelta(days=400)
EPISODE = re.compile(r"@\d+|\+\d+$")


async def replan_matters(ctx: Context, actor: Actor, board: str | None = None,
                         code: str | None = None) -> list[tuple[Matter, dict, dict]]:
    """Put the chosen open matters on the deployment's current policy of their board.
    Returns (matter, old policy, new policy) for each matter whose policy changed."""
    query = Matter.filter(state__in=list(OPEN))
    if board:
        query = query.filter(board=Board(board).value)
    if code:
        query = query.filter(code=code)
    changed = []
    for matter in await query.order_by("id"):
        old = policy_to_json(matter_policy(ctx.policy, matter))
        new = policy_to_json(ctx.policy.board(matter.board))
        if old != new or matter.policy is None:
            await replan(ctx, matter, actor, old, new)
            changed.append((matter, old, new))
    return changed


async def replan(ctx: Context, matter: Matter, actor: Actor, old: dict, new: dict) -> None:
    now = ctx.clock.now()
    async with in_transaction():
        matter.policy = new
        await matter.save(update_fields=["policy"])
        carried, _ = await carry_over(ctx, matter, now)
        changes = {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}
        await audit(matter, actor, "replan", matter.state, matter.state, now, old_policy=old,
                    new_policy=new, changed=changes, carried_over=carried)
    await catch_up(ctx, matter)


async def recount_working_days(ctx: Context, actor: Actor, years: list[int]) -> list[Matter]:
    """After a holiday notice was imported: the open matters that count working days get
    their nodes on the new dates, with no action repeated; every other open matter's next
    moment is recomputed too (a quarterly summary or a node held to a working day moves
    with the calendar), a batch at a time. Returns the matters moved."""
    moved, others = [], []
    for matter in await Matter.filter(state__in=list(OPEN)).order_by("id"):
        if not matter_policy(ctx.policy, matter).working_days:
            others.append(matter.id)
            continue
        now = ctx.clock.now()
        async with in_transaction():
            carried, changed = await carry_over(ctx, matter, now)
            if changed or carried:
                await audit(matter, actor, "calendar", matter.state, matter.state, now,
                            years=years, carried_over=carried)
                moved.append(matter)
        await catch_up(ctx, matter)
    for start in range(0, len(others), BATCH):
        await catch_up_many(ctx, others[start:start + BATCH], skip_locked=False)
    return moved


async def carry_over(ctx: Context, matter: Matter, now: datetime) -> tuple[list[str], bool]:
    """Plan the matter anew (policy or calendar changed): mark as done what repeats a done
    action, and move its node rows. Returns the keys carried over and whether a node moved."""
    done = await ClockAction.filter(matter=matter).values_list("key", flat=True)
    facts = await matter_facts(matter)
    actions = plan(facts, ctx.policy, ctx.calendar, now + REPLAN_AHEAD)
    carried = repeats(set(done), actions)
    await ClockAction.bulk_create([
        ClockAction(matter=matter, key=a.key, kind=a.kind.value, due_at=a.at, done_at=now,
                    skipped=True) for a in carried])
    before = dict(await Node.filter(matter=matter).values_list("key", "due_at"))
    await refresh_nodes(ctx, matter, facts)
    await drop_vanished_nodes(ctx, matter, now)
    after = dict(await Node.filter(matter=matter).values_list("key", "due_at"))
    return [a.key for a in carried], before != after


def repeats(done: set[str], actions: list[Action]) -> list[Action]:
    """The actions of the new plan that repeat one done under the old: for each identity
    (key without its episode's start), as many as the done keys the new plan no longer has."""
    planned = {a.key for a in actions}
    owed = Counter(identity(k) for k in done if k not in planned)
    by_identity: dict[str, list[Action]] = defaultdict(list)
    for action in sorted(actions, key=lambda a: a.at):
        if action.key not in done:
            by_identity[identity(action.key)].append(action)
    return [a for ident, count in owed.items() for a in by_identity[ident][:count]]


def identity(key: str) -> str:
    """`supervise:3d@1764567600` -> `supervise:3d`; `urge:3d@1764567600:4+2` -> `urge:3d:4`."""
    return EPISODE.sub("", key)


async def drop_vanished_nodes(ctx: Context, matter: Matter, now: datetime) -> None:
    """A new cadence has other periodic report nodes: the old ones not yet reported go."""
    states = node_states(await matter_facts(matter), ctx.policy, ctx.calendar,
                         now + NODE_ROWS_AHEAD)
    keys = {s.node.key for s in states}
    await Node.filter(Q(key__startswith="W") | Q(key__startswith="M"), matter=matter,
                      satisfied_at__isnull=True, key__not_in=list(keys)).delete()
