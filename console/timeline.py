"""A matter's whole record for the detail page and the API: every audit row, every outbound
message with its channel and status history (receipts included), every inbound reply raw
with what it was parsed into, and the clock's upcoming plan."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from models import AuditEntry, InboundMessage, Matter, MessageEvent, OutboundMessage
from scheduler.rules import plan
from service.plan import people_names
from workflow.context import Context
from workflow.facts import matter_facts

PLAN_DAYS = 14


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # audit | out | in
    who: str
    what: str  # audit action; message kind; inbound status
    channel: str
    text: str = ""  # message text, raw reply
    detail: dict = field(default_factory=dict)
    history: list[tuple[datetime, str, str]] = field(default_factory=list)  # out: statuses

    def json(self) -> dict:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["history"] = [[at.isoformat(), s, d] for at, s, d in self.history]
        return data


async def timeline(matter: Matter) -> list[Entry]:
    """Rows are read as tuples, not model objects: a long record stays cheap to show."""
    entries = [Entry(at, "audit", who, action, channel,
                     detail={"before": before, "after": after, **detail})
               for at, who, action, channel, before, after, detail in await AuditEntry.filter(
                   matter=matter).order_by("at", "id").values_list(
                   "at", "actor_label", "action", "channel", "before", "after", "detail")]
    messages = await OutboundMessage.filter(matter=matter).values_list(
        "id", "created_at", "person__name", "address", "kind", "channel", "text", "status")
    events: dict[int, list] = {}
    for message_id, at, status, detail in await MessageEvent.filter(
            message__matter=matter).order_by("at", "id").values_list(
            "message_id", "at", "status", "detail"):
        events.setdefault(message_id, []).append((at, status, detail))
    entries += [Entry(at, "out", name or address, kind, channel, text or "",
                      {"status": str(status)}, events.get(id_, []))
                for id_, at, name, address, kind, channel, text, status in messages]
    entries += [Entry(at, "in", sender, status, channel, text, {"outcome": outcome})
                for at, sender, status, channel, text, outcome in await InboundMessage.filter(
                    matter=matter).values_list("received_at", "sender", "status", "channel",
                                               "text", "outcome")]
    return sorted(entries, key=lambda e: e.at)


@dataclass(frozen=True)
class Planned:
    at: datetime
    kind: str
    node: str
    people: str
    reason: str


async def upcoming(ctx: Context, matter: Matter, days: int = PLAN_DAYS) -> list[Planned]:
    """What the 13710 clock will do next if nothing changes (as `duban plan`)."""
    now = ctx.clock.now()
    actions = [a for a in plan(await matter_facts(matter), ctx.policy, ctx.calendar,
                               now + timedelta(days=days)) if a.at > now]
    names = await people_names(matter, {a.audience for a in actions})
    return [Planned(a.at, str(a.kind), a.node or "", names[a.audience], a.reason)
            for a in actions]
