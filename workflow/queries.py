"""Read-only views for supervisors and leaders: a matter's timeline, what is overdue, and
statistics by board, unit and source over a period (R34).

Every query is scoped to `boards` (those the asking person's unit initiates) and reads the
models directly; nothing here writes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from models import Application, AuditEntry, Feedback, Matter, Node, ScoreEvent, Unit
from scheduler.calendar import add_months
from workflow.states import CHASED, FINISHED

TIMELINE_LENGTH = 20  # entries shown; the ledger has the whole record


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, named as the person asked for it: 2026, 2026Q3, 2026-11."""

    label: str
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str, today: date, tz: ZoneInfo) -> Period | None:
        """The period a person names ("" is this year), or None when it names none."""
        text = text.strip().upper() or str(today.year)
        try:
            if re.fullmatch(r"\d{4}", text):
                first = date(int(text), 1, 1)
                return cls.between(text, first, add_months(first, 12), tz)
            if m := re.fullmatch(r"(\d{4})Q([1-4])", text):
                first = date(int(m[1]), 3 * int(m[2]) - 2, 1)
                return cls.between(text, first, add_months(first, 3), tz)
            if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
                first = date(int(m[1]), int(m[2]), 1)
                return cls.between(first.strftime("%Y-%m"), first, add_months(first, 1), tz)
        except ValueError:  # year 0, month 13, or past the calendar's end
            return None
        return None

    @classmethod
    def between(cls, label: str, first: date, after: date, tz: ZoneInfo) -> Period:
        """Local midnights as UTC instants: SQLite compares stored times as text, so a bound
        with another offset (+08:00) would be compared 8 hours off."""
        midnight = time(0)
        return cls(label, datetime.combine(first, midnight, tz).astimezone(UTC),
                   datetime.combine(after, midnight, tz).astimezone(UTC))

    def holds(self, instant: datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end


# --- one matter (/matter CODE) --------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of a timeline. `kind`: audit | feedback | application."""

    at: datetime
    kind: str
    who: str
    what: str  # audit action, "ack"/"report", or application kind
    detail: str = ""
    state: str | None = None  # audit: the state after


@dataclass(frozen=True)
class MatterView:
    matter: Matter
    initiator: str
    lead: str
    cooperating: list[str]
    nodes: list[Node]
    entries: list[Entry]


async def matter_view(code: str, boards: list[str]) -> MatterView | None:
    matter = await Matter.get_or_none(code=code.upper(), board__in=boards).prefetch_related(
        "initiator", "lead", "cooperating"
    )
    if matter is None:
        return None
    entries = [*await _audit_entries(matter), *await _feedback_entries(matter),
               *await _application_entries(matter)]
    entries.sort(key=lambda e: e.at)
    return MatterView(
        matter=matter,
        initiator=matter.initiator.name,
        lead=matter.lead.name,
        cooperating=[u.name for u in matter.cooperating],
        nodes=await Node.filter(matter=matter).order_by("due_at"),
        entries=entries[-TIMELINE_LENGTH:],
    )


async def _audit_entries(matter: Matter) -> list[Entry]:
    rows = await AuditEntry.filter(matter=matter).order_by("at", "id")
    return [Entry(r.at, "audit", r.actor_label, r.action, _audit_detail(r.detail), r.after)
            for r in rows]


def _audit_detail(detail: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in detail.items() if k in ("reason", "grade",
                                                                   "new_deadline", "node"))


async def _feedback_entries(matter: Matter) -> list[Entry]:
    rows = await Feedback.filter(matter=matter).prefetch_related("person").order_by("at")
    return [Entry(f.at, "feedback", f.person.name if f.person else f.channel,
                  "ack" if f.ack_only else "report", f.text) for f in rows]


async def _application_entries(matter: Matter) -> list[Entry]:
    rows = await Application.filter(matter=matter).prefetch_related("person").order_by("filed_at")
    return [Entry(a.filed_at, "application", a.person.name if a.person else a.channel,
                  a.kind.value, a.text, a.status.value) for a in rows]


# --- overdue (/overdue) -----------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    """A chased matter and its earliest node past due without feedback."""

    matter: Matter
    lead: str
    node: str
    due_at: datetime
    hours: int
    nodes_overdue: int


async def overdue(boards: list[str], now: datetime) -> list[Overdue]:
    # R8: a pending completion application stops the chase, so it is not listed.
    nodes = await Node.filter(
        matter__board__in=boards, matter__state__in=list(CHASED), due_at__lt=now,
        satisfied_at=None,
    ).prefetch_related("matter__lead").order_by("due_at", "id")
    by_matter: dict[int, list[Node]] = defaultdict(list)
    for node in nodes:
        by_matter[node.matter_id].append(node)
    # Nodes come earliest first, so each group starts with its matter's first overdue node
    # and the groups are in order of how long they have been overdue.
    return [
        Overdue(group[0].matter, group[0].matter.lead.name, group[0].key, group[0].due_at,
                int((now - group[0].due_at).total_seconds() // 3600), len(group))
        for group in by_matter.values()
    ]


# --- statistics (/stats, the ledger) ---------------------------------------------------


@dataclass
class Line:
    """Counts of one board, unit or source: matters registered and closed in the period,
    open and overdue now, and the points of the period (R32)."""

    name: str
    registered: int = 0
    open: int = 0
    closed: int = 0
    overdue: int = 0
    points: Decimal = Decimal("0")


@dataclass
class Stats:
    period: Period
    by_board: list[Line] = field(default_factory=list)
    by_unit: list[Line] = field(default_factory=list)
    by_source: list[Line] = field(default_factory=list)


async def stats(boards: list[str], period: Period, now: datetime) -> Stats:
    matters = await scoped_matters(boards, period)
    late = {row.matter.id for row in await overdue(boards, now)}
    lines: dict[str, dict[str, Line]] = {"board": {}, "unit": {}, "source": {}}
    for matter in matters:
        for key, name in (("board", matter.board), ("unit", matter.lead.name),
                          ("source", matter.source)):
            _count(lines[key].setdefault(name, Line(name)), matter, period, late)
    for unit, points in (await points_by_unit(boards, period)).items():
        lines["unit"].setdefault(unit, Line(unit)).points = points
    return Stats(period, *(sorted(lines[k].values(), key=lambda x: x.name)
                           for k in ("board", "unit", "source")))


def _count(line: Line, matter: Matter, period: Period, late: set[int]) -> None:
    line.registered += period.holds(matter.created_at)
    line.open += matter.state not in FINISHED
    line.closed += period.holds(matter.closed_at)
    line.overdue += matter.id in late


async def scoped_matters(boards: list[str], period: Period) -> list[Matter]:
    """Matters alive at some moment of the period: registered before its end, not closed
    before its start."""
    matters = await Matter.filter(board__in=boards, created_at__lt=period.end).prefetch_related(
        "initiator", "lead", "cooperating"
    ).order_by("created_at", "id")
    return [m for m in matters if m.closed_at is None or m.closed_at >= period.start]


async def points_by_unit(boards: list[str], period: Period) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for event in await score_events(boards, period):
        totals[event.unit.name] += event.delta
    return dict(totals)


async def score_events(boards: list[str], period: Period) -> list[ScoreEvent]:
    return await ScoreEvent.filter(
        matter__board__in=boards, at__gte=period.start, at__lt=period.end
    ).prefetch_related("unit", "matter").order_by("at", "id")


# --- units, for the registration dialog ----------------------------------------------


async def unit_names(keys: list[str]) -> dict[str, str]:
    """key -> name of the units that exist among `keys`."""
    return dict(await Unit.filter(key__in=keys).values_list("key", "name"))
