"""`duban simulate SCENARIO`: the production code path on a virtual clock.

The scenario's units, people and matters go into a fresh in-memory database; the clock
jumps from one due moment to the next (a registration, an event, a clock action); the real
workflow, clock, reply path, dispatcher and templates run at each; SMS and the messenger are
recording channels. Output: JSON lines per ../shared/docs/simulate-contract.md.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dispatch.channel import InboundText, Outgoing, SendResult
from dispatch.dispatcher import Dispatcher
from dispatch.outbox import NOTIFY_CHANNEL
from dispatch.render import Renderer
from dispatch.wakeup import Wakeup
from models import (
    AuditEntry,
    BoardInitiator,
    ChannelPreference,
    Matter,
    MessageStatus,
    OutboundMessage,
    Person,
    Role,
    ScoreEvent,
    SmsFallback,
    Unit,
)
from scheduler.clock import VirtualClock
from scheduler.policy import Board, QuietHours
from scheduler.rules import year_end_lists
from service.config import DEFAULT_SMS_SIGNATURE, BoardOverride, build_context
from service.db import close_database, open_database
from service.register import MatterFields
from sms_gateway.text import to_e164
from workflow.chase import run_clock, run_stretch
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter
from workflow.states import OPEN


class ScenarioError(ValueError):
    """The scenario is invalid; the message names the field."""


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    phone: str | None = None
    telegram: int | None = None

    @field_validator("phone")
    @classmethod
    def valid_phone(cls, value: str | None) -> str | None:
        if value is not None:
            to_e164(str(value))
        return value


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    head: PersonIn
    director: PersonIn | None = None
    operators: list[PersonIn] = Field(default_factory=list, max_length=2)


class MatterIn(MatterFields):
    """A scenario's matter: registered at `created_at`, approval assumed unless given."""

    created_at: datetime
    approver: str = "分管领导"
    approved_on: date | None = None


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    at: datetime
    channel: Literal["sms", "telegram"]
    sender: str | int = Field(alias="from")
    text: str


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = "Asia/Shanghai"
    quiet_hours: str | None = None
    boards: dict[Board, BoardOverride] = Field(default_factory=dict)  # optional (R6, R18)
    units: list[UnitIn]
    matters: list[MatterIn] = Field(default_factory=list)
    events: list[EventIn] = Field(default_factory=list)
    until: datetime

    @field_validator("quiet_hours")
    @classmethod
    def valid_quiet(cls, value: str | None) -> str | None:
        if value:
            QuietHours.parse(value)
        return value


def load_scenario(path: str | Path) -> Scenario:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    return parse_scenario(raw)


def parse_scenario(raw: Any) -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario is a mapping with units, matters, events and until")
    try:
        zone = ZoneInfo(str(raw.get("timezone", "Asia/Shanghai")))
    except Exception as exc:
        raise ScenarioError(f"timezone: unknown time zone {raw.get('timezone')!r}") from exc
    try:
        scenario = Scenario.model_validate(localise(raw, zone))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScenarioError(f"{where}: {first['msg']}") from exc
    check_references(scenario)
    return scenario


TIME_FIELDS = ("at", "created_at", "deadline", "until")


def localise(value: Any, zone: ZoneInfo, key: str = "") -> Any:
    """Times without an offset are in the scenario's time zone (YAML gives naive datetimes)."""
    if isinstance(value, dict):
        return {k: localise(v, zone, k) for k, v in value.items()}
    if isinstance(value, list):
        return [localise(v, zone, key) for v in value]
    if key in TIME_FIELDS and isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value  # pydantic names the field
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def check_references(scenario: Scenario) -> None:
    units = {u.id for u in scenario.units}
    if len(units) != len(scenario.units):
        raise ScenarioError("units: two units share an id")
    for index, matter in enumerate(scenario.matters):
        for name in ("initiator", "lead"):
            if getattr(matter, name) not in units:
                raise ScenarioError(f"matters.{index}.{name}: unknown unit {getattr(matter, name)!r}")
        for other in matter.cooperating:
            if other not in units:
                raise ScenarioError(f"matters.{index}.cooperating: unknown unit {other!r}")


class RecordingChannel:
    """A channel that keeps what it was given, with the virtual time it was sent at."""

    idempotent = True

    def __init__(self, name: str, clock: VirtualClock) -> None:
        self.name = name
        self.clock = clock
        self.sent: list[tuple[datetime, Outgoing]] = []
        self.due: dict[int, datetime] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]:
        return {"recorded": len(self.sent)}

    async def send(self, message: Outgoing) -> SendResult:
        # after a stretch, each row was due at the moment it would have been sent
        self.sent.append((self.due.get(message.message_id, self.clock.now()), message))
        return SendResult.sent(f"{self.name}-{message.message_id}")


class Simulation:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.zone = ZoneInfo(scenario.timezone)
        first = min([m.created_at for m in scenario.matters] + [e.at for e in scenario.events]
                    + [scenario.until])
        self.clock = VirtualClock(first)
        self.ctx = build_context(self.clock, scenario.boards, scenario.quiet_hours,
                                 scenario.timezone, DEFAULT_SMS_SIGNATURE)
        self.channels = {n: RecordingChannel(n, self.clock) for n in ("sms", "telegram")}
        self.dispatcher = Dispatcher(self.channels, Renderer(self.ctx.sms_signature), self.clock,
                                     worker="simulate", group_commit_wait=0)
        self.addresses: dict[str, Any] = {}  # stored address -> as the scenario wrote it
        self.year_end = [at for _, at in year_end_lists(self.clock.now(), scenario.until)]
        # The dispatcher drains when rows were written since its last drain, or when a row
        # left pending for later falls due; otherwise a drain would find nothing to send.
        self.written = Wakeup(NOTIFY_CHANNEL)  # its event only: no LISTEN on SQLite
        self.next_send: datetime | None = None

    async def run(self) -> list[dict[str, Any]]:
        from replies.inbound import Inbox  # the reply path, as in production

        inbox = Inbox(self.ctx)
        await self.load_org()
        matters = sorted(self.scenario.matters, key=lambda m: m.created_at)
        events = sorted(self.scenario.events, key=lambda e: e.at)
        self.written.start()
        try:
            while True:
                moment = await self.next_moment(matters, events)
                if moment is None:
                    break
                if await self.stretch(moment, matters, events):
                    continue
                self.clock.set(moment)
                while matters and matters[0].created_at <= moment:
                    await self.register(matters.pop(0))
                await self.catch_up()
                while events and events[0].at <= moment:
                    await inbox.inbound(self.inbound_text(events.pop(0)))
                    await self.catch_up()
        finally:
            await self.written.stop()
        return await self.output()

    async def stretch(self, moment: datetime, matters: list[MatterIn],
                      events: list[EventIn]) -> bool:
        """Carry out the clock's moments before the next input, year-end list or the end at
        once (`run_stretch`), when nothing else happens at a moment of their own: no row
        waits to be sent and no SMS fallback is pending or can arise. Returns whether it
        did."""
        end = min([m.created_at for m in matters[:1]] + [e.at for e in events[:1]]
                  + self.year_end[bisect_right(self.year_end, self.clock.now()):][:1]
                  + [self.scenario.until])
        if moment >= end or self.next_send is not None or await SmsFallback.exists(
                outcome__isnull=True) or await Person.exists(
                channel_preference=ChannelPreference.MESSENGER_FIRST):
            return False
        last = await run_stretch(self.ctx, end)
        if last is not None:
            self.clock.set(last)
            for channel in self.channels.values():
                channel.due = dict(await OutboundMessage.filter(
                    status=MessageStatus.PENDING).values_list("id", "due_at"))
            await self.send_due()
            for channel in self.channels.values():
                channel.due = {}
        return True

    async def catch_up(self) -> None:
        await run_clock(self.ctx)
        await self.send_due()

    async def send_due(self) -> None:
        """Drain the outbox, as the dispatcher does, whenever it may find something due."""
        if not self.written.event.is_set() and (self.next_send is None
                                          or self.next_send > self.clock.now()):
            return
        self.written.clear()
        await self.dispatcher.drain()
        self.next_send = await OutboundMessage.filter(status=MessageStatus.PENDING).order_by(
            "due_at").first().values_list("due_at", flat=True)

    async def next_moment(self, matters: list[MatterIn], events: list[EventIn]) -> datetime | None:
        """The next moment anything happens: a registration, an event or a clock action."""
        now, until = self.clock.now(), self.scenario.until
        candidates = [m.created_at for m in matters[:1]] + [e.at for e in events[:1]]
        candidates += await self.next_clock_actions(now)
        return min((c for c in candidates if now <= c <= until), default=None)

    async def next_clock_actions(self, now: datetime) -> list[datetime]:
        """The next year-end list and the soonest next action of an open matter, as the
        clock stored it (never late: every change that brings an action forward
        recomputes it)."""
        later = bisect_right(self.year_end, now)
        found = self.year_end[later:later + 1]
        soonest = await Matter.filter(state__in=list(OPEN), next_action_at__gt=now).order_by(
            "next_action_at").first().values_list("next_action_at", flat=True)
        return [min(found + [soonest])] if soonest else found

    async def load_org(self) -> None:
        for unit_in in self.scenario.units:
            unit = await Unit.create(key=unit_in.id, name=unit_in.name)
            staff = [(unit_in.head, Role.HEAD), (unit_in.director, Role.DIRECTOR)]
            staff += list(zip(unit_in.operators, (Role.OPERATOR_A, Role.OPERATOR_B), strict=False))
            for person_in, role in staff:
                if person_in is not None:
                    await self.add_person(unit, person_in, role)
        for matter in self.scenario.matters:
            initiator = await Unit.get(key=matter.initiator)
            await BoardInitiator.get_or_create(board=matter.board.value,
                                               defaults={"initiator": initiator})

    async def add_person(self, unit: Unit, person_in: PersonIn, role: Role) -> None:
        phone = to_e164(person_in.phone) if person_in.phone else None
        if phone:
            self.addresses[phone] = person_in.phone
        if person_in.telegram is not None:
            self.addresses[str(person_in.telegram)] = person_in.telegram
        await Person.create(unit=unit, name=person_in.name, role=role, phone=phone,
                            telegram_chat_id=person_in.telegram)

    async def register(self, matter_in: MatterIn) -> None:
        draft = MatterDraft(
            board=matter_in.board.value, title=matter_in.title, initiator=matter_in.initiator,
            lead=matter_in.lead, approver=matter_in.approver,
            approved_on=matter_in.approved_on or matter_in.created_at.astimezone(self.zone).date(),
            not_classified=True, klass=matter_in.klass, deadline=matter_in.deadline,
            cooperating=matter_in.cooperating, source=matter_in.source, code=matter_in.code,
            reported_on=matter_in.reported_on, service_object=matter_in.service_object)
        await register_matter(self.ctx, draft, Actor(None, "simulate"))

    def inbound_text(self, event: EventIn) -> InboundText:
        return InboundText(channel=event.channel, sender=str(event.sender), text=event.text,
                           provider_message_id=None, raw={"simulated": True})

    async def output(self) -> list[dict[str, Any]]:
        lines: list[tuple[datetime, int, int, dict[str, Any]]] = []
        codes = dict(await Matter.all().values_list("id", "code"))
        unit_keys = dict(await Unit.all().values_list("id", "key"))
        for entry in await AuditEntry.all().order_by("id"):
            if entry.before != entry.after:
                lines.append((entry.at, 0, entry.id, {
                    "type": "state", "matter": codes.get(entry.matter_id),
                    "before": entry.before, "after": entry.after}))
        for event in await ScoreEvent.all().order_by("id"):
            lines.append((event.at, 1, event.id, {
                "type": "score", "matter": codes.get(event.matter_id),
                "unit": unit_keys[event.unit_id], "delta": float(event.delta),
                "reason": event.reason}))
        people = {p.id: p for p in await Person.all()}
        recipients = dict(await OutboundMessage.all().values_list("id", "person_id"))
        for order, (at, message) in enumerate(self.sent()):
            person = people.get(recipients[message.message_id] or 0)
            lines.append((at, 2, order, self.message_line(message, person, unit_keys)))
        lines.sort(key=lambda line: (line[0], line[1], line[2]))
        return [{"at": self.local(at), **body} for at, _, _, body in lines]

    def sent(self) -> list[tuple[datetime, Outgoing]]:
        both = self.channels["sms"].sent + self.channels["telegram"].sent
        return sorted(both, key=lambda pair: (pair[0], pair[1].message_id))

    def message_line(self, message: Outgoing, person: Person | None,
                     unit_keys: dict[int, str]) -> dict[str, Any]:
        return {
            "type": "message", "matter": message.matter_code, "kind": message.kind,
            "channel": message.channel, "to": self.addresses.get(message.to, message.to),
            "person": person.name if person else None,
            "unit": unit_keys.get(person.unit_id) if person else None, "text": message.text,
        }

    def local(self, instant: datetime) -> str:
        return instant.astimezone(self.zone).isoformat(timespec="seconds")


async def simulate(scenario: Scenario) -> list[dict[str, Any]]:
    """Run a scenario on a private in-memory database and return the output lines."""
    await open_database("sqlite://:memory:", inline=True)
    try:
        return await Simulation(scenario).run()
    finally:
        await close_database()


def dumps(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
