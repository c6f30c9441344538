"""What `/metrics` shows Prometheus. Counters and histograms are updated where things happen;
the gauges of the backlog are read from the database when Prometheus scrapes (`refresh`).

Labels are channels, statuses and parse results only: never an address or a text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from tortoise.functions import Count, Min

from models import MessageStatus, OutboundMessage

TICK_SECONDS = Histogram("duban_tick_seconds", "Duration of one clock tick",
                         buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300))
TICK_LAG = Gauge("duban_tick_lag_seconds",
                 "How late the oldest clock action was when the last tick began")
MESSAGES = Counter("duban_messages_total", "Outcomes of sends, by channel and status",
                   ["channel", "status"])
SUBMIT_SECONDS = Histogram("duban_submit_seconds", "Time one send took on its channel",
                           ["channel"],
                           buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30))
INBOUND = Counter("duban_inbound_total", "Inbound messages by channel and parse result",
                  ["channel", "result"])
DUE_BACKLOG = Gauge("duban_due_backlog", "Messages due now and not sent yet")
OLDEST_DUE = Gauge("duban_oldest_due_age_seconds", "Age of the oldest message due and not sent")
ROWS = Gauge("duban_outbound_rows", "Outbound rows by channel and status", ["channel", "status"])
BINDS = Gauge("duban_binds", "Channel connections (SMPP binds) by state", ["channel", "state"])


async def refresh(now: datetime, channels: dict[str, Any]) -> None:
    """Read the gauges that describe the database and the channels as of now."""
    due = OutboundMessage.filter(status=MessageStatus.PENDING, due_at__lte=now)
    found = await due.annotate(n=Count("id"), oldest=Min("due_at")).values("n", "oldest")
    count, oldest = (found[0]["n"], found[0]["oldest"]) if found else (0, None)
    DUE_BACKLOG.set(count)
    OLDEST_DUE.set((now - oldest).total_seconds() if oldest else 0)
    ROWS.clear()
    for row in await OutboundMessage.annotate(n=Count("id")).group_by(
            "channel", "status").values("channel", "status", "n"):
        ROWS.labels(row["channel"], row["status"]).set(row["n"])
    BINDS.clear()
    for name, channel in channels.items():
        for state, number in binds(channel.health()).items():
            BINDS.labels(name, state).set(number)


def binds(health: dict[str, Any]) -> dict[str, int]:
    """Up and down connections from a channel's health: `binds` (a list of states or dicts
    with a `bound` flag) when it has several, else its `bound` flag."""
    states = health.get("binds")
    if isinstance(states, list):
        up = sum(1 for s in states if (s.get("bound") if isinstance(s, dict) else s == "bound"))
        return {"up": up, "down": len(states) - up}
    if "bound" in health:
        return {"up": int(bool(health["bound"])), "down": int(not health["bound"])}
    return {}


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
