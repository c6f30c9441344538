"""Injected time. Domain code asks a clock for "now"; it never reads the wall clock itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock of a running service."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to: `duban simulate` and the tests."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        instant = as_utc(instant)
        if instant < self._now:
            raise ValueError(f"a virtual clock never runs backwards ({instant} < {self._now})")
        self._now = instant


def as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: every instant carries its offset")
    return instant.astimezone(UTC)
