"""The shared steps of every change: the state machine move, the audit row, score events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from models import AuditEntry, Matter, Person, ScoreEvent
from workflow.states import Event, next_state


@dataclass(frozen=True)
class Actor:
    """Who does something and through which channel (for the audit log)."""

    person: Person | None
    channel: str  # sms, telegram, web, cli, simulate, clock

    @property
    def label(self) -> str:
        return self.person.name if self.person else self.channel


CLOCK = Actor(None, "clock")


async def move(matter: Matter, event: Event, actor: Actor, now: datetime,
               also: tuple[str, ...] = (), **detail: Any) -> None:
    """Apply the state machine and write the audit row (inside the caller's transaction).
    Only the state is written, and the columns the caller changed with it (`also`): the
    rest of the row is as the caller read it, and writing it back would only cost."""
    entry = moved(matter, event, actor, now, **detail)
    await matter.save(update_fields=["state", *also])
    await entry.save()


async def write_states(matters: list[Matter]) -> None:
    """The states `moved` left in memory, written: one statement a state (a batch's moves
    lead to few)."""
    for state in {m.state for m in matters}:
        await Matter.filter(id__in=[m.id for m in matters if m.state == state]).update(
            state=state)


def moved(matter: Matter, event: Event, actor: Actor, now: datetime,
          **detail: Any) -> AuditEntry:
    """Apply the state machine to `matter` in memory; returns the audit row, not yet
    written (the clock writes a tick's moves at once)."""
    before = matter.state
    matter.state = next_state(before, event, continuing=matter.continuing_since is not None)
    return audit_entry(matter, actor, event.value, before, matter.state, now, **detail)


async def audit(matter: Matter | None, actor: Actor, action: str, before: str | None,
                after: str | None, now: datetime, **detail: Any) -> None:
    await audit_entry(matter, actor, action, before, after, now, **detail).save()


def audit_entry(matter: Matter | None, actor: Actor, action: str, before: str | None,
                after: str | None, now: datetime, **detail: Any) -> AuditEntry:
    """The audit row, not yet written (the clock writes a tick's rows at once)."""
    return AuditEntry(matter=matter, actor=actor.person, actor_label=actor.label,
                      channel=actor.channel, action=action, before=before, after=after,
                      detail={k: v for k, v in detail.items() if v is not None}, at=now)


async def add_score(matter: Matter, delta: str, reason: str, now: datetime) -> None:
    await score_event(matter, delta, reason, now).save()


def score_event(matter: Matter, delta: str, reason: str, now: datetime) -> ScoreEvent:
    """R32: the lead unit's points (not yet written)."""
    return ScoreEvent(unit_id=matter.lead_id, matter=matter, delta=Decimal(delta),
                      reason=reason, at=now)
