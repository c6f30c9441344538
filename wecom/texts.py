"""WeCom's words, from templates/wecom/texts.j2 (the only place its Chinese lives)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def _module() -> Any:
    env = Environment(loader=PackageLoader("templates", "wecom"), undefined=StrictUndefined,
                      autoescape=False)
    return env.get_template("texts.j2").module


def card_title(code: str) -> str:
    return str(_module().card_title(code)).strip()


def pressed(action: str, code: str) -> str:
    """The reply a card button stands for, e.g. "D17 收到"."""
    return str(_module().pressed(action, code)).strip()


def prompt(action: str, code: str, minutes: int) -> str:
    """What a 报进展 / 申请延期 / 申请办结 press asks the person to send next."""
    return str(_module().prompt(action, code, minutes)).strip()
