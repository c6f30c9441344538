"""Read a matter's facts from the database as the plain data the clock takes."""

from __future__ import annotations

from models import Application, ApplicationKind, ApplicationStatus, Feedback, Matter
from scheduler.rules import MatterFacts, Report


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
    )
