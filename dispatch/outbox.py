"""Outbound messages as rows: queued before they are sent, claimed by one dispatcher at a time.

A row is written in the same transaction as the change that causes it, so a crash never
loses a message; the dedup key makes the same clock action produce its rows once.

Writing rows wakes the dispatcher loop (`dispatch.wakeup`): at once in this process, and on
PostgreSQL in every instance by NOTIFY, which the database delivers when the transaction that
wrote the rows commits, so a woken dispatcher always finds them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from dispatch import wakeup
from dispatch.group_commit import GroupCommit
from dispatch.wakeup import is_postgres
from models import Matter, MessageEvent, MessageStatus, OutboundMessage, Person, ProviderId

NOTIFY_CHANNEL = "duban_outbox"  # the dispatcher loops' wake-up topic


async def announce() -> None:
    """New rows are there: wake the dispatchers of this process and of every instance."""
    await wakeup.announce(NOTIFY_CHANNEL)


def person_channels(person: Person) -> list[tuple[str, str]]:
    """Every (channel, address) a person has: SMS first, then the messenger (R3)."""
    found = []
    if person.phone:
        found.append(("sms", person.phone))
    if person.telegram_chat_id is not None:
        found.append(("telegram", str(person.telegram_chat_id)))
    if person.wecom_userid:
        found.append(("wecom", person.wecom_userid))
    return found


async def enqueue(
    *,
    kind: str,
    people: Iterable[Person],
    context: dict[str, Any],
    due_at: datetime,
    now: datetime,
    matter: Matter | None = None,
    only_channel: str | None = None,
    dedup: str | None = None,
) -> list[OutboundMessage]:
    """One row per person and channel. `dedup` makes a repeated call a no-op per row."""
    made = as_models(await insert_rows(message_rows(
        kind=kind, people=people, context=context, due_at=due_at, matter=matter,
        only_channel=only_channel, dedup=dedup), now))
    if made:
        await announce()
    return made


def message_rows(*, kind: str, people: Iterable[Person], context: dict[str, Any],
                 due_at: datetime, matter: Matter | None = None, only_channel: str | None = None,
                 dedup: str | None = None) -> list[dict[str, Any]]:
    """The rows `enqueue` writes, for a caller that writes many at once (`insert_rows`)."""
    rows = []
    for person in people:
        for channel, address in person_channels(person):
            if only_channel and channel != only_channel:
                continue
            rows.append({
                "matter_id": matter.id if matter else None, "person_id": person.id,
                "unit_id": person.unit_id, "kind": kind, "channel": channel,
                "address": address,
                "context": context | {"person": person.name, "channel": channel},
                "due_at": due_at,
                "dedup_key": f"{dedup}:{person.id}:{channel}" if dedup else None})
    return rows


INSERT_CHUNK = 1000
COLUMNS = ("matter_id", "person_id", "unit_id", "kind", "channel", "address", "context",
           "due_at", "dedup_key", "status", "attempts", "provider_ids", "created_at")
OUTBOUND_TYPES = {"matter_id": "integer", "person_id": "integer", "unit_id": "integer",
                  "context": "jsonb", "due_at": "timestamptz", "attempts": "integer",
                  "provider_ids": "jsonb", "created_at": "timestamptz"}


async def insert_rows(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Write `rows` and their first history entry (PostgreSQL: in one statement; SQLite:
    one statement each); a row whose dedup key is taken already is left out, so a repeated
    call writes nothing twice. A row may name its own `written_at` (`duban simulate` writes
    a stretch of moments at once). Returns the written rows as the database holds them
    (`as_models` makes models of them): a clock tick writes thousands and needs few of
    their fields."""
    if len(rows) > INSERT_CHUNK:  # bounded statements (SQLite's parameters are limited)
        written = []
        for start in range(0, len(rows), INSERT_CHUNK):
            written += await insert_rows(rows[start:start + INSERT_CHUNK], now)
        return written
    if not rows:
        return []
    values = [(row["matter_id"], row["person_id"], row["unit_id"], row["kind"],
               row["channel"], row["address"], json.dumps(row["context"]),
               row["due_at"].astimezone(UTC), row["dedup_key"], MessageStatus.PENDING.value,
               0, "[]", row.get("written_at", now).astimezone(UTC)) for row in rows]
    sql = (f"INSERT INTO outbound_message ({', '.join(COLUMNS)}) "
           f"{rows_source(COLUMNS, len(rows), OUTBOUND_TYPES)} "
           "ON CONFLICT (dedup_key) DO NOTHING RETURNING *")
    bound = rows_parameters(values)
    async with in_transaction() as connection:
        if is_postgres():  # the history in the same statement: one round trip, no read back
            written = await connection.execute_query_dict(
                f"WITH written AS ({sql}), history AS (INSERT INTO message_event "
                "(message_id, status, at, detail) SELECT id, status, created_at, '' "
                "FROM written ORDER BY id) SELECT * FROM written", bound)
        else:
            written = await connection.execute_query_dict(sql, bound)
            if written:  # the history copies `created_at` as stored: no datetime parsed here
                ids = [r["id"] for r in written]
                await connection.execute_query(
                    "INSERT INTO message_event (message_id, status, at, detail) "
                    "SELECT id, ?, created_at, '' FROM outbound_message "
                    f"WHERE id IN ({', '.join(parameters(len(ids)))}) ORDER BY id",
                    [MessageStatus.PENDING.value, *ids])
    return sorted(written, key=lambda r: r["id"])


def as_models(written: list[dict[str, Any]]) -> list[OutboundMessage]:
    """Rows `insert_rows` wrote, made into models as a SELECT would make them."""
    return [OutboundMessage._init_from_db(**r) for r in written]


def rows_source(columns: Sequence[str], count: int, types: Mapping[str, str]) -> str:
    """What an INSERT takes `count` rows of `columns` from, their values `rows_parameters`:
    on PostgreSQL an array a column (`SELECT * FROM unnest($1::integer[], …)`, `types` the
    columns that are not text), so the statement's text is the same whatever the number of
    rows: prepared and planned once, where a VALUES list of a new length was parsed and
    planned again (a batch's inserts were a third of the reply worker's statement time).
    SQLite: a VALUES list."""
    if is_postgres():
        return f"SELECT * FROM {unnested(columns, types)}"
    return f"VALUES {placeholders(count, len(columns))}"


def unnested(columns: Sequence[str], types: Mapping[str, str], first: int = 1) -> str:
    """PostgreSQL: `unnest($1::integer[], $2::text[]) AS v(id, name)`, one array a column."""
    arrays = ", ".join(f"${n}::{types.get(c, 'text')}[]"
                       for n, c in enumerate(columns, start=first))
    return f"unnest({arrays}) AS v({', '.join(columns)})"


def rows_parameters(rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The parameters of `rows_source` or `unnested` (some rows): on PostgreSQL a list a
    column, on SQLite the values row after row."""
    if is_postgres():
        return [list(column) for column in zip(*rows, strict=True)]
    return [value for row in rows for value in row]


def placeholders(rows: int, width: int) -> str:
    """`(?, ?), (?, ?)` (SQLite) or `($1, $2), ($3, $4)` (PostgreSQL) for a VALUES list."""
    marks = parameters(rows * width)
    return ", ".join("(" + ", ".join(marks[i:i + width]) + ")"
                     for i in range(0, len(marks), width))


def parameters(count: int, first: int = 1) -> list[str]:
    """The statement's parameter marks, numbered from `first` on PostgreSQL."""
    if is_postgres():
        return [f"${number}" for number in range(first, first + count)]
    return ["?"] * count


async def create_row(*, now: datetime, **fields: Any) -> OutboundMessage | None:
    """One row, and the dispatchers woken for it."""
    row = await insert_row(now=now, **fields)
    if row is not None:
        await announce()
    return row


async def insert_row(*, now: datetime, **fields: Any) -> OutboundMessage | None:
    try:
        async with in_transaction():
            row = await OutboundMessage.create(created_at=now, **fields)
            await MessageEvent.create(message=row, status=MessageStatus.PENDING, at=now)
    except IntegrityError:
        return None  # this dedup key is queued already
    return row


async def record(row: OutboundMessage, status: MessageStatus, now: datetime, detail: str = "",
                 *, only_if: Q | None = None, **changes: Any) -> bool:
    """Move a row to `status` and append it to the row's history, in one transaction.

    With `only_if` the move is conditional: it happens (and is recorded) only if the row
    still matches, so of two dispatchers racing for one transition exactly one wins."""
    async with in_transaction():
        query = OutboundMessage.filter(id=row.id)
        if only_if is not None:
            query = query.filter(only_if)
        updated = await query.update(status=status, **changes)
        if only_if is not None and not updated:
            return False
        await MessageEvent.create(message_id=row.id, status=status, at=now, detail=detail)
    row.status = status
    for name, value in changes.items():
        setattr(row, name, value)
    return True


async def claim_due(now: datetime, worker: str, lease: timedelta, limit: int = 50
                    ) -> list[OutboundMessage]:
    """Claim up to `limit` due rows for this worker, oldest first, in one statement committed
    before anything is sent, so two dispatchers never hold the same row. On PostgreSQL the
    candidates are locked FOR UPDATE SKIP LOCKED, so instances never queue behind each other;
    SQLite has one writer at a time, so its single UPDATE is atomic as it is."""
    until = now + lease
    if is_postgres():
        return await claim_postgres(now, until, worker, limit)
    ids = await claim_sqlite(now, until, worker, limit)
    if not ids:
        return []  # nothing due: no second query
    return await OutboundMessage.filter(id__in=ids).order_by("due_at", "id")


async def claim_postgres(now: datetime, until: datetime, worker: str, limit: int
                         ) -> list[OutboundMessage]:
    # Each kind of candidate is read from the (status, due_at) index in due_at order and
    # stops at `limit`: no sort of every due row (100,000 due in the same minute took 80 ms
    # a claim that way). The claimed rows come back whole from the UPDATE itself.
    found = await Tortoise.get_connection("default").execute_query_dict(
        "WITH due AS (SELECT id, due_at FROM outbound_message "
        "WHERE status = 'pending' AND due_at <= $3 ORDER BY due_at LIMIT $4 "
        "FOR UPDATE SKIP LOCKED), "
        "expired AS (SELECT id, due_at FROM outbound_message "
        "WHERE status = 'claimed' AND claim_until < $3 ORDER BY due_at LIMIT $4 "
        "FOR UPDATE SKIP LOCKED), "
        "chosen AS (SELECT id FROM (SELECT * FROM due UNION ALL SELECT * FROM expired) AS c "
        "ORDER BY due_at LIMIT $4) "
        "UPDATE outbound_message AS m SET status = 'claimed', claimed_by = $1, claim_until = $2 "
        "FROM chosen WHERE m.id = chosen.id RETURNING m.*", [worker, until, now, limit])
    rows = [OutboundMessage._init_from_db(**row) for row in found]
    return sorted(rows, key=lambda row: (row.due_at, row.id))


async def claim_sqlite(now: datetime, until: datetime, worker: str, limit: int) -> list[int]:
    """The same single UPDATE … RETURNING (SQLite 3.35+): atomic, as SQLite has one writer.
    Times are compared as the text tortoise stores (ISO 8601 in UTC)."""
    now, until = now.astimezone(UTC), until.astimezone(UTC)
    async with in_transaction() as connection:
        rows = await connection.execute_query_dict(
            "UPDATE outbound_message SET status = 'claimed', claimed_by = ?, claim_until = ? "
            "WHERE id IN (SELECT id FROM outbound_message WHERE (status = 'pending' "
            "AND due_at <= ?) OR (status = 'claimed' AND claim_until < ?) ORDER BY due_at, id "
            "LIMIT ?) RETURNING id", [worker, until, now, now, limit])
    return [row["id"] for row in rows]


async def start_sending(rows: list[tuple[OutboundMessage, str]], worker: str, now: datetime,
                        until: datetime) -> list[int]:
    """Mark claimed rows `sending` with their rendered text, in one commit, each only while
    its claim still holds. Returns the ids of the rows that may be sent now."""
    if not rows:
        return []
    if is_postgres():
        won = await start_sending_postgres(rows, worker, now, until)
    else:
        won = await start_sending_sqlite(rows, worker, now, until)
    for row, text in rows:
        if row.id in won:
            row.status, row.text, row.attempts, row.claim_until = (
                MessageStatus.SENDING, text, row.attempts + 1, until)
    return [row.id for row, _ in rows if row.id in won]


async def start_sending_postgres(rows: list[tuple[OutboundMessage, str]], worker: str,
                                 now: datetime, until: datetime) -> set[int]:
    # One statement, so one round trip and atomic by itself: the move and its history.
    found = await Tortoise.get_connection("default").execute_query_dict(
        "WITH won AS (UPDATE outbound_message AS m SET status = 'sending', text = v.text, "
        "attempts = m.attempts + 1, claim_until = $1 "
        "FROM unnest($2::int[], $3::text[], $4::timestamptz[]) AS v(id, text, held) "
        "WHERE m.id = v.id AND m.status = 'claimed' AND m.claimed_by = $5 "
        "AND m.claim_until = v.held RETURNING m.id), "
        "history AS (INSERT INTO message_event (message_id, status, at, detail) "
        "SELECT id, 'sending', $6, '' FROM won) SELECT id FROM won",
        [until, [r.id for r, _ in rows], [t for _, t in rows],
         [r.claim_until for r, _ in rows], worker, now])
    return {f["id"] for f in found}


async def start_sending_sqlite(rows: list[tuple[OutboundMessage, str]], worker: str,
                               now: datetime, until: datetime) -> set[int]:
    # One UPDATE … FROM (VALUES …) RETURNING per chunk (SQLite 3.35+): atomic, as SQLite
    # has one writer; a row moves only while its claim still holds, as on PostgreSQL.
    won: set[int] = set()
    async with in_transaction() as connection:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start:start + INSERT_CHUNK]
            values = [v for row, text in chunk for v in (row.id, text, row.claim_until)]
            found = await connection.execute_query_dict(
                "UPDATE outbound_message SET status = 'sending', text = v.column2, "
                "attempts = attempts + 1, claim_until = ? "
                f"FROM (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) AS v "
                "WHERE outbound_message.id = v.column1 AND status = 'claimed' "
                "AND claimed_by = ? AND claim_until = v.column3 RETURNING outbound_message.id",
                [until.astimezone(UTC), *values, worker])
            won |= {f["id"] for f in found}
        await MessageEvent.bulk_create([
            MessageEvent(message_id=i, status=MessageStatus.SENDING, at=now, detail="")
            for i in sorted(won)])
    return won


# Provider ids a channel answered whose rows are not committed yet: a receipt that arrives
# first (a fast SMSC) waits for them instead of matching no message.
UNWRITTEN: dict[tuple[str, str], asyncio.Future] = {}


async def provider_ids_written(channel: str, provider_id: str) -> bool:
    """Wait until `provider_id` is committed if it is being written now; False if it is not."""
    pending = UNWRITTEN.get((channel, provider_id))
    if pending is None:
        return False
    await asyncio.wait([pending])  # never raises: a failed write is the writer's to report
    return True


GROUP_COMMIT_WAIT = 0.01  # seconds


Submitted = tuple[OutboundMessage, tuple[str, ...], datetime]


class SubmittedWriter(GroupCommit[Submitted, None]):
    """Records accepted sends in batches: a busy dispatcher commits many outcomes at once.
    Under load outcomes arrive a few per millisecond, so by default a batch waits this long
    for more; a caller whose sends all finish in one turn of the loop (the simulation's
    recording channels) needs no wait."""

    def __init__(self, wait: float = GROUP_COMMIT_WAIT) -> None:
        super().__init__(write_submitted, wait)

    async def add(self, row: OutboundMessage, provider_ids: tuple[str, ...],
                  now: datetime) -> None:
        done = self.submit((row, provider_ids, now))
        keys = [(row.channel, pid) for pid in provider_ids]
        for key in keys:  # a receipt for these waits until they are written
            UNWRITTEN[key] = done
        try:
            await done
        finally:
            for key in keys:
                if UNWRITTEN.get(key) is done:
                    del UNWRITTEN[key]


async def write_submitted(batch: list[Submitted]) -> list[None]:
    """Rows the channel accepted: `submitted`, their provider ids kept to match receipts."""
    if is_postgres():
        await write_submitted_postgres(batch)
    else:
        await write_submitted_sqlite(batch)
    for row, ids, now in batch:
        row.status, row.provider_ids, row.sent_at = MessageStatus.SUBMITTED, list(ids), now
    return [None] * len(batch)


async def write_submitted_postgres(batch: list[Submitted]) -> None:
    # One statement for the whole batch (the move, its history, the receipts' keys): one
    # round trip, atomic by itself.
    parts = [(row.id, row.channel, pid) for row, ids, _ in batch for pid in ids]
    await Tortoise.get_connection("default").execute_query(
        "WITH v AS (SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::text[])"
        " AS v(id, ids, at, detail)), "
        "moved AS (UPDATE outbound_message AS m SET status = 'submitted', sent_at = v.at, "
        "provider_ids = v.ids::jsonb FROM v WHERE m.id = v.id), "
        "history AS (INSERT INTO message_event (message_id, status, at, detail) "
        "SELECT id, 'submitted', at, detail FROM v) "
        "INSERT INTO provider_id (message_id, channel, provider_id) "
        "SELECT * FROM unnest($5::int[], $6::text[], $7::text[]) "
        "ON CONFLICT (channel, provider_id) DO NOTHING",
        [[r.id for r, _, _ in batch], [json_list(ids) for _, ids, _ in batch],
         [now for _, _, now in batch], [",".join(ids) for _, ids, _ in batch],
         [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]])


async def write_submitted_sqlite(batch: list[Submitted]) -> None:
    async with in_transaction() as connection:
        await connection.execute_many(
            "UPDATE outbound_message SET status = 'submitted', provider_ids = ?, sent_at = ? "
            "WHERE id = ?", [[json_list(ids), now.astimezone(UTC), row.id]
                             for row, ids, now in batch])
        await MessageEvent.bulk_create([
            MessageEvent(message_id=row.id, status=MessageStatus.SUBMITTED, at=now,
                         detail=",".join(ids)) for row, ids, now in batch])
        await ProviderId.bulk_create([
            ProviderId(message_id=row.id, channel=row.channel, provider_id=pid)
            for row, ids, _ in batch for pid in ids], ignore_conflicts=True)


def json_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items), separators=(",", ":"))
