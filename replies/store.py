"""Storing inbound messages raw, before anything parses them (step 1 of the reply path).

A batch of messages is one INSERT: the webhooks of `duban serve` store the replies that
arrive together in one statement and one commit (`dispatch.group_commit`), and answer each
provider once its own reply is committed. A provider's resend of a message (the same
provider message id on the same channel) is never stored twice.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise import Tortoise
from tortoise.expressions import Q

from dispatch.channel import InboundText
from dispatch.outbox import INSERT_CHUNK, placeholders
from models import InboundMessage, storable_provider_id

COLUMNS = ("channel", "sender", "text", "provider_message_id", "raw_data", "received_at",
           "status", "outcome")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Status(StrEnum):
    """InboundMessage.status."""

    RECEIVED = "received"  # stored, not processed yet
    DONE = "done"  # understood and carried out (or a list/help request answered)
    REFUSED = "refused"  # understood, but the rules or the addressing refused it
    ERROR = "error"  # not understood, incomplete, or processing failed


async def store(message: InboundText, now: datetime) -> InboundMessage | None:
    """The raw row, in its own commit. For a resend: None once the first was handled, or
    the stored row when its processing never finished (the resend completes it)."""
    return (await store_many([message], now))[0]


async def store_many(messages: list[InboundText], now: datetime) -> list[InboundMessage | None]:
    """`store` for each message, in one statement per `INSERT_CHUNK`."""
    stored: list[InboundMessage | None] = []
    for start in range(0, len(messages), INSERT_CHUNK):
        stored += await store_chunk(messages[start:start + INSERT_CHUNK], now)
    return stored


async def store_chunk(messages: list[InboundText], now: datetime) -> list[InboundMessage | None]:
    rows = [stored_row(message, now) for message in messages]
    sql = (f"INSERT INTO inbound_message ({', '.join(COLUMNS)}) VALUES "
           f"{placeholders(len(rows), len(COLUMNS))} "
           "ON CONFLICT (channel, provider_message_id) DO NOTHING RETURNING *")
    written = await Tortoise.get_connection("default").execute_query_dict(
        sql, [row[column] for row in rows for column in COLUMNS])
    new = defaultdict(list)  # identity -> rows written, oldest first
    for row in sorted(written, key=lambda r: r["id"]):
        new[identity(row)].append(InboundMessage._init_from_db(**row))
    found = [pop(new, identity(row)) for row in rows]
    if any(got is None for got in found):  # resends: their provider ids were taken
        earlier = await stored_before([row for row, got in zip(rows, found, strict=True)
                                       if got is None])
        found = [earlier.get(identity(row)) if got is None else got
                 for row, got in zip(rows, found, strict=True)]
    return [row if row is not None and row.status == Status.RECEIVED else None
            for row in found]


def stored_row(message: InboundText, now: datetime) -> dict[str, Any]:
    """The columns of a message's row, as stored."""
    provider_id = message.provider_message_id
    return {"channel": message.channel[:16], "sender": storable(message.sender)[:64],
            "text": storable(message.text),
            "provider_message_id": storable_provider_id(provider_id) if provider_id else None,
            "raw_data": json.dumps(storable_json(message.raw), ensure_ascii=False),
            "received_at": now.astimezone(UTC), "status": Status.RECEIVED.value, "outcome": ""}


def identity(row: dict[str, Any]) -> tuple:
    """What tells a row's message: its provider id, else (no id: never a resend) its sender
    and text. Two such messages alike in both are alike in every column."""
    if row["provider_message_id"]:
        return row["channel"], row["provider_message_id"]
    return row["channel"], None, row["sender"], row["text"]


def pop(new: dict[tuple, list[InboundMessage]], key: tuple) -> InboundMessage | None:
    rows = new.get(key)
    return rows.pop(0) if rows else None


async def stored_before(resent: list[dict[str, Any]]) -> dict[tuple, InboundMessage]:
    """The rows already stored under the resent messages' provider ids, by identity."""
    wanted = Q(*(Q(channel=row["channel"], provider_message_id=row["provider_message_id"])
                 for row in resent), join_type="OR")
    return {(row.channel, row.provider_message_id): row
            for row in await InboundMessage.filter(wanted)}


def storable(text: str) -> str:
    """PostgreSQL stores no NUL and no lone surrogate, yet a handset can send both. NUL goes
    (the parser drops it anyway); a lone surrogate becomes U+FFFD, which is no separator
    either, so the stored text cannot turn into a different command."""
    return LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def storable_json(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return storable(str(value))  # NaN and infinities fit no JSON column: kept as text
