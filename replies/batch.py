"""The reply worker's batches: the oldest waiting message of many senders, claimed together,
and the plain receipts and progress reports among them filed together.

Most replies are "收到" or a progress report on a matter the sender plainly names: by its
code or short number among their own open matters, or as their only one. Those of a batch
are filed with one `file_feedbacks` and answered with one insert (`Inbox.process_rows`);
every other message (a question, an error, a list, an application, a second message on a
matter of the batch) is processed alone, as before. A batch holds one message a sender,
so each sender's messages are still processed one at a time in arrival order."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import Tortoise
from tortoise.functions import Min

from dispatch.wakeup import is_postgres
from models import InboundMessage, Matter, Person
from replies.parser import Intent, IntentKind, parse_reply
from replies.short_numbers import Number, by_extension
from replies.store import Status
from workflow.context import Context
from workflow.feedback import FeedbackDraft
from workflow.steps import read_held

FEEDBACK_KINDS = (IntentKind.ACKNOWLEDGE, IntentKind.PROGRESS)
# Senders a batch considers, in multiples of its size: the longest-waiting ones may be
# another worker's (instances on one database).
CANDIDATES = 4


@dataclass
class Quick:
    """A receipt or progress report that plainly names one of the sender's open matters."""

    row: InboundMessage
    person: Person
    intent: Intent
    named: Number  # the matter it names, and the sender's short number for it
    matter: Matter | None = None  # read once the batch is sorted out

    @property
    def draft(self) -> FeedbackDraft:
        assert self.matter is not None
        return FeedbackDraft(self.matter, self.person, self.row.channel, self.intent.text,
                             ack_only=self.intent.kind is IntentKind.ACKNOWLEDGE)


async def sort_out(rows: list[InboundMessage], people: dict[int, Person | None],
                   numbers: dict[int, list[Number]], ctx: Context
                   ) -> tuple[list[Quick], list[InboundMessage]]:
    """The rows (by id: `people`) that can be filed together, one a matter, with their
    matters read and held (`workflow.steps.read_held`); and the rest."""
    quick, rest = {}, []
    for row in rows:
        person = people[row.id]
        found = quick_one(row, person, numbers[person.id], ctx) if person else None
        if found is None or found.named.matter_id in quick:
            rest.append(row)
        else:
            quick[found.named.matter_id] = found
    for matter in await read_held(list(quick)):
        quick[matter.id].matter = matter
    return list(quick.values()), rest


def quick_one(row: InboundMessage, person: Person, numbers: list[Number], ctx: Context
              ) -> Quick | None:
    if row.raw_data.get("incomplete"):
        return None
    parsed = by_extension(parse_reply(row.text, now=ctx.clock.now(), tz=ctx.tz), row.raw_data)
    if not isinstance(parsed, Intent) or parsed.kind not in FEEDBACK_KINDS or (
            parsed.kind is IntentKind.ACKNOWLEDGE and parsed.report):
        return None  # a receipt with a report files two feedbacks: processed alone
    named = plainly_named(parsed, numbers)
    return Quick(row, person, parsed, named) if named else None


def plainly_named(intent: Intent, numbers: list[Number]) -> Number | None:
    """The sender's open matter the intent names (code, short number, or their only one);
    None when that takes more (a matter not theirs, a closed one's number, a choice)."""
    if intent.matter_code:
        found = [n for n in numbers if n.code == intent.matter_code]
    elif intent.short_number is not None:
        found = [n for n in numbers if n.number == intent.short_number]
    else:
        found = numbers
    return found[0] if len(found) == 1 else None


async def claim_batch(limit: int) -> list[InboundMessage]:
    """The oldest waiting message of up to `limit` senders, longest-waiting first, locked
    for this transaction: only senders no other worker is on (`lock_senders`), and on
    PostgreSQL their rows locked. Several times `limit` senders are candidates: while
    another worker holds the longest-waiting ones, this one takes the next."""
    firsts = await (InboundMessage.filter(status=Status.RECEIVED)
                    .annotate(first=Min("id")).group_by("channel", "sender")
                    .order_by("first").limit(limit * CANDIDATES)
                    .values_list("channel", "sender", "first"))
    if not firsts:
        return []
    held = await lock_senders([(channel, sender) for channel, sender, _ in firsts], limit)
    ids = [first for (_, _, first), mine in zip(firsts, held, strict=True) if mine]
    query = InboundMessage.filter(id__in=ids, status=Status.RECEIVED).order_by("id")
    return await (query.select_for_update() if is_postgres() else query)


async def lock_senders(senders: list[tuple[str, str]], limit: int | None = None
                       ) -> list[bool]:
    """Try each (channel, sender)'s advisory lock for this transaction, in order and in one
    statement, until `limit` are held; whether each is now this transaction's: one
    sender's messages are processed one at a time, across workers and instances. SQLite
    runs one transaction at a time: the first `limit` are."""
    limit = len(senders) if limit is None else limit
    if not is_postgres():
        return [n < limit for n in range(len(senders))]
    # The scan of unnest is in order and LIMIT stops it: no lock is tried past the last
    # one needed, so none is held that the batch will not use.
    held = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS k(key, n) "
        "WHERE pg_try_advisory_xact_lock(hashtextextended(key, 0)) LIMIT $2",
        [[sender_key(channel, sender) for channel, sender in senders], limit])
    numbers = {r["n"] for r in held}
    return [n in numbers for n in range(1, len(senders) + 1)]


def sender_key(channel: str, sender: str) -> str:
    """The advisory lock's key."""
    return f"inbound:{channel}:{sender}"
