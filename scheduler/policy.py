"""Board policies: the settings of the 13710 discipline that differ by board (版块).

Everything a deployment may change (R6 working days, R18 cadence, R35 quiet hours, R37)
lives here as plain data; the clock in `scheduler.rules` reads nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import time, timedelta
from enum import Enum, StrEnum
from functools import cache, lru_cache
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints


class Board(StrEnum):
    """The "1+5" boards (版块)."""

    DAILY = "daily"  # 日常管理
    KEY_WORK = "key_work"  # 重点工作任务
    REFORM = "reform"  # 重大改革事项
    ENGINEERING = "engineering"  # 重点工程项目
    TECH_REFORM = "tech_reform"  # 重点技改项目
    INVESTMENT = "investment"  # 重点招商项目


BOARD_NAMES = {
    Board.DAILY: "日常管理",
    Board.KEY_WORK: "重点工作任务",
    Board.REFORM: "重大改革事项",
    Board.ENGINEERING: "重点工程项目",
    Board.TECH_REFORM: "重点技改项目",
    Board.INVESTMENT: "重点招商项目",
}

# Code prefix of matters registered on each board (D17, K3, ...).
BOARD_PREFIX = {
    Board.DAILY: "D",
    Board.KEY_WORK: "K",
    Board.REFORM: "R",
    Board.ENGINEERING: "E",
    Board.TECH_REFORM: "T",
    Board.INVESTMENT: "I",
}


class OverdueLadder(StrEnum):
    """Which overdue sequence a board follows."""

    STANDARD = "standard"  # R11-R13: urge every 3 h, then every 2 h, supervise at +48 h
    ENGINEERING = "engineering"  # R24: warnings at +0, +5 h, +10 h
    INVESTMENT = "investment"  # R25: warnings at +1, +2, +3 days


class Cadence(StrEnum):
    """How often a matter on the continuing track (持续跟进) reports (R18)."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    BY_DURATION = "by_duration"  # engineering: <=3 months weekly, 3-6 biweekly, >6 monthly


class Approval(StrEnum):
    """Who decides a completion (R30, measures art. 16-17)."""

    TWO_STEP = "two_step"  # the supervising office reviews, then the leader approves
    ONE_STEP = "one_step"  # the initiator's head approves


@dataclass(frozen=True)
class QuietHours:
    """Hours in which reminders and urges are held (R35). `start` > `end` spans midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, spec: str) -> QuietHours:
        """Parse "22:00-07:00"."""
        try:
            first, second = spec.split("-")
            return cls(time.fromisoformat(first.strip()), time.fromisoformat(second.strip()))
        except ValueError as exc:
            raise ValueError(f"quiet hours must look like 22:00-07:00, not {spec!r}") from exc

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


# Lead time of the one reminder before each class node (R9).
STANDARD_REMIND_BEFORE = {
    "1d": timedelta(hours=5),
    "3d": timedelta(hours=5),
    "7d": timedelta(days=1),
    "1m": timedelta(days=2),
    "deadline": timedelta(days=1),
}


@dataclass(frozen=True)
class BoardPolicy:
    """The discipline of one board. Defaults are the digest's (rules-13710.md)."""

    board: Board
    working_days: bool = False  # R6: count nodes in working days
    remind_before: dict[str, timedelta] = field(default_factory=lambda: dict(STANDARD_REMIND_BEFORE))
    overdue: OverdueLadder = OverdueLadder.STANDARD
    cadence: Cadence = Cadence.MONTHLY  # R18
    month_end_remind_days: int = 3  # R20 (investment: 5)
    weekly_after_one_month: bool = False  # R10 (daily board)
    quarterly_summary: bool = False  # R22
    # R13 for engineering/tech_reform/investment: the initiator's head first, then 督查室
    # this much later if the matter is still silent.
    second_escalation_after: timedelta | None = None
    ack_resend_after: timedelta | None = timedelta(hours=4)  # R37; None switches it off
    remind_hour: time = time(9, 0)  # when report_due reminders go out (R20-R22)
    approval: Approval = Approval.TWO_STEP  # R30

    def with_overrides(self, overrides: dict[str, Any]) -> BoardPolicy:
        return replace(self, **overrides)


def default_policies() -> dict[Board, BoardPolicy]:
    daily = BoardPolicy(Board.DAILY, cadence=Cadence.WEEKLY, weekly_after_one_month=True)
    return {
        Board.DAILY: daily,
        Board.KEY_WORK: BoardPolicy(Board.KEY_WORK, quarterly_summary=True),
        Board.REFORM: BoardPolicy(Board.REFORM, quarterly_summary=True),
        Board.ENGINEERING: BoardPolicy(
            Board.ENGINEERING,
            remind_before={key: timedelta(hours=5) for key in STANDARD_REMIND_BEFORE},
            overdue=OverdueLadder.ENGINEERING,
            cadence=Cadence.BY_DURATION,
            second_escalation_after=timedelta(days=1),
            approval=Approval.ONE_STEP,
        ),
        Board.TECH_REFORM: BoardPolicy(
            Board.TECH_REFORM, quarterly_summary=True, second_escalation_after=timedelta(days=1),
            approval=Approval.ONE_STEP,
        ),
        Board.INVESTMENT: BoardPolicy(
            Board.INVESTMENT,
            overdue=OverdueLadder.INVESTMENT,
            month_end_remind_days=5,
            second_escalation_after=timedelta(days=1),
            approval=Approval.ONE_STEP,
        ),
    }


@dataclass(frozen=True)
class Policy:
    """Everything the clock needs to know about a deployment's settings."""

    boards: dict[Board, BoardPolicy] = field(default_factory=default_policies)
    quiet_hours: QuietHours | None = None  # R35: off by default

    def board(self, board: str) -> BoardPolicy:
        return self.boards[Board(board)]


# ---------------------------------------------------------------------------------------
# A board policy as JSON: each matter keeps the policy it was registered under.


def policy_to_json(bp: BoardPolicy) -> dict[str, Any]:
    """Every field of the policy, whatever fields it has, as plain JSON."""
    return {f.name: to_json(getattr(bp, f.name)) for f in fields(bp)}


def policy_from_json(data: dict[str, Any]) -> BoardPolicy:
    """The policy back; a field the snapshot lacks (added since) takes its default, a field
    the class no longer has is ignored. Matters share a few snapshots, and a clock tick reads
    thousands: each distinct one is converted once (the policy is frozen, so it is shared)."""
    return _policy_from_text(json.dumps(data, sort_keys=True))


@lru_cache(maxsize=256)
def _policy_from_text(text: str) -> BoardPolicy:
    hints = type_hints(BoardPolicy)
    known = {f.name for f in fields(BoardPolicy)}
    return BoardPolicy(**{name: from_json(hints[name], value)
                          for name, value in json.loads(text).items() if name in known})


@cache
def type_hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def to_json(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(hint: Any, value: Any) -> Any:
    """`value` read back as the type `hint` (a field annotation of BoardPolicy)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        if value is None:
            return None
        return from_json(next(a for a in args if a is not type(None)), value)
    if origin is dict:
        return {k: from_json(args[1], v) for k, v in value.items()}
    if origin in (tuple, list):
        items = [from_json(args[0], v) for v in value]
        return tuple(items) if origin is tuple else items
    if is_dataclass(hint):
        hints = type_hints(hint)
        return hint(**{k: from_json(hints[k], v) for k, v in value.items() if k in hints})
    if hint is timedelta:
        return timedelta(seconds=value["seconds"])
    if hint is time:
        return time.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    return value


def policy_summary(bp: BoardPolicy) -> str:
    """One line for `duban plan` and the console: the fields that differ by board."""
    ack = f"{bp.ack_resend_after.total_seconds() / 3600:g}h" if bp.ack_resend_after else "off"
    return (f"working_days={'yes' if bp.working_days else 'no'}, overdue={bp.overdue}, "
            f"cadence={bp.cadence}, month_end_remind_days={bp.month_end_remind_days}, "
            f"ack_resend={ack}")
