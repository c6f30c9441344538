"""What every domain operation needs: the clock, the policy and the calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from scheduler.calendar import ChineseWorkCalendar, WorkCalendar
from scheduler.clock import SHANGHAI, Clock
from scheduler.policy import Policy


@dataclass
class Context:
    clock: Clock
    policy: Policy = field(default_factory=Policy)
    calendar: WorkCalendar = field(default_factory=ChineseWorkCalendar)
    tz: ZoneInfo = SHANGHAI
    sms_signature: str = "【督办】"
    sms_fallback_after: timedelta = timedelta(hours=4)  # messenger_first: SMS if unread
    calendar_stamp: tuple[int, int | None] | None = None  # the imported days it holds
