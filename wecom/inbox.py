"""The sink of the WeCom callback: what only WeCom has is handled here, the rest goes to the
one inbox (the same parser, workflow service and permission checks as SMS).

- Supervisor views (/matter, /overdue, /stats): answered with the bot's queries.
- A card's 报进展 / 申请延期 / 申请办结 opens a short dialog, like the bot's: the person is
  asked for the content, and their next text (within `DIALOG_MINUTES`) that names no
  matter becomes the grammar line "D17 进展 <text>" — even "已完成排查", which on its own
  would read as a completion application. The open dialog is the person's previous WeCom
  message itself (its row's outcome, `dialog p D17`, and arrival time), so it holds on
  every instance behind the callback URL and across restarts, with nothing kept in memory.

Whatever is handled here is stored raw first and answered by outbox rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from dispatch.channel import InboundText, Receipt
from models import InboundMessage, Person
from replies.inbound import Inbox, identify
from replies.parser import Intent, parse_reply
from replies.store import store
from wecom.texts import pressed, prompt
from wecom.views import VIEW, answer, view
from workflow.permissions import supervised_boards

DIALOG_ACTIONS = frozenset({"p", "e", "c"})  # 收到 needs no content
DIALOG_MINUTES = 10
DIALOG = "dialog"  # the outcome of a press that opened one: "dialog p D17"


class WeComInbox:
    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._ctx = inbox.ctx

    async def receipt(self, receipt: Receipt) -> None:
        await self._inbox.receipt(receipt)

    async def inbound(self, message: InboundText) -> None:
        press = message.raw.get("press")
        person = await identify(message.channel, message.sender)
        if person is not None and press and press["action"] in DIALOG_ACTIONS:
            await self.open_dialog(message, person, press["action"], press["code"])
            return
        message = await self.continue_dialog(message)
        match = VIEW.fullmatch(message.text.strip())
        boards = await supervised_boards(person) if person and match else []
        if match and boards:
            if row := await self.stored(message):
                text = await view(self._ctx, match[1], (match[2] or "").strip(), boards)
                await answer(self._ctx, row, person, f"view {match[1]}", text)
            return
        await self._inbox.inbound(message)

    async def open_dialog(self, message: InboundText, person: Person, action: str,
                          code: str) -> None:
        if row := await self.stored(message):
            await answer(self._ctx, row, person, f"{DIALOG} {action} {code}",
                         prompt(action, code, DIALOG_MINUTES))

    async def continue_dialog(self, message: InboundText) -> InboundText:
        """The grammar line for a text that answers an open dialog; other texts as they are."""
        now = self._ctx.clock.now()
        if message.raw.get("MsgType") != "text":
            return message
        dialog = await open_dialog(message.sender, now)
        if dialog is None:
            return message
        parsed = parse_reply(message.text, now=now, tz=self._ctx.tz)
        if isinstance(parsed, Intent) and (parsed.matter_code or parsed.short_number):
            return message  # it names its matter: a command of its own, read as it stands
        action, code = dialog
        line = f"{pressed(action, code)} {message.text.strip()}"
        return replace(message, text=line, raw=message.raw | {"dialog": action})

    async def stored(self, message: InboundText) -> InboundMessage | None:
        """The raw row, or None for WeCom's retry of a message already handled."""
        return await store(message, self._ctx.clock.now())


async def open_dialog(userid: str, now: datetime) -> tuple[str, str] | None:
    """(action, matter code) of the dialog the person's previous WeCom message opened, if it
    did so less than `DIALOG_MINUTES` ago; any later message of theirs closes it."""
    previous = await InboundMessage.filter(channel="wecom", sender=userid).order_by(
        "-id").first().values("outcome", "received_at")
    if previous is None or previous["received_at"] < now - timedelta(minutes=DIALOG_MINUTES):
        return None
    word, *rest = previous["outcome"].split() or [""]
    return (rest[0], rest[1]) if word == DIALOG and len(rest) == 2 else None
