"""`duban plan CODE`: a matter's upcoming automatic actions, as a text table.

The table comes from the same pure clock the service runs (`scheduler.rules.plan`) and the
same audience resolution, so it shows what will be sent, when and to whom, if nothing
changes on the matter in the meantime.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from models import Matter
from scheduler.clock import Clock
from scheduler.rules import Action, Audience, plan
from service.config import Settings
from service.register import matter_code
from workflow.facts import matter_facts
from workflow.recipients import audience_people

HEADER = ("time", "kind", "audience → people", "node", "reason")


class UnknownMatter(ValueError):
    """No matter has this code."""


async def plan_table(settings: Settings, code: str, horizon: timedelta,
                     clock: Clock | None = None) -> str:
    """The actions with now < at <= now + horizon, times in the deployment's time zone."""
    ctx = settings.context(clock)
    matter = await Matter.get_or_none(code=lookup_code(code))
    if matter is None:
        raise UnknownMatter(f"no matter with code {code!r}")
    now = ctx.clock.now()
    actions = plan(await matter_facts(matter), ctx.policy, ctx.calendar, now + horizon)
    upcoming = [a for a in actions if a.at > now]
    title = (f"{matter.code} {matter.title} ({matter.state.value}): upcoming actions "
             f"{stamp(now, ctx.tz)} – {stamp(now + horizon, ctx.tz)} ({settings.timezone})")
    if not upcoming:
        return f"{title}\nnone"
    names = await people_names(matter, {a.audience for a in upcoming})
    rows = [HEADER] + [table_row(a, names[a.audience], ctx.tz) for a in upcoming]
    return f"{title}\n{render(rows)}"


def lookup_code(text: str) -> str:
    """Codes are stored as replies name them ("d1" finds D1)."""
    try:
        return matter_code(text)
    except ValueError:
        return text  # no such matter can exist; the caller says so with the text as given


async def people_names(matter: Matter, audiences: set[Audience]) -> dict[Audience, str]:
    """Each audience's people once: a node's urges all go to the same audience."""
    found = {}
    for audience in audiences:
        people = await audience_people(matter, audience)
        found[audience] = "、".join(p.name for p in people) or "(nobody)"
    return found


def table_row(action: Action, names: str, zone: ZoneInfo) -> tuple[str, ...]:
    kind = f"{action.kind} #{action.number}" if action.number else str(action.kind)
    return (stamp(action.at, zone), kind, f"{action.audience} → {names}", action.node or "-",
            action.reason)


def stamp(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell + " " * (size - width(cell))
                               for cell, size in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def width(text: str) -> int:
    """Terminal columns: Chinese names take two each, or the columns would not line up."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
