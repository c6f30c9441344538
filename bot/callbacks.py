"""Inline-button data, signed so that it cannot be forged: `<action>:<matter code>:<sig>`.

Telegram hands the bot whatever callback data a client sends, so a modified client could
"press" a button it was never shown (acknowledge someone else's matter). An HMAC over the
action and the code, keyed with a server secret, makes such data worthless. Telegram caps
callback data at 64 bytes; the longest code (16 characters) gives 1 + 1 + 16 + 1 + 8 = 27.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot import answers
from bot.answers import Buttons
from bot.texts import label
from dispatch.channel import Button
from models import OutboundMessage

ACK, PROGRESS, EXTENSION, COMPLETION = "a", "p", "e", "c"
ACTIONS = (ACK, PROGRESS, EXTENSION, COMPLETION)
_SIGNATURE_CHARS = 8  # 48 bits: guessing one takes ~10^14 presses
_CODE = re.compile(r"[A-Za-z0-9]{1,16}")
# Notices that ask the unit to act; replies, forwards to supervisors and escalations to
# leaders carry no reply buttons.
BUTTON_KINDS = frozenset({"assigned", "remind", "urge", "supervise", "report_due", "returned"})



@dataclass(frozen=True)
class Press:
    """A verified button press: what to do on which matter."""

    action: str
    code: str


def signed(action: str, code: str, secret: str) -> str:
    """The callback data of one button."""
    if action not in ACTIONS or not _CODE.fullmatch(code):
        raise ValueError(f"cannot make a button for {action!r} on {code!r}")
    payload = f"{action}:{code}"
    return f"{payload}:{_signature(payload, secret)}"


def verify(data: str | None, secret: str) -> Press | None:
    """The press the data stands for, or None when it is malformed or forged."""
    action, _, rest = (data or "").partition(":")
    code, _, signature = rest.partition(":")
    if action not in ACTIONS or not _CODE.fullmatch(code):
        return None
    expected = _signature(f"{action}:{code}", secret)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    return Press(action, code)


def buttons_for(matter_code: str, secret: str) -> Buttons:
    """The buttons of assigned/remind/urge/supervise messages on the messenger (R36)."""
    rows = ((ACK, PROGRESS), (EXTENSION, COMPLETION))
    return tuple(
        tuple(Button(label("buttons", a), signed(a, matter_code, secret)) for a in row)
        for row in rows
    )


def row_buttons(secret: str) -> Callable[[OutboundMessage], Buttons]:
    """The outbound dispatcher's `buttons_for` hook: buttons for a row's matter notice."""

    def buttons(row: OutboundMessage) -> Buttons:
        if row.kind == answers.KIND:
            return answers.row_buttons(row)
        code = row.context.get("code")
        return buttons_for(code, secret) if code and row.kind in BUTTON_KINDS else ()

    return buttons


def _signature(payload: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]
