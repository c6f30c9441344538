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

# (event, from-state) -> to-state; `None` as to-state keeps the state.
TRANSITIONS: dict[Event, dict[S, S | None]] = {
    Event.ACKNOWLEDGE: {S.ASSIGNED: S.ACKNOWLEDGED} | {s: None for s in OPEN - {S.ASSIGNED}},
    Event.REPORT: {s: S.IN_PROGRESS for s in (S.ASSIGNED, S.ACKNOWLEDGED, S.IN_PROGRESS,
                                               S.SUPERVISED, S.KEY_SUPERVISION, S.RETURNED)}
    | {S.CONTINUING: None, S.EXTENSION_REQUESTED: None, S.COMPLETION_REQUESTED: None},
    Event.SUPERVISE: {s: S.SUPERVISED for s in CHASED - {S.KEY_SUPERVISION}}
    | {S.KEY_SUPERVISION: None},
    Event.KEY_SUPERVISION: {s: S.KEY_SUPERVISION for s in CHASED},
    Event.REQUEST_EXTENSION: {s: S.EXTENSION_REQUESTED for s in CHASED - {
        S.CONTINUING, S.EXTENSION_REQUESTED}},
    Event.APPROVE_EXTENSION: {S.EXTENSION_REQUESTED: S.CONTINUING},
    Event.REQUEST_COMPLETION: {s: S.COMPLETION_REQUESTED for s in CHASED},
    Event.RETURN: {S.COMPLETION_REQUESTED: S.RETURNED, S.EXTENSION_REQUESTED: S.RETURNED,
                   S.IN_PROGRESS: S.RETURNED, S.ACKNOWLEDGED: S.RETURNED,
                   S.CONTINUING: None, S.SUPERVISED: S.RETURNED,
                   S.KEY_SUPERVISION: S.RETURNED, S.RETURNED: None},
    Event.APPROVE_COMPLETION: {S.COMPLETION_REQUESTED: S.CLOSED},
    Event.ARCHIVE: {S.CLOSED: S.ARCHIVED},
}


def next_state(state: S, event: Event) -> S:
    """The state after `event`, or `Refused("illegal_transition")` naming both."""
    moves = TRANSITIONS[event]
    if state not in moves:
        raise Refused("illegal_transition", state=state.value, event=event.value)
    target = moves[state]
    return state if target is None else target
