"""The bot's words: jinja2 templates under templates/bot, the only place its Chinese lives.

Messages go out as plain text (no parse mode), so nothing is HTML-escaped.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

TELEGRAM_TEXT_LIMIT = 4096


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("templates", "bot"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["local"] = local_time
    return env


def local_time(instant: datetime | None, tz: ZoneInfo) -> str:
    """`{{ at | local(tz) }}`: the wall time people read, to the minute."""
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M") if instant else "-"


@cache
def _module(name: str) -> Any:
    return _env().get_template(f"{name}.j2").module


def render(template: str, /, **context: Any) -> str:
    """A whole template: `render("overdue", rows=rows)`."""
    return _env().get_template(f"{template}.j2").render(**context).strip()


def say(template: str, macro: str, /, **arguments: Any) -> str:
    """One macro of a template: `say("link", "linked", name="王芳", unit="司法局")`."""
    return str(getattr(_module(template), macro)(**arguments)).strip()


def label(group: str, key: str) -> str:
    """A short label of labels.j2 (`label("states", "closed")`); unknown keys show as is."""
    return getattr(_module("labels"), group).get(key, key)


def labels(group: str) -> Any:
    """A whole group of labels.j2 (a dict, or a single string)."""
    return getattr(_module("labels"), group)


def chunks(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split a long text at line ends into pieces Telegram accepts (overlong lines are cut)."""
    pieces, current = [], ""
    for line in text.splitlines(keepends=True):
        for start in range(0, len(line), limit):
            part = line[start : start + limit]
            if len(current) + len(part) > limit:
                pieces.append(current)
                current = ""
            current += part
    pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]
