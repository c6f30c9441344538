"""Read a matter's facts from the database as the plain data the clock takes."""

from __future__ import annotations

from models import Application, ApplicationKind, ApplicationStatus, Feedback, Matter
from scheduler.policy import BoardPolicy, Policy, policy_from_json, policy_to_json
from scheduler.rules import MatterFacts, Report


def matter_policy(policy: Policy, matter: Matter) -> BoardPolicy:
    """The board policy the matter was registered (or replanned) under; a matter from
    before snapshots existed follows the deployment's current one."""
    return policy_from_json(matter.policy) if matter.policy else policy.board(matter.board)


async def matter_facts(matter: Matter) -> MatterFacts:
    feedback = await Feedback.filter(matter=matter).order_by("at", "id")
    completions = await Application.filter(matter=matter, kind=ApplicationKind.COMPLETION
                                           ).order_by("filed_at")
    return MatterFacts(
        code=matter.code,
        board=matter.board,
        klass=matter.klass,
        assigned_at=matter.assigned_at,
        explicit_deadline=matter.deadline,
        reports=tuple(Report(f.at, f.ack_only, f.returned_at) for f in feedback),
        pauses=tuple((a.filed_at, a.decided_at if a.status is ApplicationStatus.RETURNED
                      else None) for a in completions),
        closed_at=matter.closed_at,
        continuing_since=matter.continuing_since,
        continuing_until=matter.continuing_until,
        policy=policy_from_json(matter.policy) if matter.policy else None,
    )


async def snapshot_missing(policy: Policy) -> int:
    """Matters from before snapshots existed get the policy they have been following."""
    count = 0
    for board in set(await Matter.filter(policy__isnull=True).values_list("board", flat=True)):
        snapshot = policy_to_json(policy.board(board))
        count += await Matter.filter(policy__isnull=True, board=board).update(policy=snapshot)
    return count
