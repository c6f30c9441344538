"""One message per person, on the channel they use (issue 9 part 4; R3, R35).

Each person has a channel preference: `both` (SMS and the messenger, the default),
`sms_only`, or `messenger_first`: the messenger, and SMS as well when the messenger send
fails for good (the dispatcher's failover) or the person has not read it within
`sms_fallback_hours`. The messenger gives bots no read receipts, so "read" means what we
can see: the person sent something about that matter (a reply or a button press) after
the message was queued. The R3 assignment notice goes on every channel whatever the
preference; a person with one channel gets it there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from dispatch.outbox import (
    announce,
    as_models,
    enqueue,
    insert_rows,
    message_rows,
    person_channels,
)
from models import (
    ChannelPreference,
    InboundMessage,
    Matter,
    MessageStatus,
    OutboundMessage,
    Person,
    SmsFallback,
)
from scheduler.rules import Kind, local, quiet_end_after
from workflow.context import Context
from workflow.records import Actor, audit

PREFERENCE_NAMES = {  # as the org file, the bot and the console name them
    ChannelPreference.BOTH: "短信和消息都发",
    ChannelPreference.MESSENGER_FIRST: "消息优先",
    ChannelPreference.SMS_ONLY: "仅短信",
}
PREFERENCES = {p.value: p for p in ChannelPreference} | {
    name: p for p, name in PREFERENCE_NAMES.items()} | {
    "都发": ChannelPreference.BOTH, "机器人优先": ChannelPreference.MESSENGER_FIRST,
    "短信": ChannelPreference.SMS_ONLY}
EVERY_CHANNEL = {Kind.ASSIGNED.value}  # R3: the assignment notice reaches every channel
MESSENGER = "telegram"


def parse_preference(text: str) -> ChannelPreference:
    preference = PREFERENCES.get(text.strip().lower())
    if preference is None:
        known = "、".join(f"{name}（{p.value}）" for p, name in PREFERENCE_NAMES.items())
        raise ValueError(f"未知接收方式“{text}”（可填：{known}）")
    return preference


def channel_for(person: Person, kind: str) -> str | None:
    """The one channel this message goes on for the person; None: every channel."""
    if kind in EVERY_CHANNEL or len(person_channels(person)) < 2:
        return None
    return {ChannelPreference.SMS_ONLY: "sms",
            ChannelPreference.MESSENGER_FIRST: MESSENGER}.get(person.channel_preference)


async def deliver(ctx: Context, *, kind: str, people: Iterable[Person], context: dict[str, Any],
                  due_at: datetime, now: datetime, matter: Matter | None = None,
                  dedup: str | None = None) -> int:
    """One row per person and channel their preference picks, written at once; a
    messenger-first message about a matter gets its SMS fallback check. Returns how many
    rows it wrote."""
    people = list(people)
    return await write_letters(ctx, letters(kind=kind, people=people, context=context,
                                            due_at=due_at, matter=matter, dedup=dedup),
                               people, now)


def letters(*, kind: str, people: Iterable[Person], context: dict[str, Any], due_at: datetime,
            matter: Matter | None = None, dedup: str | None = None) -> list[dict[str, Any]]:
    """The rows `deliver` writes, for a caller that writes many at once (`write_letters`)."""
    return [row for person in people for row in message_rows(
        kind=kind, people=[person], context=context, due_at=due_at, matter=matter,
        only_channel=channel_for(person, kind), dedup=dedup)]


async def write_letters(ctx: Context, rows: list[dict[str, Any]], people: Iterable[Person],
                        now: datetime) -> int:
    """Write the rows, in their order, and the SMS fallback checks of those that go to a
    messenger-first person's messenger only; wake the dispatchers. Returns how many rows
    it wrote."""
    written = await insert_rows(rows, now)
    by_id = {p.id: p for p in people}
    await SmsFallback.bulk_create([
        SmsFallback(message=row, due_at=fallback_due(ctx, max(row.due_at, row.created_at)))
        for row in as_models([r for r in written if awaits_reading(r, by_id)])])
    if written:
        await announce()
    return len(written)


def awaits_reading(row: dict[str, Any], people: dict[int, Person]) -> bool:
    """A messenger-only message about a matter: SMS follows unless the person reads it."""
    return (row["matter_id"] is not None and row["channel"] == MESSENGER
            and channel_for(people[row["person_id"]], row["kind"]) == MESSENGER)


def fallback_due(ctx: Context, sent_at: datetime) -> datetime:
    """N hours after the message, held to the end of quiet hours (R35)."""
    due = sent_at + ctx.sms_fallback_after
    quiet = ctx.policy.quiet_hours
    if quiet and quiet.contains(local(due).time()):
        return quiet_end_after(local(due), quiet)
    return due


async def send_sms_fallbacks(ctx: Context) -> int:
    """Queue the SMS of every messenger message whose fallback is due and was not read."""
    now = ctx.clock.now()
    sent = 0
    for check in await SmsFallback.filter(outcome__isnull=True, due_at__lte=now
                                          ).order_by("id").prefetch_related("message"):
        outcome = await fallback_outcome(check.message)
        if outcome == "sent":
            sent += await queue_sms(check.message, now)
        await SmsFallback.filter(id=check.id).update(outcome=outcome)
    return sent


async def fallback_outcome(row: OutboundMessage) -> str:
    if row.status in (MessageStatus.FAILED, MessageStatus.EXPIRED) or await \
            OutboundMessage.exists(failover_of_id=row.id):
        return "failed_over"  # the dispatcher sent it by SMS at once
    if await InboundMessage.exists(person_id=row.person_id, matter_id=row.matter_id,
                                   received_at__gte=row.created_at):
        return "read"
    return "sent"


async def queue_sms(row: OutboundMessage, now: datetime) -> int:
    person = await Person.get(id=row.person_id)
    matter = await Matter.get(id=row.matter_id)
    context = row.context | {"channel": "sms"}
    made = await enqueue(kind=row.kind, people=[person], context=context, due_at=now, now=now,
                         matter=matter, only_channel="sms", dedup=f"fallback:{row.id}")
    return len(made)


async def set_channel_preference(person: Person, preference: ChannelPreference | str,
                                 actor: Actor, now: datetime) -> bool:
    """Set the person's preference (the bot's /settings, the console, the org file);
    audited. Returns whether it changed."""
    preference = ChannelPreference(preference)
    before = person.channel_preference
    if before == preference:
        return False
    async with in_transaction():
        person.channel_preference = preference
        await person.save(update_fields=["channel_preference"])
        # not in before/after: those columns are a matter's states
        await audit(None, actor, "channel_preference", None, None, now, person=person.id,
                    old=before.value, new=preference.value)
    return True
