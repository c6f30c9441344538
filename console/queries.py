"""Read-only queries of the console: the traffic light, the filtered matters list with
keyset paging (fast at 100,000 matters: an index walk from the last id shown, no OFFSET,
no COUNT), and the overview's counts. Every query starts from the viewer's visible matters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from models import Matter, MatterState, Node, Person, Unit
from workflow.permissions import visible_matters
from workflow.queries import Period
from workflow.states import CHASED, OPEN

PAGE_SIZE = 50
RED_STATES = [MatterState.SUPERVISED, MatterState.KEY_SUPERVISION]
LIGHTS = ("green", "yellow", "red")


def overdue_ids(now: datetime) -> Subquery:
    return Subquery(Node.filter(due_at__lt=now.astimezone(UTC), satisfied_at=None)
                    .values("matter_id"))


def light_filter(light: str, now: datetime) -> Q:
    """green: on time; yellow: a node past due, so being urged; red: supervised/escalated."""
    chased = [s for s in CHASED if s not in RED_STATES]
    if light == "red":
        return Q(state__in=RED_STATES)
    if light == "yellow":
        return Q(state__in=chased, id__in=overdue_ids(now))
    return Q(state__in=[s for s in OPEN if s not in RED_STATES]) & ~Q(
        state__in=chased, id__in=overdue_ids(now))


async def lights(matters: list[Matter], now: datetime) -> dict[int, str]:
    """Each listed matter's light, in one query for the page."""
    late = set(await Node.filter(matter_id__in=[m.id for m in matters],
                                 due_at__lt=now.astimezone(UTC),
                                 satisfied_at=None).values_list("matter_id", flat=True))
    found = {}
    for m in matters:
        if m.state in RED_STATES:
            found[m.id] = "red"
        elif m.state in OPEN:
            found[m.id] = "yellow" if m.id in late and m.state in CHASED else "green"
        else:
            found[m.id] = "none"
    return found


@dataclass
class Filters:
    board: str = ""
    unit: str = ""  # unit key: lead or cooperating
    state: str = ""
    light: str = ""
    node: str = ""  # matters with this node still open (1d, 3d, 7d, 1m, ...)
    period: str = ""  # registered in: 2026, 2026Q4, 2026-11
    q: str = ""  # code or title
    after: int | None = None  # keyset: the last id of the previous page

    @classmethod
    def of(cls, query) -> Filters:
        after = query.get("after", "")
        return cls(**{k: query.get(k, "").strip() for k in (
            "board", "unit", "state", "light", "node", "period", "q")},
            after=int(after) if after.isdigit() else None)

    def link(self, **changes) -> str:
        """The query string of this filter with some fields changed."""
        from urllib.parse import urlencode

        values = {k: v for k, v in (vars(self) | changes).items() if v not in ("", None)}
        return urlencode(values)


@dataclass
class Listing:
    matters: list[Matter]
    lights: dict[int, str]
    next_after: int | None
    problems: list[str] = field(default_factory=list)


async def filtered(viewer: Person, f: Filters, now: datetime, tz) -> tuple:
    """The viewer's matters matching `f` (a queryset, newest first) and the filter's problems."""
    query = Matter.filter(await visible_matters(viewer))
    problems = []
    if f.board:
        query = query.filter(board=f.board)
    if f.unit:
        unit = await Unit.get_or_none(key=f.unit)
        unit_id = unit.id if unit else -1
        cooperating = Subquery(Matter.filter(cooperating__id=unit_id).values("id"))
        query = query.filter(Q(lead_id=unit_id) | Q(id__in=cooperating))
    if f.state:
        query = query.filter(state=f.state)
    if f.light in LIGHTS:
        query = query.filter(light_filter(f.light, now))
    if f.node:
        query = query.filter(id__in=Subquery(Node.filter(key=f.node, satisfied_at=None)
                                             .values("matter_id")))
    if f.period:
        period = Period.parse(f.period, now.astimezone(tz).date(), tz)
        if period is None:
            problems.append("period")
        else:
            query = query.filter(created_at__gte=period.start, created_at__lt=period.end)
    if f.q:
        query = query.filter(Q(code=f.q.upper()) | Q(title__icontains=f.q))
    return query, problems


async def listing(viewer: Person, f: Filters, now: datetime, tz) -> Listing:
    query, problems = await filtered(viewer, f, now, tz)
    if f.after:
        query = query.filter(id__lt=f.after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1).select_related("lead")
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Listing(rows, await lights(rows, now), rows[-1].id if more else None, problems)


@dataclass
class BoardLine:
    board: str
    open: int
    due_today: int
    overdue: int


async def board_lines(viewer: Person, now: datetime, tz) -> list[BoardLine]:
    """Per board: open matters, matters with a node due today, matters overdue (R8: not
    while a completion is pending). Three grouped counts, whatever the number of boards."""
    visible = await visible_matters(viewer)
    # UTC, as stored: SQLite compares instants as text, so an offset must not differ.
    start = datetime.combine(now.astimezone(tz).date(), time(0), tz).astimezone(UTC)
    due_today = Subquery(Node.filter(due_at__gte=start, due_at__lt=start + timedelta(days=1),
                                     satisfied_at=None).values("matter_id"))

    async def per_board(query) -> dict[str, int]:
        rows = await query.annotate(n=Count("id")).group_by("board").values_list("board", "n")
        return dict(rows)

    open_ = await per_board(Matter.filter(visible, state__in=list(OPEN)))
    chased = Matter.filter(visible, state__in=list(CHASED))
    today = await per_board(chased.filter(id__in=due_today))
    late = await per_board(chased.filter(id__in=overdue_ids(now)))
    return [BoardLine(board, n, today.get(board, 0), late.get(board, 0))
            for board, n in sorted(open_.items())]
