"""The matter workflow as one explicit state machine.

Every change of a matter's state goes through `next_state`; a move the table does not
hold is refused with the reason.
"""

from __future__ import annotations

from enum import StrEnum

from models.matter import MatterState as S
from workflow.errors import Refused


class Event(StrEnum):
    ACKNOWLEDGE = "acknowledge"  # 收到 (1d node)
    REPORT = "report"  # 进展 (R7)
    SUPERVISE = "supervise"  # clock, R12
    KEY_SUPERVISION = "key_supervision"  # clock, R13
    REQUEST_EXTENSION = "request_extension"  # R17
    APPROVE_EXTENSION = "approve_extension"  # R18
    REQUEST_COMPLETION = "request_completion"  # R27
    RETURN = "return"  # R16, R29 不合格
    APPROVE_COMPLETION = "approve_completion"  # R30
    ARCHIVE = "archive"  # R31


CHASED = {S.ASSIGNED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.SUPERVISED, S.KEY_SUPERVISION,
          S.RETURNED, S.CONTINUING, S.EXTENSION_REQUESTED}
OPEN = CHASED | {S.COMPLETION_REQUESTED}
FINISHED = {S.CLOSED, S.ARCHIVED}

RESUME = "resume"  # back to continuing if the matter is on that track, else in_progress

# (event, from-state) -> to-state; `None` keeps the state.
TRANSITIONS: dict[Event, dict[S, S | str | None]] = {
    Event.ACKNOWLEDGE: {S.ASSIGNED: S.ACKNOWLEDGED} | {s: None for s in OPEN - {S.ASSIGNED}},
    Event.REPORT: {s: RESUME for s in (S.ASSIGNED, S.ACKNOWLEDGED, S.IN_PROGRESS,
                                        S.SUPERVISED, S.KEY_SUPERVISION, S.RETURNED)}
    | {S.CONTINUING: None, S.EXTENSION_REQUESTED: None, S.COMPLETION_REQUESTED: None},
    # A pending extension keeps its state so that it can still be decided.
    Event.SUPERVISE: {s: S.SUPERVISED for s in CHASED - {S.KEY_SUPERVISION,
                                                         S.EXTENSION_REQUESTED}}
    | {S.KEY_SUPERVISION: None, S.EXTENSION_REQUESTED: None},
    Event.KEY_SUPERVISION: {s: S.KEY_SUPERVISION for s in CHASED - {S.EXTENSION_REQUESTED}}
    | {S.EXTENSION_REQUESTED: None},
    Event.REQUEST_EXTENSION: {s: S.EXTENSION_REQUESTED for s in CHASED - {
        S.EXTENSION_REQUESTED}},
    Event.APPROVE_EXTENSION: {S.EXTENSION_REQUESTED: S.CONTINUING},
    Event.REQUEST_COMPLETION: {s: S.COMPLETION_REQUESTED for s in CHASED},
    Event.RETURN: {s: S.RETURNED for s in OPEN},
    Event.APPROVE_COMPLETION: {S.COMPLETION_REQUESTED: S.CLOSED},
    Event.ARCHIVE: {S.CLOSED: S.ARCHIVED},
}


def next_state(state: S, event: Event, *, continuing: bool = False) -> S:
    """The state after `event`, or `Refused("illegal_transition")` naming both."""
    moves = TRANSITIONS[event]
    if state not in moves:
        raise Refused("illegal_transition", state=state.value, event=event.value)
    target = moves[state]
    if target == RESUME:
        return S.CONTINUING if continuing else S.IN_PROGRESS
    return state if target is None else S(target)
