"""The inbound reply path: every message a person sends becomes at most one change and one answer.

1. The raw message is stored first, in its own commit, so nothing is lost whatever happens
   next; a provider's resend of a message already handled stops there. Under `duban serve`
   the provider is answered right then and the reply worker (`replies.worker`) does the rest;
   simulate and direct callers have it done before `inbound` returns. Either way one
   sender's messages are processed one at a time in arrival order, in every instance: a "是"
   confirms the message before it.
2. The sender is identified by address; an unknown sender changes nothing.
3. The text is parsed (a question asked back, e.g. for an input-method slip, changes
   nothing; "是" as the very next message applies what it proposed); 4. the matter is
   resolved: a code, a short number, or the sender's only open matter — never a guess
   such as "the latest".
5. The workflow service makes the change; it alone holds the rules.
6. The answer (kind "reply", on the channel the message came from) says what was understood
   or precisely why nothing was done (R15, R36).
7. The row records the outcome.

Steps 2-7 run in one transaction: a change, its answer and the row's status commit together
or not at all. If they fail, the row is marked `error` and the sender told to resend. The
reply worker runs them for a batch of senders at once (`replies.batch`): the plain receipts
and progress reports together, the other messages one by one in savepoints of the batch's
transaction, so that a failure still fails only its own message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from dispatch import metrics
from dispatch.channel import InboundText, Receipt
from dispatch.group_commit import GroupCommit
from dispatch.outbox import NOTIFY_CHANNEL, create_row, insert_rows, message_rows
from dispatch.outbox import announce as announce_outbox
from dispatch.pacing import paced
from dispatch.receipts import apply_receipt
from dispatch.wakeup import announce, is_postgres, wake_here
from models import (
    Application,
    ApplicationStatus,
    InboundMessage,
    Matter,
    MatterState,
    Person,
)
from replies.batch import claim_batch, lock_senders, sort_out
from replies.parser import Intent, IntentKind, ParseError, Question, parse_reply
from replies.short_numbers import (
    Numbered,
    by_extension,
    matter_by_number,
    numbered_matters,
    numbers_many,
)
from replies.store import Status, store, store_many
from scheduler.rules import Kind, NodeState, node_states
from sms_gateway.text import to_e164
from workflow import queries, service
from workflow.bulk import update_many
from workflow.chase import message_context
from workflow.context import Context
from workflow.errors import Refused
from workflow.facts import matter_facts
from workflow.feedback import Filed, file_feedback, file_feedbacks
from workflow.permissions import Action, may
from workflow.states import OPEN
from workflow.steps import NODE_ROWS_AHEAD

log = logging.getLogger("duban.replies")

# An auto-responder answering our answers must not loop with us: after this many help or
# error answers in a row to one address within the window, further ones are not sent until
# the person sends a command we understand (or the window has passed).
NOISE_CAP = 5
NOISE_WINDOW = timedelta(hours=24)
LIST_LIMIT = 10  # matters named in one answer; an SMS must stay readable
# A question asked back ("您是想回复“D2 收到”吗？") may be confirmed with "是" only as the
# person's very next message on that channel, and only this soon after it.
CONFIRM_WINDOW = timedelta(minutes=30)
VIEW_LINES = 2  # open nodes, and latest records, in a view answer: it must fit 3 SMS segments
SHORT_TIME = "%m-%d %H:%M"
SYSTEM_ACTORS = {"clock", "cli", "web", "simulate", "sms", "telegram", "wecom"}  # Actor.label
EXAMPLE_CODE = "D17"  # for grammar examples when the person has no matter to name
INBOUND_TOPIC = "duban_inbound"  # the reply workers' wake-up (dispatch.wakeup)

CHAT_ID = re.compile(r"-?[0-9]{1,18}")  # fits the BigInt column
USERID = re.compile(r"[A-Za-z0-9_@.\-]{1,64}")  # WeCom userid


@dataclass
class Answer:
    """What came of one message: the row's status, the answer template and its context."""

    status: Status
    reason: str  # the template under templates/replies/
    label: str  # InboundMessage.outcome
    matter: Matter | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def noisy(self) -> bool:
        return is_noise(self.status, self.label)


def is_noise(status: str, outcome: str) -> bool:
    """Help and error answers are what an auto-responder loop would produce."""
    return status == Status.ERROR or outcome.startswith("help")


@dataclass
class Done:
    """What a matter command did: its answer's template and extra context, and what the
    feedback it filed left known about the matter, to name it in the answer unread."""

    reason: str
    extra: dict[str, Any]
    filed: Filed | None = None


Answered = tuple[InboundMessage, Person | None, Answer]  # a message, its sender, its answer

# A matter command makes one workflow call and names its answer.
MatterCommand = Callable[[Context, Intent, Matter, Person, str], Awaitable[Done]]


class Inbox:
    """The InboundSink of every channel (SMS adapters, the bot, simulate)."""

    def __init__(self, ctx: Context, *, later: bool = False) -> None:
        """`later`: store and return, a ReplyWorker processes (`duban serve`); the messages
        arriving together are stored together. Otherwise `inbound` returns once the message
        is processed."""
        self.ctx = ctx
        self.later = later
        # No pause to gather a batch: an idle webhook stores at once, and under load the
        # replies arriving while one batch is written make the next.
        self.stored = GroupCommit(self.store_waiting, wait=0)
        self.arrived = 0  # replies this instance has stored (the reply worker's batch size)

    # --- the sink -----------------------------------------------------------------------

    async def inbound(self, message: InboundText) -> None:
        """Raises only when the raw row cannot be stored, so the provider delivers again."""
        if self.later:
            await self.stored.add(message)
            return
        row = await store(message, self.ctx.clock.now())
        if row is not None:  # None: a resend of a message already handled
            await self.drain(row.channel, row.sender)

    async def store_waiting(self, messages: list[InboundText]) -> list[None]:
        """A batch stored raw; the reply workers of every instance woken for it."""
        stored = await store_many(messages, self.ctx.clock.now())
        self.arrived += len(messages)
        if any(row is not None for row in stored):
            try:
                await announce(INBOUND_TOPIC)
            except Exception:  # stored is stored: a retry would store a message twice
                log.warning("inbound: waking the reply workers failed; their poll finds "
                            "the stored replies", exc_info=True)
        return [None] * len(messages)

    async def receipt(self, receipt: Receipt) -> None:
        await apply_receipt(receipt, self.ctx.clock.now())

    # --- processing: a batch, one sender, one message --------------------------------------

    async def drain_batch(self, limit: int) -> int:
        """The oldest waiting message of up to `limit` senders, processed in one
        transaction; returns how many were claimed (0: none waiting, or every waiting
        sender is another worker's). When the batch fails, its senders are drained one by
        one, so that a bad message fails only itself."""
        rows: list[InboundMessage] = []
        try:
            async with in_transaction():
                rows = await claim_batch(limit)
                await self.process_rows(rows)
            if rows:
                wake_here(NOTIFY_CHANNEL)  # the answers are committed now
        except Exception:
            if not rows:
                raise
            log.exception("inbound: a batch of %d failed; its senders are processed alone",
                          len(rows))
            for channel, sender in dict.fromkeys((r.channel, r.sender) for r in rows):
                await self.drain(channel, sender)
        return len(rows)

    async def drain(self, channel: str, sender: str) -> int:
        """Process the sender's waiting messages one by one in arrival order; returns how
        many. Stops at once when another worker (of any instance) is on them: it drains
        them all."""
        done = 0
        while await self.process_next(channel, sender):
            done += 1
        return done

    async def process_next(self, channel: str, sender: str) -> bool:
        """The sender's oldest waiting message, processed; False when there is none."""
        claimed: int | None = None
        try:
            async with in_transaction():
                row = await claim_next(channel, sender)
                if row is None:
                    return False
                claimed = row.id
                await self.process_rows([row])
            wake_here(NOTIFY_CHANNEL)  # the answer is committed now
        except Exception as exc:
            if claimed is None:
                raise
            log.exception("inbound message %s: processing failed", claimed)
            await self.fail(claimed, exc)
        return True

    async def process_rows(self, rows: list[InboundMessage]) -> None:
        """Process claimed rows, one a sender, in the caller's transaction: the plain
        receipts and progress reports together (`replies.batch`), then the rest one by one.
        A failure of one of the rest fails only that one."""
        now = self.ctx.clock.now()
        people = await identify_many(rows)
        known = [p for p in people.values() if p is not None]
        numbers = await numbers_many(known, now) if known else {}
        quick, rest = await sort_out(rows, people, numbers, self.ctx)
        filed = await file_feedbacks(self.ctx, [q.draft for q in quick], held=True)
        answered = []
        async for q, outcome in paced(zip(quick, filed, strict=True)):
            if isinstance(outcome, Refused):
                rest.append(q.row)  # processed alone, it is answered with the refusal
            else:
                done = feedback_done(q.intent, outcome)
                answered.append((q.row, q.person, await self.about(
                    q.matter, q.named.number,
                    done_answer(q.intent, q.named.code, done), outcome)))
        await self.send_answers(answered)
        await finish_many(answered)
        for row in sorted(rest, key=lambda r: r.id):
            await self.process_alone(row, people[row.id])

    async def process_alone(self, row: InboundMessage, person: Person | None) -> None:
        """One message in its own savepoint: when it fails, it alone is marked `error`."""
        try:
            async with in_transaction():
                await self.process(row, person)
        except Exception as exc:
            log.exception("inbound message %s: processing failed", row.id)
            await self.fail(row.id, exc)

    async def process(self, row: InboundMessage, person: Person | None) -> None:
        if person is None:
            answer = await self.unregistered(row)
        else:
            answer = await self.reply(row, person, await self.understand(row, person))
        await finish(row, person, answer)

    async def fail(self, row_id: int, exc: Exception) -> None:
        """Processing raised and was rolled back: nothing changed; say so once."""
        async with in_transaction():
            row = await claim(row_id)
            if row is None:
                return
            person = await identify(row.channel, row.sender)
            answer = Answer(Status.ERROR, "internal_error", f"internal {type(exc).__name__}")
            if person is not None:
                answer = await self.reply(row, person, answer)
            await finish(row, person, answer)

    async def understand(self, row: InboundMessage, person: Person) -> Answer:
        if row.raw_data.get("incomplete"):
            # Some parts of a long SMS never arrived; acting on the rest would be a guess.
            return Answer(Status.ERROR, "incomplete", "incomplete")
        mine = await numbered_matters(person, self.ctx.clock.now())
        parsed = parse_reply(row.text, now=self.ctx.clock.now(), tz=self.ctx.tz)
        parsed = by_extension(parsed, row.raw_data)
        if isinstance(parsed, Intent) and parsed.kind is IntentKind.CONFIRM:
            parsed = await pending_question(row, person, self.ctx)
            if parsed is None:
                # An error, so that an auto-responder's "是" counts towards the noise cap.
                return Answer(Status.ERROR, "nothing_to_confirm", "error nothing_to_confirm")
            parsed = parsed.proposal  # the person confirmed what we asked about
        if isinstance(parsed, Question):
            return Answer(Status.ERROR, "did_you_mean", f"question {parsed.code}",
                          context={"detail": parsed.detail})  # fmt: skip
        if isinstance(parsed, ParseError):
            return Answer(
                Status.ERROR,
                "not_understood",
                f"parse {parsed.code}",
                context={
                    "error": parsed.code,
                    "detail": parsed.detail,
                    "example": await example(person, mine),
                },
            )
        return await self.act(parsed, person, row.channel, mine)

    async def act(
        self, intent: Intent, person: Person, channel: str, mine: list[Numbered]
    ) -> Answer:
        if intent.kind is IntentKind.LIST:
            return await self.listing(person, mine)
        if intent.kind is IntentKind.HELP:
            return Answer(
                Status.DONE,
                "help",
                "help",
                context={
                    "supervisor": bool(await supervised_open_matters(person)),
                    "example": await example(person, mine),
                },
            )
        if intent.kind is IntentKind.ACKNOWLEDGE_ALL:
            return await self.acknowledge_all(intent, person, channel, mine)
        found = await self.resolve(intent, person, mine)
        if isinstance(found, Answer):
            return found
        filed = None  # what a feedback the command filed left known about the matter
        try:
            done = await COMMANDS[intent.kind](self.ctx, intent, found, person, channel)
        except Refused as refused:
            params = {k: str(v) for k, v in refused.params.items()}
            answer = Answer(
                Status.REFUSED,
                "refused",
                f"refused {refused.code} {found.code}",
                context={"refusal": refused.code, "params": params},
            )
            if not await may(person, Action.VIEW, found):
                return code_only(found, answer)
        else:
            answer, filed = done_answer(intent, found.code, done), done.filed
        numbers = {n.matter.id: n.number for n in mine}
        return await self.about(found, numbers.get(found.id), answer, filed)

    async def resolve(
        self, intent: Intent, person: Person, mine: list[Numbered]
    ) -> Matter | Answer:
        """The one matter the message means, or the answer asking which (never a guess)."""
        if intent.matter_code:
            # The person's own open matters were read in this transaction: no second read.
            known = {n.matter.code: n.matter for n in mine}
            matter = known.get(intent.matter_code) or await Matter.get_or_none(
                code=intent.matter_code)
            return matter or await self.which("unknown_code", mine, intent.matter_code)
        if intent.short_number is not None:
            matter = await matter_by_number(person, intent.short_number, self.ctx.clock.now())
            return matter or await self.which("unknown_number", mine, str(intent.short_number))
        if len(mine) == 1:
            return mine[0].matter
        return await self.which("several_open" if mine else "no_open_matter", mine)

    async def which(self, problem: str, mine: list[Numbered], given: str = "") -> Answer:
        return Answer(
            Status.REFUSED,
            "which_matter",
            f"refused {problem} {given}".strip(),
            context={"problem": problem, "given": given, "matters": await self.items(mine)},
        )

    async def acknowledge_all(
        self, intent: Intent, person: Person, channel: str, mine: list[Numbered]
    ) -> Answer:
        """全部收到: every matter of the person still awaiting receipt; nothing else."""
        waiting = [n for n in mine if n.matter.state is MatterState.ASSIGNED]
        acked, skipped = [], []
        for numbered in waiting:
            item = {"code": numbered.matter.code, "number": numbered.number}
            try:
                await file_feedback(
                    self.ctx, numbered.matter, person, channel, intent.text, ack_only=True
                )
                acked.append(item)
            except Refused as refused:
                skipped.append(item | {"refusal": refused.code})
        status = Status.DONE if acked else Status.REFUSED
        label = (
            "acknowledge_all " + ",".join(i["code"] for i in acked)
            if acked
            else "refused nothing_to_acknowledge"
        )
        return Answer(
            status,
            "acknowledged_all",
            label,
            matter=waiting[0].matter if len(waiting) == 1 else None,
            context={"acked": acked, "skipped": skipped},
        )

    async def listing(self, person: Person, mine: list[Numbered]) -> Answer:
        supervised = await supervised_open_matters(person)
        pending = dict(
            await Application.filter(
                matter_id__in=[m.id for m in supervised], status=ApplicationStatus.PENDING
            ).values_list("matter_id", "kind")
        )
        return Answer(
            Status.DONE,
            "matter_list",
            "list",
            context={
                "matters": await self.items(mine),
                "total": len(mine),
                "supervised": [
                    {"code": m.code, "title": m.title, "pending": pending.get(m.id)}
                    for m in supervised[:LIST_LIMIT]
                ],
                "supervised_total": len(supervised),
            },
        )

    async def items(self, numbered: list[Numbered]) -> list[dict[str, Any]]:
        return [
            {
                "code": n.matter.code,
                "number": n.number,
                "title": n.matter.title,
                "state": n.matter.state.value,
                "due": await self.next_due(n.matter),
            }
            for n in numbered[:LIST_LIMIT]
        ]

    async def about(self, matter: Matter, number: int | None, answer: Answer,
                    filed: Filed | None = None) -> Answer:
        """Name the matter in the answer: code, title, short number, next deadline; from
        what the feedback just `filed` left known, if the command filed one."""
        answer.matter = matter
        answer.context = (
            await message_context(self.ctx, matter, filed.headings if filed else None)
            | {
                "number": number,
                "due": await self.next_due(matter, filed.states if filed else None),
            }
            | answer.context
        )
        return answer

    async def next_due(self, matter: Matter, states: list[NodeState] | None = None
                       ) -> dict[str, Any] | None:
        """The earliest node not yet satisfied, as the clock sees it (it may be overdue).
        Given the node `states` a feedback just left, the matter is the one it was filed
        on: its catch-up may since have moved its state, but never out of OPEN (the clock's
        moves lead from open states to open ones)."""
        now = self.ctx.clock.now()
        if states is None:
            matter = await Matter.get(id=matter.id)
            states = node_states(await matter_facts(matter), self.ctx.policy,
                                 self.ctx.calendar, now + NODE_ROWS_AHEAD)
        if matter.state not in OPEN:
            return None
        node = next((s.node for s in states if s.satisfied_at is None), None)
        if node is None:
            return None
        return {
            "node": node.key,
            "overdue": node.due < now,
            "at": node.due.astimezone(self.ctx.tz).strftime("%m-%d %H:%M"),
        }

    # --- answering ------------------------------------------------------------------------

    async def reply(self, row: InboundMessage, person: Person, answer: Answer) -> Answer:
        """One answer per message, on its channel (R36), unless the noise cap is reached."""
        if answer.noisy and await noise_capped(row, person, self.ctx):
            answer.label += " (unanswered: cap)"
            return answer
        await self.send_answers([(row, person, answer)])
        return answer

    async def send_answers(self, answered: list[Answered]) -> None:
        """Each message's answer, on its channel, written at once."""
        now = self.ctx.clock.now()
        rows = [letter for row, person, answer in answered for letter in message_rows(
            kind=Kind.REPLY.value, people=[person],
            context=answer.context | {"reason": answer.reason}, due_at=now,
            matter=answer.matter, only_channel=row.channel, dedup=f"reply:{row.id}")]
        if await insert_rows(rows, now):
            await announce_outbox()

    async def unregistered(self, row: InboundMessage) -> Answer:
        """An address we do not know: change nothing, and say so at most once a day."""
        address = reply_address(row.channel, row.sender)
        if address is None:
            return Answer(
                Status.REFUSED, "not_registered", "not_registered (unanswered: no address)"
            )
        now = self.ctx.clock.now()
        day = now.astimezone(self.ctx.tz).date().isoformat()
        sent = await create_row(
            kind=Kind.REPLY.value,
            channel=row.channel,
            address=address,
            context={"reason": "not_registered", "channel": row.channel, "person": ""},
            due_at=now,
            now=now,
            dedup_key=f"not_registered:{row.channel}:{address}:{day}",
        )
        label = "not_registered" if sent else "not_registered (unanswered: once a day)"
        return Answer(Status.REFUSED, "not_registered", label)


def code_only(matter: Matter, answer: Answer) -> Answer:
    """Issue 8 item 6: a refusal to someone of another unit names the matter by its code
    only — nothing of its title, units or state."""
    answer.matter = matter
    hidden = {"title": "", "number": None, "initiator": "", "lead": "", "state": "", "due": None}
    answer.context = {"code": matter.code, **hidden} | answer.context
    return answer


# --- matter commands: each one workflow call -------------------------------------------------


async def acknowledge(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    """A receipt, and the progress report it carries ("收到。进展：…"), if any (R15)."""
    filed = await file_feedback(ctx, matter, person, channel, intent.text, ack_only=True)
    if intent.report:
        filed = await file_feedback(ctx, matter, person, channel, intent.report,
                                    ack_only=False)
    return feedback_done(intent, filed)


async def progress(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    filed = await file_feedback(ctx, matter, person, channel, intent.text, ack_only=False)
    return feedback_done(intent, filed)


def feedback_done(intent: Intent, filed: Filed) -> Done:
    """What a receipt or progress report says in its answer."""
    if intent.kind is IntentKind.ACKNOWLEDGE:
        return Done("acknowledged", {"report": intent.report}, filed)
    return Done("progress_recorded",
                {"text": intent.text, "not_completion": bool(intent.reading)}, filed)


def done_answer(intent: Intent, code: str, done: Done) -> Answer:
    return Answer(Status.DONE, done.reason, f"{intent.kind.value} {code}",
                  context=done.extra)


async def extension(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    assert intent.new_deadline is not None  # the parser refuses an extension without one
    await service.request_extension(ctx, matter, person, channel, intent.new_deadline, intent.text)
    return Done("extension_requested", {"new_deadline": intent.new_deadline.isoformat()})


async def completion(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    await service.request_completion(ctx, matter, person, channel, intent.text)
    return Done("completion_requested", {})


async def consent(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    assert intent.agreed is not None  # the parser sets it for every consent
    refusals = await service.record_consent(
        ctx, matter, person, channel, intent.agreed, intent.text
    )
    return Done("consent_recorded", {"agreed": intent.agreed, "refusals": refusals,
                                     "service_object": matter.service_object})


async def approve(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    what = await service.approve(ctx, matter, person, channel)
    return Done("approved", {"what": what})


async def return_(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    what = await service.return_matter(ctx, matter, person, channel, intent.text)
    return Done("return_done", {"what": what})


async def grade(ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str) -> Done:
    assert intent.grade is not None  # the parser refuses a grade it cannot read
    await service.grade(ctx, matter, person, channel, intent.grade)
    return Done("graded", {"grade": intent.grade})


async def view(
    ctx: Context, intent: Intent, matter: Matter, person: Person, channel: str
) -> Done:
    """查看 D17 (or "/matter D17", as supervisors' messages say): the matter's state, its
    open nodes and latest records, for whoever may see it — also by SMS."""
    if not await may(person, Action.VIEW, matter):
        raise Refused("not_visible")
    found = await queries.matter_view(matter.code, [matter.board])
    now, tz = ctx.clock.now(), ctx.tz
    open_nodes = [n for n in found.nodes if n.satisfied_at is None] if found else []
    # A receipt is both a feedback and the state move it causes: the move says it. Audit rows
    # that move nothing (a regrade, a replan) are for the console, not an SMS.
    records = [e for e in found.entries if (e.kind, e.what) != ("feedback", "ack")
               and (e.kind != "audit" or e.state)] if found else []
    return Done("matter_view", {
        "nodes_done": len(found.nodes) - len(open_nodes) if found else 0,
        "open_nodes": [{"node": n.key, "at": n.due_at.astimezone(tz).strftime(SHORT_TIME),
                        "overdue": n.due_at < now} for n in open_nodes[:VIEW_LINES]],
        "entries": [{"at": e.at.astimezone(tz).strftime(SHORT_TIME),
                     "who": "系统" if e.who in SYSTEM_ACTORS else e.who,
                     "kind": e.kind, "what": e.what, "state": e.state or ""}
                    for e in records[-VIEW_LINES:]],
    })


COMMANDS: dict[IntentKind, MatterCommand] = {
    IntentKind.ACKNOWLEDGE: acknowledge,
    IntentKind.PROGRESS: progress,
    IntentKind.EXTENSION: extension,
    IntentKind.COMPLETION: completion,
    IntentKind.CONSENT: consent,
    IntentKind.APPROVE: approve,
    IntentKind.RETURN: return_,
    IntentKind.GRADE: grade,
    IntentKind.VIEW: view,
}


# --- rows and addresses ----------------------------------------------------------------------


async def claim_next(channel: str, sender: str) -> InboundMessage | None:
    """The sender's oldest waiting message, unless another worker is processing one of
    theirs: on PostgreSQL a transaction-scoped advisory lock on the sender keeps their
    messages one at a time and in order across workers and instances (SQLite runs one
    transaction at a time anyway)."""
    if not (await lock_senders([(channel, sender)]))[0]:
        return None
    query = InboundMessage.filter(channel=channel, sender=sender, status=Status.RECEIVED)
    if is_postgres():
        query = query.select_for_update()
    return await query.order_by("id").first()


async def claim(row_id: int) -> InboundMessage | None:
    """The row if it still waits for processing, locked against a concurrent worker."""
    query = InboundMessage.filter(id=row_id, status=Status.RECEIVED)
    if is_postgres():
        query = query.select_for_update()
    return await query.first()


async def finish(row: InboundMessage, person: Person | None, answer: Answer) -> None:
    await finish_many([(row, person, answer)])


async def finish_many(answered: list[Answered]) -> None:
    """Each row's outcome, written at once."""
    await update_many("inbound_message", ("id", "status", "outcome", "person_id", "matter_id"),
                      [(row.id, answer.status.value, answer.label,
                        person.id if person else None,
                        answer.matter.id if answer.matter else None)
                       for row, person, answer in answered],
                      types={"id": "integer", "person_id": "integer", "matter_id": "integer"})
    for row, _, answer in answered:
        metrics.INBOUND.labels(row.channel, answer.status.value).inc()


def reply_address(channel: str, sender: str) -> str | None:
    """The sender as we store addresses: E.164 for SMS, the chat id for the messenger."""
    if channel == "sms":
        try:
            return to_e164(sender.strip())
        except ValueError:
            return None
    if channel == "telegram" and CHAT_ID.fullmatch(sender.strip()):
        return str(int(sender))
    if channel == "wecom" and USERID.fullmatch(sender):
        return sender
    return None


ADDRESS_FIELDS = {"sms": "phone", "telegram": "telegram_chat_id", "wecom": "wecom_userid"}


async def identify(channel: str, sender: str) -> Person | None:
    return (await identify_senders([(channel, sender)]))[0]


async def identify_many(rows: list[InboundMessage]) -> dict[int, Person | None]:
    """Each row's sender, by row id."""
    people = await identify_senders([(row.channel, row.sender) for row in rows])
    return {row.id: person for row, person in zip(rows, people, strict=True)}


async def identify_senders(senders: list[tuple[str, str]]) -> list[Person | None]:
    """The active person behind each (channel, sender), if any: one query a channel."""
    found: list[Person | None] = [None] * len(senders)
    wanted: dict[str, dict[Any, list[int]]] = {}  # channel -> address -> indexes
    for index, (channel, sender) in enumerate(senders):
        address = reply_address(channel, sender)
        if address is not None:
            key = person_address(channel, address)
            wanted.setdefault(channel, {}).setdefault(key, []).append(index)
    for channel, addresses in wanted.items():
        field = ADDRESS_FIELDS[channel]
        for person in await Person.filter(**{f"{field}__in": list(addresses)}, active=True):
            for index in addresses.get(getattr(person, field), []):
                found[index] = person
    return found


def person_address(channel: str, address: str) -> Any:
    """The address as the person's column holds it."""
    return int(address) if channel == "telegram" else address


async def supervised_open_matters(person: Person) -> list[Matter]:
    """The open matters this person reviews as their initiator's people (R16, R29, R30)."""
    matters = await Matter.filter(initiator_id=person.unit_id, state__in=list(OPEN)).order_by(
        "assigned_at", "id"
    )
    return [m for m in matters if await may(person, Action.REVIEW, m)]


async def pending_question(row: InboundMessage, person: Person, ctx: Context) -> Question | None:
    """The question a "是" confirms: the person's previous message on this channel, if it
    was answered with a question (not capped) within CONFIRM_WINDOW. It is parsed again
    as of its own arrival, so what was proposed is exactly what is applied."""
    previous = (
        await InboundMessage.filter(channel=row.channel, person=person, id__lt=row.id)
        .order_by("-id")
        .first()
    )
    if (
        previous is None
        or not previous.outcome.startswith("question ")
        or "unanswered" in previous.outcome
        or previous.received_at < ctx.clock.now() - CONFIRM_WINDOW
    ):
        return None
    asked = parse_reply(previous.text, now=previous.received_at, tz=ctx.tz)
    return asked if isinstance(asked, Question) else None


async def example(person: Person, mine: list[Numbered]) -> str:
    """A code the person knows, for the grammar examples of help and error answers."""
    if mine:
        return mine[0].matter.code
    supervised = await supervised_open_matters(person)
    return supervised[0].code if supervised else EXAMPLE_CODE


async def noise_capped(row: InboundMessage, person: Person, ctx: Context) -> bool:
    """True when the last NOISE_CAP messages of this address in the window were all noise."""
    since = ctx.clock.now() - NOISE_WINDOW
    recent = (
        await InboundMessage.filter(
            channel=row.channel, person=person, id__lt=row.id, received_at__gte=since
        )
        .order_by("-id")
        .limit(NOISE_CAP)
        .values_list("status", "outcome")
    )
    return len(recent) == NOISE_CAP and all(is_noise(s, o) for s, o in recent)
