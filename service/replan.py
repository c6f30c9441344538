"""`duban replan [--board B] [--matter CODE]`: open matters onto the current board policy,
audited, without repeating any clock action (workflow/replan.py)."""

from __future__ import annotations

from models import Matter
from scheduler.clock import Clock
from scheduler.policy import Board, policy_from_json, policy_summary
from service.config import Settings
from workflow.records import Actor
from workflow.replan import replan_matters


async def replan_command(settings: Settings, board: str | None, code: str | None,
                         clock: Clock | None = None) -> tuple[int, str]:
    """(exit status, text)."""
    if board and board not in {b.value for b in Board}:
        return 2, f"duban replan: unknown board {board!r} ({', '.join(b.value for b in Board)})"
    if code and not await Matter.exists(code=code):
        return 1, f"duban replan: no matter with code {code!r}"
    ctx = await settings.loaded_context(clock)
    changed = await replan_matters(ctx, Actor(None, "cli"), board, code)
    lines = [f"{m.code}: {policy_summary(policy_from_json(old))} -> "
             f"{policy_summary(policy_from_json(new))}" for m, old, new in changed]
    return 0, "\n".join(lines + [f"replanned {len(changed)} open matter(s)"])
