"""The electronic ledger (电子台账, R34): every matter of a period with its outcome, and the
statistics by unit, board and source, as one XLSX workbook.

Words (sheet titles, column headers, state and board names) come from the caller's
`label(group, key)`, so the layout here stays language-free: sheets and columns are looked
up in the group "ledger", values in "boards", "classes", "states" and "score_reasons".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from models import Application, ApplicationKind, Feedback, Matter
from workflow.queries import Line, Period, scoped_matters, score_events, stats

MATTER_COLUMNS = (
    "code", "title", "source", "board", "klass", "initiator", "lead", "cooperating", "state",
    "created_at", "deadline", "closed_at", "approver", "approved_on", "grade", "feedback",
    "late_feedback",
)
LINE_COLUMNS = ("name", "registered", "open", "closed", "overdue", "points")
SCORE_COLUMNS = ("at", "unit", "code", "delta", "reason")
_MAX_WIDTH = 60


@dataclass(frozen=True)
class Sheet:
    key: str  # label("ledger", key) is its title
    columns: Sequence[str]
    rows: list[list[Any]]


Label = Callable[[str, str], str]


async def build_ledger(boards: list[str], period: Period, now: datetime, tz: ZoneInfo,
                       label: Label) -> bytes:
    sheets = await ledger_sheets(boards, period, now, tz, label)
    # openpyxl is synchronous and CPU-bound: keep the event loop free while it writes.
    return await asyncio.to_thread(write_workbook, sheets, label)


async def ledger_sheets(boards: list[str], period: Period, now: datetime, tz: ZoneInfo,
                        label: Label) -> list[Sheet]:
    figures = await stats(boards, period, now)
    matters = [await _matter_row(m, tz, label) for m in await scoped_matters(boards, period)]
    scores = [[_local(e.at, tz), e.unit.name, e.matter.code if e.matter else "",
               float(e.delta), label("score_reasons", e.reason)]
              for e in await score_events(boards, period)]
    return [
        Sheet("matters", MATTER_COLUMNS, matters),
        Sheet("units", LINE_COLUMNS, _lines(figures.by_unit)),
        Sheet("boards", LINE_COLUMNS, _lines(figures.by_board, lambda n: label("boards", n))),
        Sheet("sources", LINE_COLUMNS, _lines(figures.by_source)),
        Sheet("scores", SCORE_COLUMNS, scores),
    ]


async def matters_workbook(matters: list[Matter], tz: ZoneInfo, label: Label) -> bytes:
    """Just the matters sheet, for a list someone filtered (the console's export)."""
    rows = [await _matter_row(m, tz, label) for m in matters]
    return await asyncio.to_thread(write_workbook, [Sheet("matters", MATTER_COLUMNS, rows)],
                                   label)


async def _matter_row(matter: Matter, tz: ZoneInfo, label: Label) -> list[Any]:
    feedback = await Feedback.filter(matter=matter, ack_only=False)
    graded = await Application.filter(matter=matter, kind=ApplicationKind.COMPLETION
                                      ).exclude(grade=None).order_by("-filed_at").first()
    cooperating = label("ledger", "separator").join(u.name for u in matter.cooperating)
    return [
        matter.code, matter.title, matter.source, label("boards", matter.board),
        label("classes", matter.klass), matter.initiator.name, matter.lead.name, cooperating,
        label("states", matter.state.value),
        _local(matter.created_at, tz), _local(matter.deadline, tz), _local(matter.closed_at, tz),
        matter.approver, matter.approved_on, graded.grade if graded else "",
        len(feedback), sum(f.late for f in feedback),
    ]


def _lines(lines: list[Line], name: Callable[[str], str] = str) -> list[list[Any]]:
    return [[name(x.name), x.registered, x.open, x.closed, x.overdue, float(x.points)]
            for x in lines]


def _local(instant: datetime | None, tz: ZoneInfo) -> datetime | None:
    """Excel has no time zones: write the local wall time the readers live in."""
    return instant.astimezone(tz).replace(tzinfo=None) if instant else None


def write_workbook(sheets: list[Sheet], label: Label) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        _write_sheet(book.create_sheet(label("ledger", sheet.key)), sheet, label)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _write_sheet(ws: Any, sheet: Sheet, label: Label) -> None:
    ws.append([label("ledger", c) for c in sheet.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in sheet.rows:
        ws.append(row)
    ws.freeze_panes = "A2"
    for index, column in enumerate(ws.columns, start=1):
        width = max(len(str(c.value or "")) for c in column) * 2 + 2  # CJK is double width
        ws.column_dimensions[get_column_letter(index)].width = min(width, _MAX_WIDTH)
        for cell in column[1:]:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
