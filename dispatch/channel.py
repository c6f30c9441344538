"""The contract every channel (SMS adapters, the messenger bot, recorders) fulfils.

A channel only moves text over a wire. It never decides who gets what or when: the
dispatcher hands it one rendered message at a time and records what it answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class FailureKind(StrEnum):
    """How a send failed, which decides what the dispatcher does next."""

    RETRYABLE = "retryable"  # try again later, with backoff
    PERMANENT = "permanent"  # never retry on this channel; fail over to the other one
    UNKNOWN = "unknown"  # the provider may or may not have it: never blindly resend


@dataclass(frozen=True)
class Button:
    """One inline button (messenger only): its label and opaque callback data."""

    text: str
    data: str


@dataclass(frozen=True)
class Outgoing:
    """One rendered message to one address on one channel."""

    message_id: int
    channel: str  # "sms" | "telegram"
    to: str  # E.164 phone for sms, chat id (as text) for telegram
    text: str
    kind: str  # assigned, remind, urge, ... (rules R3-R37)
    matter_code: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons; ignored by SMS
    # Provider ids of the parts an earlier attempt got accepted (a SendResult's provider_ids
    # on a retryable failure): a long SMS resumes with only its missing parts.
    sent_parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendResult:
    """What a channel answers for one message: provider ids, or a typed failure."""

    provider_ids: tuple[str, ...] = ()
    failure: FailureKind | None = None
    detail: str = ""
    retry_after: float | None = None  # seconds, when the peer said how long to wait
    # The peer asked us to slow down (SMPP ESME_RTHROTTLED, HTTP 429): the dispatcher retries
    # without counting it as a failed attempt, so sustained throttling never fails a message.
    throttled: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None

    @classmethod
    def sent(cls, *provider_ids: str) -> SendResult:
        return cls(provider_ids=tuple(provider_ids))

    @classmethod
    def failed(
        cls, kind: FailureKind, detail: str, retry_after: float | None = None,
        throttled: bool = False,
    ) -> SendResult:
        return cls(failure=kind, detail=detail, retry_after=retry_after, throttled=throttled)


@runtime_checkable
class Channel(Protocol):
    """A way out to people. `name` is "sms" or "telegram".

    `concurrency` (optional attribute, default 1) is how many `send` calls the dispatcher may
    have in flight on this channel at once (SMPP: window x binds; HTTP: a bounded pool).
    """

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, message: Outgoing) -> SendResult: ...

    def health(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class InboundText:
    """One message a person sent us, as the wire gave it."""

    channel: str  # "sms" | "telegram"
    sender: str  # phone (any format; normalised later) or chat id as text
    text: str
    provider_message_id: str | None = None  # for dedup of provider resends
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """A delivery report for a message we sent, matched by the provider's id."""

    channel: str
    provider_message_id: str
    status: str  # "delivered" | "failed" | "expired"
    detail: str = ""


class InboundSink(Protocol):
    """Where channels hand what arrives. The service stores it raw, then parses it."""

    async def inbound(self, message: InboundText) -> None: ...

    async def receipt(self, receipt: Receipt) -> None: ...
