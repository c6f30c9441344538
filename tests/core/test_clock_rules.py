"""The 13710 clock (`scheduler.rules`), pure: plain facts in, a timeline of actions out.

No database and no wall clock. Every expected time below is written out from the rule text
(rules-13710.md), not computed with the functions under test. All instants are compared as
aware datetimes, so Asia/Shanghai literals match the clock's UTC values.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.calendar import (
    ChineseWorkCalendar,
    add_workdays,
    workdays_before,
)
from scheduler.clock import SHANGHAI
from scheduler.policy import Board, Policy, QuietHours, default_policies
from scheduler.rules import (
    LADDERS,
    Action,
    Audience,
    Effect,
    Kind,
    MatterFacts,
    Node,
    NodeState,
    Penalty,
    Report,
    add_month,
    cadence_for,
    plan,
    satisfied_keys,
    satisfy,
    walk,
    year_end_lists,
)

H = timedelta(hours=1)
D = timedelta(days=1)
CAL = ChineseWorkCalendar()
POLICY = Policy()
QUIET = Policy(quiet_hours=QuietHours(time(22, 0), time(7, 0)))
ALL_BOARDS = [b.value for b in Board]


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Shanghai wall-clock instant."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


T0 = sh(2026, 1, 5, 10)  # a Monday, 10:00, far from any holiday


def facts(board: str = "key_work", klass: str = "general", at: datetime = T0,
          **more: object) -> MatterFacts:
    return MatterFacts(code="X1", board=board, klass=klass, assigned_at=at, **more)


def run(f: MatterFacts, horizon: datetime, policy: Policy = POLICY) -> list[Action]:
    return plan(f, policy, CAL, horizon)


def policy_with(board: str, quiet: QuietHours | None = None, **changes: object) -> Policy:
    boards = default_policies()
    boards[Board(board)] = boards[Board(board)].with_overrides(changes)
    return Policy(boards=boards, quiet_hours=quiet)


def of(actions: list[Action], kind: Kind | None = None, node: str | None = None) -> list[Action]:
    return [a for a in actions
            if (kind is None or a.kind is kind) and (node is None or a.node == node)]


def by_key(actions: list[Action]) -> dict[str, Action]:
    return {a.key: a for a in actions}


def ack(at: datetime) -> Report:
    return Report(at, ack_only=True)


def report(at: datetime, returned_at: datetime | None = None) -> Report:
    return Report(at, returned_at=returned_at)


ON_TIME = (ack(T0 + 1 * H), report(T0 + 50 * H), report(T0 + 100 * H))  # 1d, 3d, 7d
# Each node satisfied after its reminder went out (R9) and before its deadline.
AFTER_REMINDERS = (ack(T0 + 20 * H), report(T0 + 70 * H), report(T0 + 150 * H))
STANDARD_URGE_HOURS = [3, 6, 9, 12, 15, 18, 21, 24] + [26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46]


# ---------------------------------------------------------------------------------------
# R5 node sequences


def test_r5_general_class_walks_1d_3d_7d_counted_from_assignment():
    nodes = walk(facts(), POLICY.board("key_work"), CAL, T0 + 30 * D)
    assert [(n.key, n.due) for n in nodes] == [
        ("1d", T0 + 24 * H), ("3d", T0 + 72 * H), ("7d", T0 + 168 * H)]
    assert all(n.opens == T0 for n in nodes)


def test_r5_major_class_adds_1m_at_the_same_clock_time_next_calendar_month():
    at = sh(2026, 3, 15, 10, 30)
    nodes = walk(facts(klass="major", at=at), POLICY.board("key_work"), CAL, at + 60 * D)
    assert [(n.key, n.due) for n in nodes] == [
        ("1d", sh(2026, 3, 16, 10, 30)), ("3d", sh(2026, 3, 18, 10, 30)),
        ("7d", sh(2026, 3, 22, 10, 30)), ("1m", sh(2026, 4, 15, 10, 30))]


@pytest.mark.parametrize(("assigned", "one_month"), [
    (sh(2026, 1, 31, 10), sh(2026, 2, 28, 10)),  # clamped to the shorter month
    (sh(2026, 3, 31, 16, 45), sh(2026, 4, 30, 16, 45)),
    (sh(2025, 12, 31, 9), sh(2026, 1, 31, 9)),  # across the year end
    (sh(2028, 1, 31, 8), sh(2028, 2, 29, 8)),  # leap year
    (sh(2026, 1, 1, 0, 30), sh(2026, 2, 1, 0, 30)),  # a UTC date of the previous day
])
def test_r5_1m_is_the_same_clock_time_one_calendar_month_later(assigned, one_month):
    assert add_month(assigned) == one_month
    nodes = walk(facts(klass="major", at=assigned), POLICY.board("key_work"), CAL,
                 assigned + 60 * D)
    assert nodes[-1].key == "1m" and nodes[-1].due == one_month


def test_r5_explicit_deadline_replaces_the_class_sequence_keeping_the_day_one_receipt():
    deadline = sh(2026, 2, 10, 18)
    for klass in ("general", "major"):
        nodes = walk(facts(klass=klass, explicit_deadline=deadline), POLICY.board("key_work"),
                     CAL, deadline + 10 * D)
        assert [(n.key, n.due) for n in nodes] == [("1d", T0 + D), ("deadline", deadline)]
    actions = run(facts(explicit_deadline=deadline, reports=(ack(T0 + H),)), deadline)
    assert by_key(actions)["remind:deadline"].at == deadline - D
    assert not of(actions, node="3d") and not of(actions, node="7d")


# ---------------------------------------------------------------------------------------
# R6 working-day counting


def test_r6_national_day_2026_is_what_the_calendar_data_says():
    # The facts the next test builds on: 1-7 Oct off, Saturday 10 Oct a make-up working day.
    assert not any(CAL.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert CAL.is_workday(date(2026, 10, 10)) and not CAL.is_workday(date(2026, 10, 11))
    assert add_workdays(CAL, date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_r6_working_day_board_counts_nodes_across_national_day():
    policy = policy_with("key_work", working_days=True)
    at = sh(2026, 9, 30, 10)  # Wednesday before the holiday
    nodes = walk(facts(klass="major", at=at), policy.board("key_work"), CAL, at + 60 * D)
    assert [(n.key, n.due) for n in nodes] == [
        ("1d", sh(2026, 10, 8, 10)),
        ("3d", sh(2026, 10, 10, 10)),  # Saturday, a make-up working day
        ("7d", sh(2026, 10, 15, 10)),  # 8, 9, 10, 12, 13, 14, 15
        ("1m", sh(2026, 10, 30, 10)),  # a working day already
    ]
    # The reminder keeps its lead time before the moved deadline (R9).
    actions = run(facts(at=at), sh(2026, 10, 9), policy)
    assert by_key(actions)["remind:1d"].at == sh(2026, 10, 8, 5)


def test_r6_one_month_node_falling_on_a_holiday_moves_to_the_next_working_day():
    policy = policy_with("key_work", working_days=True)
    at = sh(2026, 9, 1, 10)
    nodes = walk(facts(klass="major", at=at), policy.board("key_work"), CAL, at + 60 * D)
    assert nodes[-1].key == "1m" and nodes[-1].due == sh(2026, 10, 8, 10)


def test_r6_default_counts_calendar_time_through_the_holiday():
    at = sh(2026, 9, 30, 10)
    nodes = walk(facts(at=at), POLICY.board("key_work"), CAL, at + 30 * D)
    assert [n.due for n in nodes] == [sh(2026, 10, 1, 10), sh(2026, 10, 3, 10),
                                      sh(2026, 10, 7, 10)]


def uncovered(year: int) -> bool:
    return year not in {d.year for d in chinese_calendar.holidays}


@pytest.mark.skipif(not uncovered(2027), reason="the installed calendar data covers 2027")
def test_r6_issue9_part2_past_the_package_data_a_year_counts_monday_to_friday():
    """Issue 9 part 2: a year without data counts Monday-Friday, never refuses or raises."""
    assert CAL.is_workday(date(2027, 1, 4)) and not CAL.is_workday(date(2027, 1, 2))
    policy = policy_with("key_work", working_days=True)
    nodes = {n.key: n.due for n in walk(facts(at=sh(2026, 12, 30, 10)),
                                        policy.board("key_work"), CAL, sh(2027, 1, 20))}
    # Wed 30 Dec + 3 working days: Thu 31 Dec, (1 Jan 2027 is a Friday, no data: counted
    # as a working day), Mon 4 Jan.
    assert nodes["3d"] == sh(2027, 1, 4, 10)
    # Calendar-time boards never consult the data.
    assert run(facts(at=sh(2026, 12, 30, 10)), sh(2027, 1, 20))


# ---------------------------------------------------------------------------------------
# R7 feedback satisfies nodes; only the earliest open node is chased


def test_r7_on_time_feedback_cancels_that_nodes_reminder_and_the_next_node_still_comes():
    actions = run(facts(reports=(ack(T0 + 2 * H),)), T0 + 4 * D)
    keys = by_key(actions)
    assert "remind:1d" not in keys
    assert not of(actions, Kind.URGE, "1d")
    assert keys["remind:3d"].at == T0 + 72 * H - 5 * H
    assert of(actions, Kind.URGE, "3d")  # no report for 3d: it is chased in turn


def test_r7_feedback_after_the_reminder_but_before_the_deadline_stops_the_chase():
    actions = run(facts(reports=(report(T0 + 21 * H),)), T0 + 3 * D)
    assert by_key(actions)["remind:1d"].at == T0 + 19 * H  # already sent, stays
    assert not of(actions, Kind.URGE, "1d") and not of(actions, Kind.SUPERVISE)


def test_r7_a_plain_acknowledgement_satisfies_only_the_1d_node():
    f = facts(reports=(ack(T0 + H), ack(T0 + 30 * H), ack(T0 + 60 * H)))
    assert satisfied_keys(f, POLICY, CAL, T0 + 10 * D) == {
        "1d": T0 + H, "3d": None, "7d": None}
    actions = run(f, T0 + 4 * D)
    assert of(actions, Kind.URGE, "3d")[0].at == T0 + 75 * H
    # An acknowledgement as the first feedback still satisfies 1d; a report satisfies 3d.
    f = facts(reports=(ack(T0 + H), report(T0 + 30 * H)))
    assert satisfied_keys(f, POLICY, CAL, T0 + 10 * D)["3d"] == T0 + 30 * H


def test_r7_only_the_earliest_unsatisfied_node_is_chased():
    actions = run(facts(klass="major"), T0 + 40 * D)
    chased = {a.node for a in actions if a.node is not None}
    assert chased == {"1d"}


def test_r7_late_feedback_satisfies_that_node_only_and_the_next_chase_starts_then():
    late = T0 + 80 * H  # 1d overdue by 56 h; the 3d deadline (72 h) has passed too
    f = facts(reports=(report(late),))
    assert satisfied_keys(f, POLICY, CAL, T0 + 20 * D) == {"1d": late, "3d": None, "7d": None}
    actions = run(f, T0 + 20 * D)
    one_day = of(actions, node="1d")
    assert all(a.at < late for a in one_day)
    assert "escalate:1d@" not in " ".join(a.key for a in one_day)  # +96 h never came
    three_day = of(actions, node="3d")
    assert "remind:3d" not in by_key(actions)  # its moment passed before it was active
    assert min(a.at for a in three_day) == late + 3 * H  # no backdated burst
    urges = of(three_day, Kind.URGE)
    assert [a.at for a in urges] == [late + h * H for h in STANDARD_URGE_HOURS]
    assert urges[0].penalty is Penalty.URGE_EPISODE and urges[0].deadline == T0 + 72 * H
    assert by_key(actions)[f"supervise:3d@{int(late.timestamp())}"].at == late + 48 * H


# ---------------------------------------------------------------------------------------
# R8 a pending completion application pauses the chase


def test_r8_nothing_is_chased_while_a_completion_application_is_pending():
    filed = T0 + 60 * H
    f = facts(reports=(ack(T0 + H),), pauses=((filed, None),))
    actions = run(f, T0 + 30 * D)
    assert actions and all(a.at < filed for a in actions)


def test_r8_the_chase_resumes_after_the_application_is_returned():
    filed, returned = T0 + 60 * H, T0 + 80 * H
    f = facts(reports=(ack(T0 + H),), pauses=((filed, returned),))
    actions = run(f, T0 + 30 * D)
    assert not [a for a in actions if filed <= a.at < returned]
    # The return restarts the chase of the overdue node as a fresh episode (as R16 does for
    # a returned report): every urge, the supervise and the episode's penalty follow it.
    urges = of(actions, Kind.URGE, "3d")
    assert [a.at for a in urges] == [returned + h * H for h in STANDARD_URGE_HOURS]
    assert urges[0].penalty is Penalty.URGE_EPISODE
    assert by_key(actions)[f"supervise:3d@{int(returned.timestamp())}"].at == returned + 48 * H


def test_r8_nothing_after_the_matter_is_closed():
    closed = T0 + 30 * H
    actions = run(facts(closed_at=closed), T0 + 30 * D)
    assert actions and all(a.at < closed for a in actions)


# ---------------------------------------------------------------------------------------
# R9 reminders before a deadline


def test_r9_one_reminder_5h_5h_1d_2d_before_the_1d_3d_7d_1m_deadlines():
    f = facts(klass="major", reports=AFTER_REMINDERS)
    one_month = sh(2026, 2, 5, 10)
    actions = run(f, one_month)
    reminders = of(actions, Kind.REMIND)
    assert [(a.key, a.at, a.audience, a.deadline) for a in reminders if a.node] == [
        ("remind:1d", T0 + 24 * H - 5 * H, Audience.OPERATORS, T0 + 24 * H),
        ("remind:3d", T0 + 72 * H - 5 * H, Audience.OPERATORS, T0 + 72 * H),
        ("remind:7d", T0 + 168 * H - 24 * H, Audience.OPERATORS, T0 + 168 * H),
        ("remind:1m", one_month - 2 * D, Audience.OPERATORS, one_month),
    ]


# ---------------------------------------------------------------------------------------
# R10 the daily board's weekly reminder after one month


def test_r10_daily_matter_running_over_a_month_gets_the_weekly_thursday_reminder():
    # Reports on Thursday afternoons, after each reminder (an earlier one would cancel it).
    thursdays = tuple(report(sh(2026, 2, 12, 15) + k * 7 * D) for k in range(4))
    f = facts(board="daily", reports=AFTER_REMINDERS + thursdays)
    actions = run(f, sh(2026, 3, 10))
    weekly = of(actions, Kind.REPORT_DUE)
    # One month = 5 Feb 10:00 (a Thursday): that week's report would be due 14 h later, so
    # the first weekly report is the next Thursday's.
    assert [(a.at, a.reason) for a in weekly] == [
        (sh(2026, 2, 12, 9), "weekly"), (sh(2026, 2, 19, 9), "weekly"),
        (sh(2026, 2, 26, 9), "weekly"), (sh(2026, 3, 5, 9), "weekly")]
    assert all(a.audience is Audience.OPERATORS for a in weekly)
    assert not of(actions, Kind.URGE)
    # It is the weekly report reminder, not an extra message: no other reminder kind.
    assert {a.key for a in of(actions, Kind.REMIND)} == {
        "remind:1d", "remind:3d", "remind:7d", "remind:unacknowledged"}


def test_r10_other_boards_get_no_weekly_reminder_after_one_month():
    for board in ("key_work", "reform", "tech_reform", "investment", "engineering"):
        actions = run(facts(board=board, reports=ON_TIME), sh(2026, 4, 1))
        assert not of(actions, Kind.REPORT_DUE), board


# ---------------------------------------------------------------------------------------
# R11-R14 the overdue ladder


def test_r11_urges_every_3h_on_day_one_and_every_2h_on_day_two_8_plus_11():
    deadline = T0 + D
    actions = run(facts(), T0 + 10 * D)
    urges = of(actions, Kind.URGE, "1d")
    assert [a.at for a in urges] == [deadline + h * H for h in STANDARD_URGE_HOURS]
    assert len([a for a in urges if a.at <= deadline + 24 * H]) == 8
    assert len([a for a in urges if a.at > deadline + 24 * H]) == 11
    assert [a.number for a in urges] == list(range(1, 20))
    assert {a.audience for a in urges} == {Audience.OPERATORS_DIRECTOR}
    # One overdue node is one urge episode: only the first urge carries the penalty (R32).
    assert [a.penalty for a in urges] == [Penalty.URGE_EPISODE] + [None] * 18
    assert {a.deadline for a in urges} == {deadline}


def test_r12_supervise_at_48h_enters_the_supervise_procedure_and_urges_stop():
    deadline = T0 + D
    actions = run(facts(), T0 + 10 * D)
    supervise = of(actions, Kind.SUPERVISE)
    assert len(supervise) == 1
    (action,) = supervise
    assert action.at == deadline + 48 * H
    assert action.effect is Effect.SUPERVISED and action.penalty is Penalty.SUPERVISED
    assert action.audience is Audience.SUPERVISE
    assert all(a.at < action.at for a in of(actions, Kind.URGE))


@pytest.mark.parametrize("board", ["daily", "key_work", "reform"])
def test_r13_escalate_at_72h_to_key_supervision(board):
    deadline = T0 + D
    actions = run(facts(board=board), T0 + 20 * D)
    escalations = of(actions, Kind.ESCALATE)
    assert [(a.at, a.audience, a.effect) for a in escalations] == [
        (deadline + 72 * H, Audience.INITIATOR_HEAD, Effect.KEY_SUPERVISION)]


@pytest.mark.parametrize("board", ["engineering", "tech_reform", "investment"])
def test_r13_initiator_head_at_72h_then_ducha_for_the_project_boards(board):
    deadline = T0 + D
    actions = run(facts(board=board), T0 + 20 * D)
    escalations = of(actions, Kind.ESCALATE)
    assert [(a.at, a.audience, a.effect) for a in escalations] == [
        (deadline + 72 * H, Audience.INITIATOR_HEAD, Effect.KEY_SUPERVISION),
        (deadline + 96 * H, Audience.DUCHA, None)]


def test_r14_second_supervise_on_the_matter_starts_accountability():
    late = T0 + 74 * H  # after the 1d supervise (72 h): 3d is overdue from now on
    actions = run(facts(reports=(report(late),)), T0 + 20 * D)
    supervises = of(actions, Kind.SUPERVISE)
    assert [(a.node, a.at) for a in supervises] == [("1d", T0 + 72 * H), ("3d", late + 48 * H)]
    (accountability,) = [a for a in actions if a.effect is Effect.ACCOUNTABILITY]
    assert accountability.kind is Kind.ESCALATE
    assert accountability.at == late + 48 * H
    assert accountability.audience is Audience.INITIATOR_LEADER


def test_r14_one_supervise_is_no_accountability():
    actions = run(facts(), T0 + 30 * D)
    assert len(of(actions, Kind.SUPERVISE)) == 1
    assert not [a for a in actions if a.effect is Effect.ACCOUNTABILITY]


# ---------------------------------------------------------------------------------------
# R16 a returned report reopens its node


def test_r16_returned_report_reopens_its_node_and_the_chase_starts_at_the_return():
    returned = T0 + 80 * H
    f = facts(reports=(ack(T0 + H), report(T0 + 50 * H, returned_at=returned)))
    assert satisfied_keys(f, POLICY, CAL, T0 + 20 * D) == {
        "1d": T0 + H, "3d": None, "7d": None}
    actions = run(f, T0 + 20 * D)
    three_day = of(actions, node="3d")
    assert not [a for a in three_day if a.at < returned]  # satisfied before its reminder
    urges = of(three_day, Kind.URGE)
    assert [a.at for a in urges] == [returned + h * H for h in STANDARD_URGE_HOURS]
    assert urges[0].key == f"urge:3d@{int(returned.timestamp())}:1"
    assert not of(actions, node="7d")  # the walk waits for the reopened node
    # Filing again satisfies the reopened node.
    again = T0 + 90 * H
    f = facts(reports=(*f.reports, report(again)))
    assert satisfied_keys(f, POLICY, CAL, T0 + 20 * D)["3d"] == again


def test_r16_a_node_after_a_reopened_one_is_not_chased_backdated():
    # Report 1 satisfies 1d and is returned; report 2 (already filed) keeps 3d; 1d is only
    # satisfied again at +200 h, after the 7d deadline (+168 h): 7d is chased from then on.
    again = T0 + 200 * H
    f = facts(reports=(report(T0 + H, returned_at=T0 + 3 * H), report(T0 + 2 * H),
                       report(again)))
    assert satisfied_keys(f, POLICY, CAL, T0 + 20 * D) == {
        "1d": again, "3d": T0 + 2 * H, "7d": None}
    seven_day = of(run(f, T0 + 20 * D), node="7d")
    assert seven_day and min(a.at for a in seven_day) == again + 3 * H
    assert seven_day[0].key == f"urge:7d@{int(again.timestamp())}:1"


# ---------------------------------------------------------------------------------------
# R18, R19 cadence of the continuing track


def continuing(board: str, since: datetime, until: datetime, **more: object) -> MatterFacts:
    return facts(board=board, at=since - 20 * D, continuing_since=since, continuing_until=until,
                 **more)


def test_r18_daily_continuing_reports_weekly_on_thursday():
    since = sh(2026, 3, 2, 10)  # Monday
    reports = tuple(report(sh(2026, 3, 5, 12) + k * 7 * D) for k in range(4))  # Thursdays
    actions = run(continuing("daily", since, sh(2026, 6, 30), reports=reports), sh(2026, 3, 27))
    assert [a.at for a in of(actions, Kind.REPORT_DUE)] == [
        sh(2026, 3, 5, 9), sh(2026, 3, 12, 9), sh(2026, 3, 19, 9), sh(2026, 3, 26, 9)]
    assert not of(actions, Kind.URGE)


@pytest.mark.parametrize("board", ["key_work", "reform", "tech_reform", "investment"])
def test_r18_project_boards_continuing_report_monthly(board):
    since = sh(2026, 3, 2, 10)
    reports = tuple(report(sh(2026, m, 29, 10)) for m in (3, 4, 5))  # after the reminders
    actions = run(continuing(board, since, sh(2026, 12, 31), reports=reports), sh(2026, 6, 1))
    monthly = [a for a in of(actions, Kind.REPORT_DUE) if a.reason == "monthly"]
    days = 5 if board == "investment" else 3
    assert [a.at for a in monthly] == [sh(2026, 3, 31 - days, 9), sh(2026, 4, 30 - days, 9),
                                       sh(2026, 5, 31 - days, 9)]


@pytest.mark.parametrize(("months", "expected"), [
    (2, ("weekly", 1)), (3, ("weekly", 1)), (4, ("weekly", 2)), (6, ("weekly", 2)),
    (7, ("monthly", 0)), (12, ("monthly", 0)),
])
def test_r18_engineering_cadence_by_remaining_duration(months, expected):
    since = sh(2026, 1, 1, 10)
    until = since + timedelta(days=30.4 * months)
    assert cadence_for(POLICY.board("engineering"), since, until) == expected


def test_r18_engineering_three_to_six_months_left_reports_every_two_weeks():
    since = sh(2026, 3, 2, 10)
    f = continuing("engineering", since, since + 120 * D,
                   reports=tuple(report(sh(2026, 3, 5, 12) + k * 14 * D) for k in range(3)))
    actions = run(f, sh(2026, 4, 15))
    assert [a.at for a in of(actions, Kind.REPORT_DUE)] == [
        sh(2026, 3, 5, 9), sh(2026, 3, 19, 9), sh(2026, 4, 2, 9)]


def test_r18_extension_deadline_is_chased_like_a_node():
    since, until = sh(2026, 3, 2, 10), sh(2026, 3, 20)
    f = continuing("key_work", since, until)  # too short for a monthly report
    actions = run(f, until + 10 * D)
    assert by_key(actions)["remind:ext"].at == until - 2 * D
    assert of(actions, Kind.URGE, "ext")[0].at == until + 3 * H


def test_r19_explicit_deadline_over_three_months_reports_on_day_one_then_monthly():
    deadline = sh(2026, 6, 1)
    nodes = walk(facts(explicit_deadline=deadline), POLICY.board("key_work"), CAL,
                 deadline + D)
    assert [n.key for n in nodes] == [
        "1d", "M2026-01", "M2026-02", "M2026-03", "M2026-04", "deadline", "M2026-05"]
    assert [n.due for n in nodes if n.key.startswith("M")] == [
        sh(2026, 2, 1), sh(2026, 3, 1), sh(2026, 4, 1), sh(2026, 5, 1), sh(2026, 6, 1)]
    # R19 beats the daily board's weekly reminder (R10).
    daily = walk(facts(board="daily", explicit_deadline=deadline), POLICY.board("daily"), CAL,
                 deadline + D)
    assert not [n for n in daily if n.key.startswith("W")]


def test_r19_explicit_deadline_of_three_months_or_less_has_no_monthly_reports():
    deadline = T0 + 90 * D
    nodes = walk(facts(explicit_deadline=deadline), POLICY.board("key_work"), CAL,
                 deadline + D)
    assert [n.key for n in nodes] == ["1d", "deadline"]


# ---------------------------------------------------------------------------------------
# R20-R23 periodic reports


@pytest.mark.parametrize(("board", "remind_day", "escalate_to"), [
    ("key_work", 28, Audience.INITIATOR_LEADER),
    ("reform", 28, Audience.INITIATOR_LEADER),
    ("tech_reform", 28, Audience.INITIATOR_HEAD),
    ("investment", 26, Audience.INITIATOR_HEAD),
])
def test_r20_monthly_report_ladder_exact_times(board, remind_day, escalate_to):
    f = continuing(board, T0, sh(2026, 12, 31))
    actions = run(f, sh(2026, 2, 10))
    month = of(actions, node="M2026-01")
    assert [(a.kind, a.at) for a in month] == [
        (Kind.REPORT_DUE, sh(2026, 1, remind_day, 9)),
        (Kind.URGE, sh(2026, 2, 1, 8)), (Kind.URGE, sh(2026, 2, 1, 15)),
        (Kind.URGE, sh(2026, 2, 2, 8)), (Kind.URGE, sh(2026, 2, 2, 15)),
        (Kind.ESCALATE, sh(2026, 2, 3)), (Kind.SUPERVISE, sh(2026, 2, 3)),
    ]
    keyed = {a.kind: a for a in month}
    assert keyed[Kind.SUPERVISE].audience is Audience.SUPERVISE
    assert keyed[Kind.SUPERVISE].penalty is Penalty.SUPERVISED
    assert keyed[Kind.ESCALATE].audience is escalate_to
    assert [a.penalty for a in of(month, Kind.URGE)] == [Penalty.URGE_EPISODE, None, None, None]


def test_r20_a_report_in_the_month_satisfies_it_and_the_next_month_is_reminded():
    f = continuing("key_work", T0, sh(2026, 12, 31), reports=(report(sh(2026, 1, 29, 11)),))
    actions = run(f, sh(2026, 3, 10))
    assert not of(actions, Kind.URGE, "M2026-01")
    assert by_key(actions)["report_due:M2026-02"].at == sh(2026, 2, 25, 9)
    assert of(actions, Kind.URGE, "M2026-02")[0].at == sh(2026, 3, 1, 8)


def test_r21_weekly_report_reminder_thursday_9_due_thursday_24_then_the_ladder():
    f = continuing("daily", T0, sh(2026, 6, 30))  # since Monday 5 Jan
    actions = run(f, sh(2026, 1, 20))
    week = of(actions, node="W2026-01-08")
    due = sh(2026, 1, 9)  # Thursday 8 Jan, 24:00
    assert week[0].kind is Kind.REPORT_DUE and week[0].at == sh(2026, 1, 8, 9)
    assert week[0].deadline == due
    urges = of(week, Kind.URGE)
    assert [a.at for a in urges] == [due + h * H for h in STANDARD_URGE_HOURS]
    assert [a.at for a in of(week, Kind.SUPERVISE)] == [due + 48 * H]


def test_r21_a_track_starting_on_thursday_reports_the_following_week():
    f = continuing("daily", sh(2026, 1, 8, 10), sh(2026, 6, 30))
    actions = run(f, sh(2026, 1, 16))
    assert [a.at for a in of(actions, Kind.REPORT_DUE)] == [sh(2026, 1, 15, 9)]


def test_r21_weekly_reports_planned_alike_under_two_policies_keep_each_policys_reminder():
    # Both plans share the weekly deadlines (made once for a tick's matters): the reminder
    # hour of one policy must not reach the other's plan, nor a track's start the other's.
    f = continuing("daily", T0, sh(2026, 6, 30))
    later = facts(board="daily", at=f.assigned_at, continuing_since=sh(2026, 1, 6, 10),
                  continuing_until=sh(2026, 6, 30))
    horizon = sh(2026, 1, 20)
    at_nine = run(f, horizon)
    at_eight = run(f, horizon, policy_with("daily", remind_hour=time(8, 0)))
    assert [a.at for a in of(at_nine, Kind.REPORT_DUE)] == [sh(2026, 1, 8, 9)]
    assert [a.at for a in of(at_eight, Kind.REPORT_DUE)] == [sh(2026, 1, 8, 8)]
    first = walk(later, default_policies()[Board.DAILY], CAL, horizon)[0]
    assert (first.key, first.opens) == ("W2026-01-08", sh(2026, 1, 6, 10))
    assert walk(f, default_policies()[Board.DAILY], CAL, horizon)[0].opens == T0


@pytest.mark.parametrize("board", ["key_work", "reform", "tech_reform"])
def test_r22_quarterly_summary_due_last_working_day_q4_a_week_earlier(board):
    reports = tuple(report(sh(2026, m, 20, 10)) for m in range(1, 13))
    f = continuing(board, T0, sh(2026, 12, 31), reports=reports)
    actions = run(f, sh(2026, 12, 31, 12))
    quarterly = [a for a in of(actions, Kind.REPORT_DUE) if a.reason == "quarterly"]
    assert [(a.node, a.at, a.deadline) for a in quarterly] == [
        # 31 Mar (Tue) due; 3 working days before: 30, 27, 26 Mar
        ("Q2026-1", sh(2026, 3, 26, 9), sh(2026, 4, 1)),
        ("Q2026-2", sh(2026, 6, 25, 9), sh(2026, 7, 1)),
        # 30 Sep (Wed) due; 29, 28 Sep, then 25-27 Sep are the Mid-autumn holiday
        ("Q2026-3", sh(2026, 9, 24, 9), sh(2026, 10, 1)),
        # Q4 a week earlier: 24 Dec (Thu) due; 23, 22, 21 Dec
        ("Q2026-4", sh(2026, 12, 21, 9), sh(2026, 12, 25)),
    ]
    assert workdays_before(CAL, date(2026, 6, 30), 3) == date(2026, 6, 25)


@pytest.mark.parametrize("board", ["daily", "engineering", "investment"])
def test_r22_no_quarterly_summary_on_other_boards(board):
    f = continuing(board, T0, sh(2026, 12, 31))
    assert not [a for a in run(f, sh(2026, 12, 31)) if a.reason == "quarterly"]


def test_r23_year_end_lists_weekly_from_1_december():
    now = sh(2026, 11, 23, 9)
    assert year_end_lists(now, sh(2026, 11, 30, 23, 59)) == []
    lists = year_end_lists(now, sh(2026, 12, 31, 23, 59))
    assert lists == [(f"year_end:2026-12-{d:02d}", sh(2026, 12, d, 9))
                     for d in (1, 8, 15, 22, 29)]


# ---------------------------------------------------------------------------------------
# R24, R25 board ladders


def test_r24_engineering_reminder_5h_before_every_node_and_three_warnings():
    f = facts(board="engineering", klass="major",
              reports=(ack(T0 + 20 * H), report(T0 + 70 * H), report(T0 + 165 * H)))
    one_month = sh(2026, 2, 5, 10)
    reminders = [a for a in of(run(f, one_month), Kind.REMIND) if a.node]
    assert [(a.node, a.at) for a in reminders] == [
        ("1d", T0 + 19 * H), ("3d", T0 + 67 * H), ("7d", T0 + 163 * H),
        ("1m", one_month - 5 * H)]
    deadline = T0 + D
    actions = run(facts(board="engineering"), T0 + 20 * D)
    assert [(a.kind, a.at, a.audience, a.reason, a.number) for a in of(actions, node="1d")
            if a.kind is not Kind.REMIND] == [
        (Kind.URGE, deadline, Audience.OPERATORS_DIRECTOR, "warning", 1),
        (Kind.URGE, deadline + 5 * H, Audience.OPERATORS_DIRECTOR, "warning", 2),
        (Kind.URGE, deadline + 10 * H, Audience.OPERATORS_DIRECTOR, "warning", 3),
        (Kind.ESCALATE, deadline + 72 * H, Audience.INITIATOR_HEAD, "key_supervision", 0),
        (Kind.ESCALATE, deadline + 96 * H, Audience.DUCHA, "ducha", 0),
    ]


def test_r25_investment_warnings_after_one_two_three_days_phone_call_then_up():
    deadline = T0 + D
    actions = run(facts(board="investment"), T0 + 20 * D)
    ladder = sorted(((a.at, a.kind, a.audience, a.reason, a.number)
                     for a in of(actions, node="1d") if a.kind is not Kind.REMIND),
                    key=lambda row: (row[0], row[2]))
    assert ladder == [
        (deadline + 1 * D, Kind.URGE, Audience.WARNING, "warning", 1),
        (deadline + 2 * D, Kind.URGE, Audience.INITIATOR_HANDLER, "phone_call", 0),
        (deadline + 2 * D, Kind.URGE, Audience.WARNING, "warning", 2),
        (deadline + 3 * D, Kind.ESCALATE, Audience.INITIATOR_HEAD, "key_supervision", 0),
        (deadline + 3 * D, Kind.URGE, Audience.WARNING, "warning", 3),
        (deadline + 4 * D, Kind.ESCALATE, Audience.DUCHA, "ducha", 0),
    ]
    assert of(actions, Kind.URGE)[0].penalty is Penalty.URGE_EPISODE


# ---------------------------------------------------------------------------------------
# R35 quiet hours


def test_r35_quiet_hours_are_off_by_default():
    assert POLICY.quiet_hours is None
    at = sh(2026, 1, 5, 20)
    actions = run(facts(at=at), at + 3 * D)
    assert of(actions, Kind.URGE)[0].at == sh(2026, 1, 6, 23)


def test_r35_a_reminder_in_quiet_hours_goes_at_the_last_minute_before_them():
    at = sh(2026, 1, 5, 4)  # 1d due 6 Jan 04:00, reminder would be 5 Jan 23:00
    actions = run(facts(at=at), at + 3 * D, QUIET)
    assert by_key(actions)["remind:1d"].at == sh(2026, 1, 5, 21, 59)
    # ...and it is in the timeline by then, so the clock sends it then (not at 23:00).
    before = run(facts(at=at), sh(2026, 1, 5, 21, 59), QUIET)
    assert by_key(before)["remind:1d"].at == sh(2026, 1, 5, 21, 59)


def test_r35_urges_in_quiet_hours_merge_into_one_at_the_end_with_the_episode_penalty():
    at = sh(2026, 1, 5, 20)  # 1d due 6 Jan 20:00
    actions = run(facts(at=at), at + 5 * D, QUIET)
    urges = of(actions, Kind.URGE)
    assert not [a for a in urges if QUIET.quiet_hours.contains(a.at.astimezone(SHANGHAI).time())]
    first_night = [a for a in urges if a.at == sh(2026, 1, 7, 7)]
    assert len(first_night) == 1
    merged = first_night[0]
    assert merged.penalty is Penalty.URGE_EPISODE  # it holds urge 1 (23:00)
    assert merged.key.endswith(":1+3") and merged.number == 3  # 23:00, 02:00, 05:00
    second_night = [a for a in urges if a.at == sh(2026, 1, 8, 7)]
    assert len(second_night) == 1 and second_night[0].penalty is None
    assert second_night[0].key.endswith(":9+5")  # 22:00, 00:00, 02:00, 04:00, 06:00
    assert [a.at for a in urges] == [
        sh(2026, 1, 7, 7), sh(2026, 1, 7, 8), sh(2026, 1, 7, 11), sh(2026, 1, 7, 14),
        sh(2026, 1, 7, 17), sh(2026, 1, 7, 20), sh(2026, 1, 8, 7), sh(2026, 1, 8, 8),
        sh(2026, 1, 8, 10), sh(2026, 1, 8, 12), sh(2026, 1, 8, 14), sh(2026, 1, 8, 16),
        sh(2026, 1, 8, 18)]
    assert sum(1 for a in urges if a.penalty) == 1


def test_r35_a_merged_urge_only_enters_the_timeline_when_quiet_hours_end():
    at = sh(2026, 1, 5, 20)
    at_night = run(facts(at=at), sh(2026, 1, 7, 2, 30), QUIET)
    assert all(a.at <= sh(2026, 1, 7, 2, 30) for a in at_night)
    assert not of(at_night, Kind.URGE)
    morning = run(facts(at=at), sh(2026, 1, 7, 7), QUIET)
    assert [a.key for a in of(morning, Kind.URGE)] == [
        f"urge:1d@{int(sh(2026, 1, 6, 20).timestamp())}:1+3"]


def test_r35_assigned_supervise_and_escalate_are_never_held():
    at = sh(2026, 1, 5, 1)  # inside quiet hours
    actions = run(facts(at=at), at + 10 * D, QUIET)
    keys = by_key(actions)
    assert keys["assigned"].at == at
    deadline = at + D
    episode = int(deadline.timestamp())
    assert keys[f"supervise:1d@{episode}"].at == deadline + 48 * H  # 8 Jan 01:00
    assert keys[f"escalate:1d@{episode}"].at == deadline + 72 * H  # 9 Jan 01:00


def test_r35_a_merged_urge_is_dropped_when_the_node_is_satisfied_before_quiet_hours_end():
    at = sh(2026, 1, 5, 20)
    late = sh(2026, 1, 7, 3)  # after the 23:00 and 02:00 urges would have gone
    actions = run(facts(at=at, reports=(report(late),)), at + 3 * D, QUIET)
    assert not of(actions, Kind.URGE, "1d")
    # Filed after 07:00 instead: the merged urge went out and stays.
    later = sh(2026, 1, 7, 7, 30)
    actions = run(facts(at=at, reports=(report(later),)), at + 3 * D, QUIET)
    assert [a.at for a in of(actions, Kind.URGE, "1d")] == [sh(2026, 1, 7, 7)]


def test_r35_unacknowledged_notice_is_not_sent_before_the_four_hours_have_passed():
    at = sh(2026, 1, 5, 20)  # the R37 moment is 00:00, inside quiet hours
    actions = run(facts(at=at), at + D, QUIET)
    keys = by_key(actions)
    assert keys["assigned:resend"].at == sh(2026, 1, 6, 0)  # an assignment: never held
    assert keys["remind:unacknowledged"].at >= at + 4 * H
    assert not QUIET.quiet_hours.contains(
        keys["remind:unacknowledged"].at.astimezone(SHANGHAI).time())


# ---------------------------------------------------------------------------------------
# R37 unacknowledged assignment


def test_r37_resend_to_operator_b_and_tell_the_director_after_4h_without_receipt():
    keys = by_key(run(facts(), T0 + 2 * D))
    resend, director = keys["assigned:resend"], keys["remind:unacknowledged"]
    assert (resend.kind, resend.at, resend.audience, resend.reason) == (
        Kind.ASSIGNED, T0 + 4 * H, Audience.OPERATOR_B, "ack_resend")
    assert (director.kind, director.at, director.audience) == (
        Kind.REMIND, T0 + 4 * H, Audience.DIRECTOR)


@pytest.mark.parametrize("reply_after", [timedelta(minutes=5), 3 * H, 4 * H])
def test_r37_no_resend_when_acknowledged_within_4h(reply_after):
    keys = by_key(run(facts(reports=(ack(T0 + reply_after),)), T0 + 2 * D))
    assert "assigned:resend" not in keys and "remind:unacknowledged" not in keys


def test_r37_resend_when_the_receipt_came_after_4h_and_can_be_switched_off():
    keys = by_key(run(facts(reports=(ack(T0 + 5 * H),)), T0 + 2 * D))
    assert "assigned:resend" in keys
    off = policy_with("key_work", ack_resend_after=None)
    keys = by_key(run(facts(), T0 + 2 * D, off))
    assert "assigned:resend" not in keys and "remind:unacknowledged" not in keys


# ---------------------------------------------------------------------------------------
# Keys: unique within a plan, stable as facts accumulate


SCENARIOS = {
    "silent": {},
    "on_time": {"reports": ON_TIME},
    "late": {"reports": (report(T0 + 80 * H),)},
    "returned": {"reports": (ack(T0 + H), report(T0 + 50 * H, returned_at=T0 + 80 * H))},
    "paused": {"reports": (ack(T0 + H),), "pauses": ((T0 + 60 * H, T0 + 80 * H),)},
    "continuing": {"continuing_since": T0 + 3 * D, "continuing_until": T0 + 200 * D},
    "explicit": {"explicit_deadline": T0 + 120 * D},
}


@pytest.mark.parametrize("board", ALL_BOARDS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("quiet", [False, True])
def test_every_action_key_is_unique_within_a_plan(board, scenario, quiet):
    f = facts(board=board, klass="major", **SCENARIOS[scenario])
    actions = run(f, T0 + 240 * D, QUIET if quiet else POLICY)
    keys = [a.key for a in actions]
    assert len(keys) == len(set(keys))
    assert actions == sorted(actions, key=lambda a: (a.at, a.key))


def known_at(f: MatterFacts, moment: datetime) -> MatterFacts:
    """The facts as they stood at `moment`: later filings, returns and decisions unknown."""
    reports = tuple(
        Report(r.at, r.ack_only, r.returned_at if r.returned_at and r.returned_at <= moment
               else None)
        for r in f.reports if r.at <= moment)
    pauses = tuple((start, end if end and end <= moment else None)
                   for start, end in f.pauses if start <= moment)
    return MatterFacts(code=f.code, board=f.board, klass=f.klass, assigned_at=f.assigned_at,
                       explicit_deadline=f.explicit_deadline, reports=reports, pauses=pauses)


report_events = st.lists(
    st.tuples(st.integers(min_value=1, max_value=24 * 40), st.booleans(),
              st.one_of(st.none(), st.integers(min_value=1, max_value=24 * 5))),
    max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(board=st.sampled_from(ALL_BOARDS), klass=st.sampled_from(["general", "major"]),
       events=report_events,
       pause=st.one_of(st.none(), st.tuples(st.integers(1, 24 * 30), st.integers(1, 24 * 5))),
       first=st.integers(min_value=0, max_value=24 * 45), later=st.integers(1, 24 * 20),
       quiet=st.booleans())
def test_keys_of_actions_already_due_never_change_as_facts_accumulate(
        board, klass, events, pause, first, later, quiet):
    reports = tuple(
        Report(T0 + hours * H, ack_only=acked,
               returned_at=None if acked or back is None else T0 + (hours + back) * H)
        for hours, acked, back in sorted(events, key=lambda e: e[0]))
    pauses = () if pause is None else ((T0 + pause[0] * H, T0 + (pause[0] + pause[1]) * H),)
    whole = facts(board=board, klass=klass, reports=reports, pauses=pauses)
    policy = QUIET if quiet else POLICY
    then, now = T0 + first * H, T0 + (first + later) * H
    before = {a.key: a for a in run(known_at(whole, then), then, policy)}
    after = run(known_at(whole, now), now, policy)
    assert all(a.at <= then for a in before.values())
    for action in after:
        if action.at <= then:
            # Anything the later plan says was due by `then` was already in the earlier plan,
            # under the same key and at the same moment: nothing is redone or backdated.
            assert action.key in before, action
            assert before[action.key].at == action.at


def test_keys_of_the_plan_do_not_depend_on_the_horizon():
    f = facts(board="daily", klass="major", reports=(report(T0 + 80 * H),))
    short = run(f, T0 + 12 * D)
    long = by_key(run(f, T0 + 90 * D))
    assert short and all(long[a.key] == a for a in short)


def test_r22_quarters_past_the_calendar_data_are_reminded_on_weekdays():
    """In 2027 (no statutory data yet) the quarterly reminder still comes, counted Monday
    to Friday, instead of the matter's whole clock failing."""
    from scheduler.calendar import ChineseWorkCalendar
    from scheduler.rules import quarter_days

    due, remind = quarter_days(ChineseWorkCalendar(), 2027, 1)
    assert (due, remind) == (date(2027, 3, 31), date(2027, 3, 26))  # Wed; Fri before


def test_r35_a_reminder_is_never_moved_before_its_node_opened():
    """The 1d report comes late at 23:00 and opens the 3d node; 3d's reminder (05:00 next
    morning, in quiet hours) cannot go back to 21:59 before the node existed: it waits
    for 07:00, still before the 10:00 deadline."""
    late = T0 + 61 * H  # 2026-01-07 23:00
    f = facts(reports=(report(late),))
    [remind] = [a for a in run(f, T0 + 4 * D, QUIET) if a.key == "remind:3d"]
    assert remind.at == sh(2026, 1, 8, 7)


def satisfy_by_definition(nodes: list[Node], reports: list[Report]) -> list[NodeState]:
    """R7/R16 as the digest states them, with no shortcut: in time order, each report goes
    to the earliest open node it may satisfy; a returned report reopens its node."""
    states = [NodeState(n) for n in nodes]
    events = sorted([(r.at, 1, i) for i, r in enumerate(reports)]
                    + [(r.returned_at, 0, i) for i, r in enumerate(reports) if r.returned_at],
                    key=lambda e: (e[0], e[1]))
    holder: dict[int, int] = {}
    for at, filing, i in events:
        if not filing:
            if i in holder:
                index = holder.pop(i)
                states[index] = NodeState(states[index].node, None, reopened_at=at)
            continue
        for index, state in enumerate(states):
            if state.satisfied_at is not None or reports[i].at < state.node.opens:
                continue
            if not reports[i].ack_only or state.node.ack_satisfies:
                states[index] = NodeState(state.node, at, state.reopened_at)
                holder[i] = index
            break
    return states


HOURS = st.integers(min_value=0, max_value=400)


@settings(max_examples=300, deadline=None)
@given(nodes=st.lists(st.tuples(HOURS, HOURS, st.booleans()), min_size=1, max_size=8),
       reports=st.lists(st.tuples(HOURS, st.booleans(), st.none() | HOURS), max_size=30))
def test_r7_r16_satisfy_gives_each_report_to_the_earliest_open_node(nodes, reports):
    """The shortcut past satisfied nodes (a matter's hundredth report) changes nothing:
    `satisfy` agrees with the rule applied by definition, returned reports included."""
    base = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
    made = sorted((Node(f"n{i}", base + timedelta(hours=due), base + timedelta(hours=opens),
                        "standard", ack_satisfies=ack)
                   for i, (due, opens, ack) in enumerate(nodes)), key=lambda n: n.due)
    filed = [Report(base + timedelta(hours=at), ack,
                    None if back is None else base + timedelta(hours=at + back))
             for at, ack, back in reports]
    assert satisfy(made, filed) == satisfy_by_definition(made, filed)


@settings(max_examples=200, deadline=None)
@given(ladder=st.sampled_from(sorted(LADDERS)), board=st.sampled_from(list(Board)),
       hours=st.integers(min_value=0, max_value=24 * 400), minute=st.sampled_from([0, 1, 30]))
def test_r11_r25_every_rung_of_a_ladder_is_at_its_start_or_later(ladder, board, hours, minute):
    """`chase` leaves out the ladder of a node satisfied by its start, which is right only
    if no rung of any ladder comes before the start."""
    start = datetime(2026, 1, 1, tzinfo=SHANGHAI) + timedelta(hours=hours, minutes=minute)
    node = Node("1d", start, start - timedelta(days=1), ladder)
    bp = default_policies()[board]
    assert all(a.at >= start for a in LADDERS[ladder](node, start, "e", bp))
