"""Unit points: totalled each quarter, ranked at year end (R32, R33).

`rank` is pure: score events in, one row per unit out. Units share a rank when their year
totals are equal (competition ranking: 1, 2, 2, 4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from models import ScoreEvent, Unit
from scheduler.clock import SHANGHAI


@dataclass
class UnitYear:
    """A unit's points in one year: per quarter, in all, and its place."""

    unit: str
    quarters: list[Decimal] = field(default_factory=lambda: [Decimal(0)] * 4)
    rank: int = 0

    @property
    def total(self) -> Decimal:
        return sum(self.quarters, Decimal(0))


def rank(events: Iterable[tuple[str, datetime, Decimal]], units: Iterable[str],
         tz: ZoneInfo = SHANGHAI) -> list[UnitYear]:
    """(unit, when, delta) events of one year -> rows by place. Every unit gets a row:
    a unit without events has 0 points (it is ranked, not forgotten)."""
    rows = {name: UnitYear(name) for name in units}
    for unit, at, delta in events:
        row = rows.setdefault(unit, UnitYear(unit))
        row.quarters[(at.astimezone(tz).month - 1) // 3] += delta
    ordered = sorted(rows.values(), key=lambda r: (-r.total, r.unit))
    for index, row in enumerate(ordered):
        same = index and ordered[index - 1].total == row.total
        row.rank = ordered[index - 1].rank if same else index + 1
    return ordered


async def year_ranking(year: int, tz: ZoneInfo = SHANGHAI) -> list[UnitYear]:
    """The year's ranking of every responsible unit (the annual assessment's input)."""
    start = datetime.combine(date(year, 1, 1), time(0), tz).astimezone(UTC)
    end = datetime.combine(date(year + 1, 1, 1), time(0), tz).astimezone(UTC)
    events = await ScoreEvent.filter(at__gte=start, at__lt=end).prefetch_related("unit")
    responsible = await Unit.filter(led__id__isnull=False).distinct().values_list("name",
                                                                                   flat=True)
    return rank(((e.unit.name, e.at, e.delta) for e in events), responsible, tz)


def ranking_table(year: int, rows: list[UnitYear]) -> str:
    lines = [f"{year}年度单位积分（R33：按季度汇总，年末排名）",
             "名次  单位                          一季度  二季度  三季度  四季度    全年"]
    for row in rows:
        quarters = "".join(f"{q:>8}" for q in row.quarters)
        lines.append(f"{row.rank:>4}  {row.unit:<24}{quarters}{row.total:>8}")
    return "\n".join(lines)
