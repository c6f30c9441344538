"""Board policies: the settings of the 13710 discipline that differ by board (版块).

Everything a deployment may change (R6 working days, R18 cadence, R35 quiet hours, R37)
lives here as plain data; the clock in `scheduler.rules` reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from enum import StrEnum
from typing import Any


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
