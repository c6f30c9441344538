"""The 13710 clock: pure functions from what happened on a matter to what is due, and when.

`plan(facts, policy, calendar, horizon)` returns the matter's whole timeline of automatic
actions (past ones included). Every action has a stable key, so the caller executes each
key once: the timeline can be recomputed at any moment from the same facts and agrees with
what was already done. Nothing here touches a database, a channel or the wall clock.

Interpretations (see README "rules to code"):
- Only the earliest unsatisfied node is chased; node n+1 becomes active when node n is
  satisfied, so a node whose deadline passed while an earlier one was chased is overdue
  from the moment it becomes active (its chase starts then, not in the past).
- A feedback satisfies the earliest unsatisfied node whose window has opened; a plain
  acknowledgement (收到) satisfies only the `1d` node.
- A returned report (R16) leaves its node satisfied until the return, then reopens it; the
  chase of a reopened node starts at the return.
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

from scheduler.calendar import (
    WorkCalendar,
    add_months,
    add_workdays,
    last_workday_on_or_before,
    next_workday_on_or_after,
    workdays_before,
)
from scheduler.clock import SHANGHAI
from scheduler.policy import Board, BoardPolicy, Cadence, OverdueLadder, Policy, QuietHours

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class Kind(StrEnum):
    """Message kinds (the `kind` of simulate's output)."""

    ASSIGNED = "assigned"
    REMIND = "remind"
    URGE = "urge"
    SUPERVISE = "supervise"
    ESCALATE = "escalate"
    FEEDBACK = "feedback"
    REPLY = "reply"
    RETURNED = "returned"
    REPORT_DUE = "report_due"
    CLOSED = "closed"


class Audience(StrEnum):
    """Who an action speaks to; `workflow.recipients` turns it into people."""

    RESPONSIBLE = "responsible"  # head + operators A/B of the lead and cooperating units (R3)
    OPERATORS = "operators"  # the lead unit's A and B posts (R4, R9)
    OPERATORS_DIRECTOR = "operators_director"  # urges add the office director
    SUPERVISE = "supervise"  # + unit head + the initiator's handling person (R12)
    OPERATOR_B = "operator_b"  # R37 resend
    DIRECTOR = "director"  # R37 "the office director is told"
    WARNING = "warning"  # heads + operators of lead and cooperating units (R25)
    INITIATOR_HANDLER = "initiator_handler"  # the initiator's handling person
    INITIATOR_HEAD = "initiator_head"  # R13 first level
    DUCHA = "ducha"  # 督查室 (the daily board's initiator), R13 last level
    INITIATOR_LEADER = "initiator_leader"  # R14 accountability, R20 key_work/reform


class Effect(StrEnum):
    """What an action does to the matter besides sending messages."""

    SUPERVISED = "supervised"  # R12: enters the supervise procedure
    KEY_SUPERVISION = "key_supervision"  # R13: on the key-supervision list
    ACCOUNTABILITY = "accountability"  # R14: 问效


class Penalty(StrEnum):
    """Score events an action carries (R32)."""

    URGE_EPISODE = "urge_episode"  # -0.1, once per overdue node
    SUPERVISED = "supervised"  # -0.5


@dataclass(frozen=True)
class Action:
    """One automatic action of the clock."""

    key: str
    kind: Kind
    at: datetime  # UTC
    audience: Audience
    node: str | None = None
    reason: str = ""  # template variant, e.g. "node", "report", "ack_resend", "warning"
    effect: Effect | None = None
    penalty: Penalty | None = None
    deadline: datetime | None = None  # the deadline this action is about
    number: int = 0  # urge/warning ordinal within its episode
    valid_until: datetime | None = field(default=None, compare=False)  # node satisfied then
    series_end: datetime | None = field(default=None, compare=False)  # urges stop here (R12)
    not_before: datetime | None = field(default=None, compare=False)  # its node opened then


@dataclass(frozen=True)
class Report:
    """A feedback the unit filed: an acknowledgement or a progress report."""

    at: datetime
    ack_only: bool = False  # 收到: satisfies only the 1d node
    returned_at: datetime | None = None  # R16


@dataclass(frozen=True)
class MatterFacts:
    """Everything the clock needs to know about one matter, as plain data (UTC instants)."""

    code: str
    board: str
    klass: str = "general"  # general | major (R5)
    assigned_at: datetime | None = None
    explicit_deadline: datetime | None = None
    reports: tuple[Report, ...] = ()
    # R8: while a completion application is pending nothing is chased: (filed, returned)
    pauses: tuple[tuple[datetime, datetime | None], ...] = ()
    closed_at: datetime | None = None
    continuing_since: datetime | None = None  # R18: extension approved
    continuing_until: datetime | None = None  # the extended deadline
    # The board policy the matter was registered under (None: the deployment's current one).
    policy: BoardPolicy | None = None


@dataclass(frozen=True)
class Node:
    """One deadline on the matter's walk: a class node (1d/3d/...) or a periodic report."""

    key: str
    due: datetime
    opens: datetime  # reports before this do not count for it
    ladder: str  # "standard" | "engineering" | "investment" | "monthly"
    remind_at: datetime | None = None
    remind_kind: Kind = Kind.REMIND
    ack_satisfies: bool = False
    reason: str = "node"


@dataclass(frozen=True)
class NodeState:
    node: Node
    satisfied_at: datetime | None = None
    reopened_at: datetime | None = None


# ---------------------------------------------------------------------------------------
# Node schedules (R5, R6, R19)


def local(instant: datetime) -> datetime:
    return instant.astimezone(SHANGHAI)


def at_local(day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, SHANGHAI).astimezone(UTC)


def add_month(instant: datetime) -> datetime:
    """Same clock time one calendar month later (clamped to the month's last day)."""
    moment = local(instant)
    later = add_months(moment.date(), 1)
    return moment.replace(year=later.year, month=later.month, day=later.day).astimezone(UTC)


CLASS_NODES = {"general": ("1d", "3d", "7d"), "major": ("1d", "3d", "7d", "1m")}
NODE_DAYS = {"1d": 1, "3d": 3, "7d": 7}


def node_due(key: str, start: datetime, bp: BoardPolicy, cal: WorkCalendar) -> datetime:
    """Deadline of a class node counted from the assignment (R5; R6 working days)."""
    if key == "1m":
        due = add_month(start)
        if bp.working_days:
            moved = next_workday_on_or_after(cal, local(due).date())
            due = at_local(moved, local(due).timetz().replace(tzinfo=None))
        return due
    days = NODE_DAYS[key]
    if not bp.working_days:
        return start + days * DAY
    day = add_workdays(cal, local(start).date(), days)
    return at_local(day, local(start).timetz().replace(tzinfo=None))


def class_nodes(f: MatterFacts, bp: BoardPolicy, cal: WorkCalendar) -> list[Node]:
    start = f.assigned_at
    assert start is not None
    keys = CLASS_NODES[f.klass] if f.explicit_deadline is None else ("1d",)
    nodes = [
        Node(
            key=k,
            due=(due := node_due(k, start, bp, cal)),
            opens=start,
            ladder=bp.overdue.value,
            remind_at=due - bp.remind_before[k],
            ack_satisfies=(k == "1d"),
        )
        for k in keys
    ]
    if f.explicit_deadline is not None:
        due = f.explicit_deadline
        nodes.append(Node("deadline", due, start, bp.overdue.value, due - bp.remind_before["deadline"]))
    return nodes


# ---------------------------------------------------------------------------------------
# Periodic reports (R10, R18-R21)


def thursday_end(day: date) -> datetime:
    """The end of the Thursday of `day`'s week (24:00 local = Friday 00:00)."""
    thursday = day + timedelta(days=(3 - day.weekday()))
    return at_local(thursday + DAY, time(0, 0))


def weekly_nodes(start: datetime, end: datetime | None, horizon: datetime, step_weeks: int,
                 bp: BoardPolicy) -> list[Node]:
    """Weekly reports due before the end of Thursday (R21), reminder Thursday 09:00; the
    first counts the reports from the track's start."""
    due = thursday_end(local(start).date())
    if due - start < DAY:  # a report due within a day of the track's start waits a period
        due += timedelta(weeks=1)
    nodes = weekly_series(due, end, horizon, step_weeks, bp.remind_hour)
    return [replace(nodes[0], opens=start), *nodes[1:]] if nodes else []


@lru_cache(maxsize=1024)
def weekly_series(first_due: datetime, end: datetime | None, horizon: datetime,
                  step_weeks: int, remind_hour: time) -> tuple[Node, ...]:
    """The weekly nodes from `first_due` on, each open from the one before's deadline (the
    first's opening is the caller's). Every matter whose track starts in the same week has
    the same ones, and a tick plans them all with one horizon: made once, shared (frozen)."""
    nodes = []
    due = opens = first_due
    while due <= horizon and (end is None or due <= end):
        thursday = local(due - DAY).date()
        nodes.append(Node(f"W{thursday.isoformat()}", due, opens, "standard",
                          at_local(thursday, remind_hour), Kind.REPORT_DUE, reason="weekly"))
        opens = due
        due += timedelta(weeks=step_weeks)
    return tuple(nodes)


def month_end(day: date) -> datetime:
    last = month_calendar.monthrange(day.year, day.month)[1]
    return at_local(date(day.year, day.month, last) + DAY, time(0, 0))


def monthly_nodes(start: datetime, end: datetime | None, horizon: datetime,
                  bp: BoardPolicy) -> Iterator[Node]:
    """Monthly reports due at month end; reminder N days before it (R20)."""
    day = local(start).date().replace(day=1)
    opens = start
    while True:
        due = month_end(day)
        last_day = local(due - DAY).date()
        remind = at_local(last_day - timedelta(days=bp.month_end_remind_days), bp.remind_hour)
        day = local(due).date()
        if remind <= start:  # too late in the month for this period
            continue
        if due > horizon or (end is not None and due > end):
            return
        yield Node(f"M{last_day:%Y-%m}", due, opens, "monthly", remind, Kind.REPORT_DUE,
                   reason="monthly")
        opens = due


def cadence_for(bp: BoardPolicy, start: datetime, end: datetime | None) -> tuple[str, int]:
    """("weekly", weeks) or ("monthly", 0) for a continuing track (R18)."""
    if bp.cadence is Cadence.WEEKLY:
        return "weekly", 1
    if bp.cadence is Cadence.MONTHLY or end is None:
        return "monthly", 0
    remaining = end - start
    if remaining <= timedelta(days=92):
        return "weekly", 1
    if remaining <= timedelta(days=183):
        return "weekly", 2
    return "monthly", 0


def periodic_track(f: MatterFacts, bp: BoardPolicy) -> tuple[datetime, datetime | None, str, int] | None:
    """When periodic reports start, end, and their cadence, if the matter has them."""
    assert f.assigned_at is not None
    if f.continuing_since is not None:
        kind, weeks = cadence_for(bp, f.continuing_since, f.continuing_until)
        return f.continuing_since, f.continuing_until, kind, weeks
    if f.explicit_deadline is not None and f.explicit_deadline - f.assigned_at > timedelta(days=92):
        return f.assigned_at, f.explicit_deadline, "monthly", 0  # R19
    if bp.weekly_after_one_month:
        return add_month(f.assigned_at), None, "weekly", 1  # R10
    return None


def periodic_nodes(f: MatterFacts, bp: BoardPolicy, horizon: datetime) -> list[Node]:
    track = periodic_track(f, bp)
    if track is None:
        return []
    start, end, kind, weeks = track
    if kind == "weekly":
        return weekly_nodes(start, end, horizon, weeks, bp)
    return list(monthly_nodes(start, end, horizon, bp))


def extension_node(f: MatterFacts, bp: BoardPolicy) -> list[Node]:
    if f.continuing_since is None or f.continuing_until is None:
        return []
    due = f.continuing_until
    return [Node("ext", due, f.continuing_since, bp.overdue.value,
                 due - bp.remind_before["1m"], reason="extension")]


def walk(f: MatterFacts, bp: BoardPolicy, cal: WorkCalendar, horizon: datetime) -> list[Node]:
    """The matter's deadlines in the order they are chased."""
    nodes = [] if f.continuing_since is not None else class_nodes(f, bp, cal)
    nodes += periodic_nodes(f, bp, horizon) + extension_node(f, bp)
    return sorted(nodes, key=lambda n: n.due)


# ---------------------------------------------------------------------------------------
# Which report satisfies which node (R7, R16)


def satisfy(nodes: list[Node], reports: Iterable[Report]) -> list[NodeState]:
    """Give every report to the earliest unsatisfied node it may satisfy, in time order."""
    states = [NodeState(n) for n in nodes]
    events: list[tuple[datetime, int, Report]] = []
    for report in reports:
        events.append((report.at, 1, report))
        if report.returned_at is not None:
            events.append((report.returned_at, 0, report))
    holder: dict[int, int] = {}  # id(report) -> index of the node it satisfied
    # Every node before `start` is satisfied: a matter's hundredth report need not look at
    # them again.
    start = 0
    for at, is_filing, report in sorted(events, key=lambda e: (e[0], e[1])):
        if is_filing:
            index = first_open(states, report, start)
            if index is not None:
                states[index] = replace(states[index], satisfied_at=at)
                holder[id(report)] = index
                while start < len(states) and states[start].satisfied_at is not None:
                    start += 1
        elif id(report) in holder:
            index = holder.pop(id(report))
            states[index] = replace(states[index], satisfied_at=None, reopened_at=at)
            start = min(start, index)
    return states


def first_open(states: list[NodeState], report: Report, start: int = 0) -> int | None:
    """The earliest node from `start` on that `report` satisfies, if any."""
    for index in range(start, len(states)):
        state = states[index]
        if state.satisfied_at is not None or report.at < state.node.opens:
            continue
        if report.ack_only and not state.node.ack_satisfies:
            return None
        return index
    return None


def node_states(f: MatterFacts, policy: Policy, cal: WorkCalendar,
                horizon: datetime) -> list[NodeState]:
    """The matter's deadlines in the order they are chased, each with when it was
    satisfied (None: still open)."""
    return satisfy(walk(f, board_policy(f, policy), cal, horizon), f.reports)


def satisfied_keys(f: MatterFacts, policy: Policy, cal: WorkCalendar,
                   horizon: datetime) -> dict[str, datetime | None]:
    """Each node's key and when it was satisfied (None: still open)."""
    return {s.node.key: s.satisfied_at for s in node_states(f, policy, cal, horizon)}


# ---------------------------------------------------------------------------------------
# Chasing one node: reminder and overdue ladders (R9, R11-R14, R20, R21, R24, R25)


def chase(state: NodeState, active: datetime, bp: BoardPolicy) -> list[Action]:
    node = state.node
    until = state.satisfied_at
    actions = []
    if node.remind_at is not None and node.remind_at >= active:
        actions.append(Action(f"{node.remind_kind}:{node.key}", node.remind_kind, node.remind_at,
                              Audience.OPERATORS, node.key, node.reason, deadline=node.due))
    start = max(node.due, active)
    episode = f"{node.key}@{int(start.timestamp())}"
    # Every rung of a ladder is at its start or later: a node satisfied by then (on time,
    # as most are) would have them all cut below, so they are not made (a matter's plan
    # walks every node it has had, at each of its feedbacks).
    if until is None or until > start:
        actions += LADDERS[node.ladder](node, start, episode, bp)
    return [revised(a, valid_until=until, not_before=active)
            for a in actions if until is None or a.at < until]


def revised(action: Action, **changes: object) -> Action:
    """`dataclasses.replace` for the actions `chase` makes (a tick plans thousands of
    matters, and `replace` re-runs the whole constructor: most of a plan's time): a copy
    with `changes`, made before anyone else holds it."""
    copy = object.__new__(Action)
    copy.__dict__.update(action.__dict__, **changes)
    return copy


def urge(node: Node, episode: str, at: datetime, number: int, audience: Audience,
         reason: str, series_end: datetime | None = None) -> Action:
    return Action(f"urge:{episode}:{number}", Kind.URGE, at, audience, node.key, reason,
                  penalty=Penalty.URGE_EPISODE if number == 1 else None,
                  deadline=node.due, number=number, series_end=series_end)


def escalations(node: Node, start: datetime, episode: str, bp: BoardPolicy,
                first_after: timedelta) -> list[Action]:
    """R13: the initiator's head (key supervision), then 督查室 if the board says so."""
    first = start + first_after
    actions = [Action(f"escalate:{episode}", Kind.ESCALATE, first, Audience.INITIATOR_HEAD,
                      node.key, "key_supervision", Effect.KEY_SUPERVISION, deadline=node.due)]
    if bp.second_escalation_after is not None:
        actions.append(Action(f"escalate2:{episode}", Kind.ESCALATE,
                              first + bp.second_escalation_after, Audience.DUCHA, node.key,
                              "ducha", deadline=node.due))
    return actions


STANDARD_URGES = [3 * i * HOUR for i in range(1, 9)] + [(24 + 2 * i) * HOUR for i in range(1, 12)]


def standard_ladder(node: Node, start: datetime, episode: str, bp: BoardPolicy) -> list[Action]:
    """R11-R13: every 3 h on day one, every 2 h on day two, supervise at +48 h, +72 h up."""
    reason = "report" if node.reason in ("weekly", "monthly") else "node"
    supervise_at = start + 48 * HOUR
    actions = [urge(node, episode, start + offset, n, Audience.OPERATORS_DIRECTOR, reason,
                    series_end=supervise_at)
               for n, offset in enumerate(STANDARD_URGES, start=1)]
    actions.append(Action(f"supervise:{episode}", Kind.SUPERVISE, supervise_at,
                          Audience.SUPERVISE, node.key, reason, Effect.SUPERVISED,
                          Penalty.SUPERVISED, deadline=node.due))
    return actions + escalations(node, start, episode, bp, 72 * HOUR)


def engineering_ladder(node: Node, start: datetime, episode: str, bp: BoardPolicy) -> list[Action]:
    """R24: three overdue warnings at the deadline, +5 h and +10 h; then R13."""
    actions = [urge(node, episode, start + h * HOUR, n, Audience.OPERATORS_DIRECTOR, "warning")
               for n, h in enumerate((0, 5, 10), start=1)]
    return actions + escalations(node, start, episode, bp, 72 * HOUR)


def investment_ladder(node: Node, start: datetime, episode: str, bp: BoardPolicy) -> list[Action]:
    """R25: warnings after 1, 2, 3 days; a phone-call task for 招商局; then its head, 督查室."""
    actions = [urge(node, episode, start + d * DAY, d, Audience.WARNING, "warning")
               for d in (1, 2, 3)]
    actions.append(Action(f"call:{episode}", Kind.URGE, start + 2 * DAY,
                          Audience.INITIATOR_HANDLER, node.key, "phone_call", deadline=node.due))
    return actions + escalations(node, start, episode, bp, 72 * HOUR)


def monthly_ladder(node: Node, start: datetime, episode: str, bp: BoardPolicy) -> list[Action]:
    """R20: urges at 08:00 and 15:00 on the next two days; at 00:00 of the third, supervise
    and escalate (key_work/reform: to the district leadership for accountability)."""
    first_day = local(start).date()
    times = [at_local(first_day + d * DAY, t) for d in (0, 1) for t in (time(8), time(15))]
    times = [t for t in times if t > start] if local(start).time() != time(0) else times
    end = at_local(first_day + 2 * DAY, time(0))
    actions = [urge(node, episode, t, n, Audience.OPERATORS_DIRECTOR, "report", series_end=end)
               for n, t in enumerate(times, start=1)]
    to_leader = Board(bp.board) in (Board.KEY_WORK, Board.REFORM)
    actions.append(Action(f"supervise:{episode}", Kind.SUPERVISE, end, Audience.SUPERVISE,
                          node.key, "report", Effect.SUPERVISED, Penalty.SUPERVISED,
                          deadline=node.due))
    actions.append(Action(f"escalate:{episode}", Kind.ESCALATE, end,
                          Audience.INITIATOR_LEADER if to_leader else Audience.INITIATOR_HEAD,
                          node.key, "report_overdue", deadline=node.due))
    return actions


LADDERS = {
    OverdueLadder.STANDARD.value: standard_ladder,
    OverdueLadder.ENGINEERING.value: engineering_ladder,
    OverdueLadder.INVESTMENT.value: investment_ladder,
    "monthly": monthly_ladder,
}


# ---------------------------------------------------------------------------------------
# The whole timeline


def plan(f: MatterFacts, policy: Policy, cal: WorkCalendar, horizon: datetime) -> list[Action]:
    """Every automatic action of the matter up to `horizon`, in time order."""
    if f.assigned_at is None:
        return []
    bp = board_policy(f, policy)
    actions = assignment_actions(f, bp)
    actions += node_actions(f, bp, cal, horizon)
    actions += accountability(actions)
    actions += quarterly_actions(f, bp, cal, horizon)
    # Quiet hours move a reminder earlier (by less than a day) and hold urges to their end:
    # shift first, then cut at the horizon, so a moved reminder is due at its new moment and
    # a merged urge only appears once everything it merges is known (R35).
    held_until = horizon + DAY
    actions = still_wanted(f, [a for a in actions if a.at <= held_until])
    actions = apply_quiet_hours(actions, policy.quiet_hours)
    return sorted((a for a in actions if a.at <= horizon), key=lambda a: (a.at, a.key))


def board_policy(f: MatterFacts, policy: Policy) -> BoardPolicy:
    """The matter's own policy snapshot; the deployment's for a matter without one."""
    return f.policy or policy.board(f.board)


def assignment_actions(f: MatterFacts, bp: BoardPolicy) -> list[Action]:
    """R3 assignment notice; R37 resend when nobody acknowledged within 4 hours."""
    assert f.assigned_at is not None
    actions = [Action("assigned", Kind.ASSIGNED, f.assigned_at, Audience.RESPONSIBLE)]
    if bp.ack_resend_after is None:
        return actions
    resend_at = f.assigned_at + bp.ack_resend_after
    first_reply = min((r.at for r in f.reports), default=None)
    if first_reply is None or first_reply > resend_at:
        actions += [
            Action("assigned:resend", Kind.ASSIGNED, resend_at, Audience.OPERATOR_B,
                   reason="ack_resend"),
            Action("remind:unacknowledged", Kind.REMIND, resend_at, Audience.DIRECTOR,
                   reason="unacknowledged"),
        ]
    return actions


def node_actions(f: MatterFacts, bp: BoardPolicy, cal: WorkCalendar,
                 horizon: datetime) -> list[Action]:
    """Chase the earliest unsatisfied node only; later nodes wait for it (R7)."""
    assert f.assigned_at is not None
    states = satisfy(walk(f, bp, cal, horizon + 40 * DAY), f.reports)
    active = f.assigned_at
    # A returned completion application (R8 pause over) restarts the chase at the return,
    # as a returned report does (R16): a fresh episode, not the tail of the old one.
    resumed = [end for _, end in f.pauses if end is not None]
    actions: list[Action] = []
    for state in states:
        node_active = max(active, state.node.opens, state.reopened_at or active, *resumed)
        actions += chase(state, node_active, bp)
        if state.satisfied_at is None:
            break
        active = max(active, state.satisfied_at)  # never back in time (a reopened node)
    return actions


def accountability(actions: list[Action]) -> list[Action]:
    """R14: the second supervise of a matter starts the accountability procedure (问效)."""
    supervises = sorted((a for a in actions if a.kind is Kind.SUPERVISE), key=lambda a: a.at)
    if len(supervises) < 2:
        return []
    second = supervises[1]
    return [Action("accountability", Kind.ESCALATE, second.at, Audience.INITIATOR_LEADER,
                   second.node, "accountability", Effect.ACCOUNTABILITY, deadline=second.deadline)]


def quarterly_actions(f: MatterFacts, bp: BoardPolicy, cal: WorkCalendar,
                      horizon: datetime) -> list[Action]:
    """R22: quarterly summary of a continuing matter, report_due 3 working days before."""
    if not bp.quarterly_summary or f.continuing_since is None:
        return []
    actions = []
    for year, quarter in quarters(local(f.continuing_since).date(), local(horizon).date()):
        due_day, remind_day = quarter_days(cal, year, quarter)
        remind = at_local(remind_day, bp.remind_hour)
        if f.continuing_since <= remind <= horizon:
            actions.append(Action(f"report_due:Q{year}-{quarter}", Kind.REPORT_DUE, remind,
                                  Audience.OPERATORS, f"Q{year}-{quarter}", "quarterly",
                                  deadline=at_local(due_day + DAY, time(0))))
    return actions


def quarters(first: date, last: date) -> Iterator[tuple[int, int]]:
    year, quarter = first.year, (first.month - 1) // 3 + 1
    while (year, quarter) <= (last.year, (last.month - 1) // 3 + 1):
        yield year, quarter
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)


def quarter_days(cal: WorkCalendar, year: int, quarter: int) -> tuple[date, date]:
    """The quarter's due day and its reminder day (3 working days before)."""
    due_day = quarter_due_day(cal, year, quarter)
    return due_day, workdays_before(cal, due_day, 3)


def quarter_due_day(cal: WorkCalendar, year: int, quarter: int) -> date:
    """The last working day of the quarter; for Q4 one week earlier (R22)."""
    last_month = quarter * 3
    last = date(year, last_month, month_calendar.monthrange(year, last_month)[1])
    if quarter == 4:
        last -= timedelta(days=7)
    return last_workday_on_or_before(cal, last)


def still_wanted(f: MatterFacts, actions: list[Action]) -> list[Action]:
    """R8: nothing while a completion application is pending; nothing after closing (R30).
    (Most matters have neither: their actions are kept without a look at each.)"""
    if f.closed_at is None and not f.pauses:
        return actions
    return [a for a in actions if (f.closed_at is None or a.at < f.closed_at) and not any(
        start <= a.at and (end is None or a.at < end) for start, end in f.pauses)]


# ---------------------------------------------------------------------------------------
# Quiet hours (R35)


HELD_EARLY = (Kind.REMIND, Kind.REPORT_DUE)


def apply_quiet_hours(actions: list[Action], quiet: QuietHours | None) -> list[Action]:
    """Reminders move to the last minute before quiet hours; urges inside merge into one at
    their end; a notice without a deadline (R37's "not acknowledged") waits for their end, as
    it must not go out before what it reports has happened; assigned, supervise and escalate
    are never held."""
    if quiet is None:
        return actions
    kept, merged = [], {}
    for action in actions:
        moment = local(action.at)
        if not quiet.contains(moment.time()):
            kept.append(action)
        elif action.kind in HELD_EARLY and action.deadline is not None:
            kept += remind_outside(action, moment, quiet)
        elif action.kind in HELD_EARLY:  # a notice that something did not happen (R37)
            kept.append(replace(action, at=quiet_end_after(moment, quiet)))
        elif action.kind is Kind.URGE:
            end = quiet_end_after(moment, quiet)
            merged.setdefault((end, action.node, action.audience, action.reason), []).append(action)
        else:
            kept.append(action)
    for (end, _, _, _), group in merged.items():
        if all(a.valid_until is None or end < a.valid_until for a in group) and all(
                a.series_end is None or end < a.series_end for a in group):
            kept.append(merge_urges(group, end))
    return kept


def remind_outside(action: Action, moment: datetime, quiet: QuietHours) -> list[Action]:
    """A reminder moves to the minute before quiet hours, unless its node was not open yet
    then (it must not be backdated): then it waits for their end, if that is still before
    the deadline, or is dropped."""
    early = quiet_start_before(moment, quiet)
    if action.not_before is None or early >= action.not_before:
        return [replace(action, at=early)]
    late = quiet_end_after(moment, quiet)
    return [replace(action, at=late)] if action.deadline and late < action.deadline else []


def quiet_start_before(moment: datetime, quiet: QuietHours) -> datetime:
    day = moment.date() if moment.time() >= quiet.start else moment.date() - DAY
    return at_local(day, quiet.start) - timedelta(minutes=1)


def quiet_end_after(moment: datetime, quiet: QuietHours) -> datetime:
    day = moment.date() if moment.time() < quiet.end else moment.date() + DAY
    return at_local(day, quiet.end)


def merge_urges(group: list[Action], end: datetime) -> Action:
    first = group[0]
    penalty = Penalty.URGE_EPISODE if any(a.penalty for a in group) else None
    return replace(first, key=f"{first.key}+{len(group)}", at=end, penalty=penalty,
                   number=group[-1].number)


# ---------------------------------------------------------------------------------------
# Registration of investment problems (R26)

REGISTRATION_WORKDAYS = 3


def registration_due(reported_on: date, cal: WorkCalendar) -> date:
    """The last day an investment problem reported on `reported_on` may be registered."""
    return add_workdays(cal, reported_on, REGISTRATION_WORKDAYS)


# ---------------------------------------------------------------------------------------
# Year-end clearance (R23)


def year_end_lists(now: datetime, horizon: datetime) -> list[tuple[str, datetime]]:
    """From 1 December the initiator gets a weekly list of open matters: (key, at)."""
    result = []
    for year in range(local(now).year, local(horizon).year + 1):
        at = at_local(date(year, 12, 1), time(9))
        while local(at).year == year:
            if at <= horizon:
                result.append((f"year_end:{local(at).date().isoformat()}", at))
            at += timedelta(weeks=1)
    return result
