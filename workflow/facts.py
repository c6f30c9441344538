"""Read a matter's facts from the database as the plain data the clock takes."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from models import Application, ApplicationKind, ApplicationStatus, Feedback, Matter
from scheduler.policy import BoardPolicy, Policy, policy_from_json, policy_to_json
from scheduler.rules import MatterFacts, Report
from workflow.bulk import plain_values


def matter_policy(policy: Policy, matter: Matter) -> BoardPolicy:
    """The board policy the matter was registered (or replanned) under; a matter from
    before snapshots existed follows the deployment's current one."""
    return policy_from_json(matter.policy) if matter.policy else policy.board(matter.board)


async def matter_facts(matter: Matter) -> MatterFacts:
    return (await many_facts([matter]))[matter.id]


async def many_facts(matters: list[Matter]) -> dict[int, MatterFacts]:
    """The facts of every matter, read in two queries whatever their number."""
    ids = [m.id for m in matters]
    reports: dict[int, list[Report]] = defaultdict(list)
    # Plain values: a matter's reports (hundreds, for a long-running one) are all read again
    # at each of its feedbacks.
    for matter_id, at, ack_only, returned_at in await plain_values(Feedback.filter(
            matter_id__in=ids).order_by("at", "id").values_list(
            "matter_id", "at", "ack_only", "returned_at")):
        reports[matter_id].append(Report(at, ack_only, returned_at))
    pauses: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for matter_id, filed_at, decided_at, status in await plain_values(Application.filter(
            matter_id__in=ids, kind=ApplicationKind.COMPLETION).order_by(
            "filed_at", "id").values_list("matter_id", "filed_at", "decided_at", "status")):
        pauses[matter_id].append(
            (filed_at, decided_at if status == ApplicationStatus.RETURNED else None))
    return {m.id: MatterFacts(
        code=m.code,
        board=m.board,
        klass=m.klass,
        assigned_at=m.assigned_at,
        explicit_deadline=m.deadline,
        reports=tuple(reports[m.id]),
        pauses=tuple(pauses[m.id]),
        closed_at=m.closed_at,
        continuing_since=m.continuing_since,
        continuing_until=m.continuing_until,
        policy=policy_from_json(m.policy) if m.policy else None,
    ) for m in matters}


async def snapshot_missing(policy: Policy) -> int:
    """Matters from before snapshots existed get the policy they have been following."""
    count = 0
    for board in set(await Matter.filter(policy__isnull=True).values_list("board", flat=True)):
        snapshot = policy_to_json(policy.board(board))
        count += await Matter.filter(policy__isnull=True, board=board).update(policy=snapshot)
    return count
