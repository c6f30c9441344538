"""The SMS channel over SMPP 3.4: one or more bind_transceiver sessions to the carrier's SMSC.

Outbound: each message is signed, split into segments and sent as submit_sm PDUs; each bind
keeps up to `window` of them awaiting their response, so the dispatcher may call `send()`
`concurrency` (= window x binds) times at once. The answer says which provider ids the
segments got or how the send failed. Throttling (ESME_RTHROTTLED) pauses the whole bind
with a growing pause and the refused segment is submitted again after it; a long message
that stops half way resumes later with only its missing segments, under the same
concatenation reference. Inbound: deliver_sm carries delivery receipts (matched by those
ids) and people's replies, which go to the sink before we ack them, so an SMSC whose ack
got lost redelivers rather than drops (and the reply's content key drops the repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dispatch.channel import FailureKind, InboundSink, InboundText, Outgoing, SendResult
from sms_gateway.long_link import reconnect_delay
from sms_gateway.smpp_inbound import (
    IdBase,
    MessageIds,
    MoKeys,
    MoMessage,
    Reassembly,
    is_receipt,
    parse_receipt,
    sar_concat,
)
from sms_gateway.smpp_pdu import (
    UDHI,
    Command,
    DeliverSm,
    Pdu,
    PduError,
    Status,
    SubmitSm,
    bind_transceiver,
    c_string_at_start,
    concat_udh,
    read_pdu,
    split_udh,
)
from sms_gateway.text import (
    DEFAULT_SIGNATURE,
    Encoding,
    encode,
    encoding,
    segments,
    sign,
    to_e164,
)

log = logging.getLogger(__name__)

DATA_CODING = {Encoding.GSM7: 0x00, Encoding.UCS2: 0x08}
MAX_SEGMENTS = 255  # the UDH counts parts in one octet
# C-Octet String limits of bind_transceiver and submit_sm (SMPP 3.4 section 4.1), NUL excluded.
C_OCTET_LIMITS = {"system_id": 15, "password": 8, "system_type": 12, "source_addr": 20}
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


class SmppSettings(BaseModel):
    """Where the SMSC is, who we are to it, and how hard we push."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int = Field(2775, ge=1, le=65535)
    system_id: str
    password: SecretStr
    system_type: str = ""
    source_addr: str  # the carrier-assigned sender number (e.g. 1069...)
    source_addr_ton: int = Field(0, ge=0, le=255)
    source_addr_npi: int = Field(1, ge=0, le=255)
    # We submit E.164 digits without "+": international TON, ISDN NPI.
    dest_addr_ton: int = Field(1, ge=0, le=255)
    dest_addr_npi: int = Field(1, ge=0, le=255)
    window: int = Field(10, ge=1, le=1000)  # submit_sm awaiting their resp at once, per bind
    binds: int = Field(1, ge=1, le=32)  # transceiver sessions held at once
    enquire_link_interval: float = Field(30.0, gt=0)
    reconnect_backoff_min: float = Field(1.0, gt=0)
    reconnect_backoff_max: float = Field(60.0, gt=0)
    connect_timeout: float = Field(10.0, gt=0)  # TCP connect plus bind_transceiver_resp
    submit_timeout: float = Field(30.0, gt=0)
    # SMPP gives no hint how long to wait after 0x58 / 0x14: the bind pauses this long,
    # doubling with each throttle in a row up to throttle_pause_max.
    throttled_retry_after: float = Field(1.0, gt=0)
    throttle_pause_max: float = Field(16.0, gt=0)
    # How long one send() waits out throttling before it hands the message back as
    # RETRYABLE + throttled (well inside the dispatcher's claim on the row).
    throttle_give_up: float = Field(10.0, ge=0)
    # How the SMSC spells message ids in submit_sm_resp and in receipts (see MessageIds).
    submit_id_base: IdBase = "auto"
    receipt_id_base: IdBase = "auto"
    signature: str = DEFAULT_SIGNATURE
    mo_reassembly_timeout: float = Field(600.0, gt=0)  # hand over an incomplete reply after
    mo_dedup_seconds: float = Field(300.0, gt=0)  # the same reply again within: a redelivery
    # deliver_sm waiting to be handled on a bind; beyond it the SMSC is told to redeliver later
    inbound_queue: int = Field(500, ge=1)

    @field_validator("system_id", "system_type", "source_addr", "password")
    @classmethod
    def fits_c_octet_string(cls, value: Any, info: Any) -> Any:
        """A non-ASCII or over-long value cannot be encoded into the PDU: refuse at start-up."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        limit = C_OCTET_LIMITS[info.field_name]
        if len(text) > limit or not _PRINTABLE_ASCII.fullmatch(text):
            raise ValueError(
                f"must be at most {limit} printable ASCII characters ({limit + 1} octets "
                "with the closing NUL)"
            )
        return value


class BindRejected(Exception):
    """The SMSC answered bind_transceiver with an error."""


class ConnectionLost(Exception):
    """The session ended while a request awaited its response."""


class NotWritten(Exception):
    """The request never left this process (the session was closing), so nobody has it."""


# How a submit_sm_resp error decides the dispatcher's next step. Statuses not listed
# here are PERMANENT: the SMSC did refuse, so failing over is safe, retrying is not.
RETRYABLE_STATUS = {
    Status.RTHROTTLED: "throttled",
    Status.RMSGQFUL: "SMSC message queue full",
    Status.RSYSERR: "SMSC system error",
    Status.RINVBNDSTS: "SMSC says we are not bound",
    Status.RX_T_APPN: "SMSC temporary application error",
}
THROTTLE_STATUS = {Status.RTHROTTLED, Status.RMSGQFUL}
_BIND_ERRORS = (OSError, TimeoutError, PduError, BindRejected, asyncio.IncompleteReadError)


class _Session:
    """One TCP connection after a successful bind: sequence numbers and awaited responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, asyncio.Future[Pdu]] = {}
        self.inbox: asyncio.Queue[Pdu] = asyncio.Queue()
        self.deferring = False  # deliver_sm answered "try later" until the inbox drains
        self._last_sequence = 0
        self._outbox: list[tuple[int, bytes]] = []

    @property
    def writable(self) -> bool:
        return not self.writer.is_closing()

    def next_sequence(self) -> int:
        # Valid sequence numbers are 1..0x7FFFFFFF; wrap rather than emit an invalid one.
        self._last_sequence = self._last_sequence % 0x7FFFFFFF + 1
        return self._last_sequence

    def write(self, command_id: int, sequence: int, status: int = 0, body: bytes = b"") -> None:
        # PDUs written in one loop iteration leave in one send(): per message, the
        # syscall and the peer's wake-up cost more than encoding does.
        self._outbox.append((sequence, Pdu(command_id, status, sequence, body).encode()))
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        queued, self._outbox = self._outbox, []
        if not queued:
            return
        if self.writable:
            self.writer.write(b"".join(data for _, data in queued))
            return
        for sequence, _ in queued:  # these requests certainly never reached the SMSC
            self._fail(sequence, NotWritten("connection closed before the PDU was written"))

    def _fail(self, sequence: int, exc: Exception) -> None:
        future = self.pending.get(sequence)
        if future is not None and not future.done():
            future.set_exception(exc)

    def request(self, command_id: int, body: bytes = b"") -> asyncio.Future[Pdu]:
        """Queue a request for writing; the future resolves with its response PDU."""
        if not self.writable:
            raise NotWritten("connection closing")
        sequence = self.next_sequence()
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.pending[sequence] = future
        future.add_done_callback(lambda _: self.pending.pop(sequence, None))
        self.write(command_id, sequence, body=body)
        return future

    def resolve(self, pdu: Pdu) -> None:
        future = self.pending.get(pdu.sequence)
        if future is None or future.done():
            log.info("smpp: response 0x%08x for unknown sequence %d", pdu.command_id, pdu.sequence)
            return
        future.set_result(pdu)

    def close(self, reason: str) -> None:
        self._flush()  # e.g. the unbind_resp or a last deliver_sm_resp
        for sequence in list(self.pending):
            self._fail(sequence, ConnectionLost(reason))
        self.writer.close()


class Throttle:
    """A bind's pause after the SMSC throttled it: every submit on the bind waits it out.

    Each throttle in a row doubles the pause. Submits already on the wire when the pause
    began come back throttled too; they are one event, not several (`generation`)."""

    def __init__(self, first: float, most: float) -> None:
        self._first = first
        self._most = most
        self._streak = 0
        self._resume_at = 0.0
        self.generation = 0
        self.count = 0

    def remaining(self) -> float:
        return max(0.0, self._resume_at - time.monotonic())

    async def wait(self) -> None:
        while (delay := self.remaining()) > 0:
            await asyncio.sleep(delay)

    def hit(self, generation: int) -> None:
        """A submit written in `generation` was throttled."""
        if generation != self.generation:
            return  # written before the current pause began: already accounted for
        pause = min(self._most, self._first * 2**self._streak)
        self._streak += 1
        self.generation += 1
        self.count += 1
        self._resume_at = time.monotonic() + pause

    def accepted(self, generation: int) -> None:
        if generation == self.generation:
            self._streak = 0


class _Bind:
    """One transceiver session kept up on its own, with its window and its throttle pause.

    Its supervisor never dies of an error: a crash is logged, counted, shown in health()
    and followed by a new bind after the backoff."""

    def __init__(self, channel: SmppChannel, number: int) -> None:
        s = channel.settings
        self._channel = channel
        self.number = number
        self.window = asyncio.Semaphore(s.window)
        self.throttle = Throttle(s.throttled_retry_after, s.throttle_pause_max)
        self.session: _Session | None = None
        self.in_flight = 0
        self.sessions = 0
        self.crashes = 0
        self.enquire_link_acks = 0
        self.enquire_links_answered = 0
        self._supervisor: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._supervisor is None:
            name = f"smpp-bind-{self.number}"
            self._supervisor = asyncio.create_task(self._supervise(), name=name)

    async def stop(self) -> None:
        session = self.session
        if session is not None:
            # A polite unbind lets the SMSC stop routing replies to this bind at once.
            with contextlib.suppress(NotWritten, ConnectionLost, TimeoutError, OSError):
                await asyncio.wait_for(session.request(Command.UNBIND), 1.0)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None

    async def _supervise(self) -> None:
        failures = 0
        while True:
            try:
                failures = await self._bind_and_serve(failures)
            except Exception as exc:  # a bug must not end the channel silently
                self.crashes += 1
                failures += 1
                log.exception("smpp: bind %d crashed; binding again", self.number)
                # The type and message only: a repr could carry a setting, e.g. the password.
                error = f"bind {self.number} crashed: {type(exc).__name__}: {exc}"
                self._channel.note_error(error)
            await asyncio.sleep(self._backoff(failures))

    async def _bind_and_serve(self, failures: int) -> int:
        try:
            # Not wait_for: a stop landing as the bind fails would be lost (long_link).
            async with asyncio.timeout(self._channel.settings.connect_timeout):
                session = await self._bind()
        except _BIND_ERRORS as exc:
            self._channel.note_error(f"bind failed: {exc!r}")
            return failures + 1
        await self._serve(session)
        return 0

    def _backoff(self, failures: int) -> float:
        s = self._channel.settings
        return reconnect_delay(failures, s.reconnect_backoff_min, s.reconnect_backoff_max)

    async def _bind(self) -> _Session:
        s = self._channel.settings
        reader, writer = await asyncio.open_connection(s.host, s.port)
        session = _Session(reader, writer)
        try:
            body = bind_transceiver(
                s.system_id, s.password.get_secret_value(), s.system_type,
                s.source_addr_ton, s.source_addr_npi,
            )  # fmt: skip
            # Answered before the read loop runs, so read the response right here.
            session.write(Command.BIND_TRANSCEIVER, session.next_sequence(), body=body)
            resp = await read_pdu(reader)
            if resp.command_id != Command.BIND_TRANSCEIVER_RESP or resp.status != Status.ROK:
                raise BindRejected(f"0x{resp.command_id:08X} status 0x{resp.status:02X}")
        except BaseException:
            session.close("bind failed")
            raise
        return session

    async def _serve(self, session: _Session) -> None:
        self.session = session
        self.sessions += 1
        s = self._channel.settings
        log.info("smpp: bind %d bound to %s:%s", self.number, s.host, s.port)
        tasks = [
            asyncio.create_task(self._read_loop(session)),
            asyncio.create_task(self._keepalive(session)),
            asyncio.create_task(self._inbox_loop(session)),
        ]
        reason = "stopped"
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = _end_reason(done.pop())
            self._channel.note_error(f"session ended: {reason}")
        finally:
            self.session = None
            for task in tasks:
                task.cancel()
            # Let the tasks unwind before failing the futures they might be awaiting.
            await asyncio.gather(*tasks, return_exceptions=True)
            session.close(reason)

    async def _read_loop(self, session: _Session) -> str:
        while True:
            pdu = await read_pdu(session.reader)
            if pdu.is_response:
                session.resolve(pdu)
            elif pdu.command_id == Command.ENQUIRE_LINK:
                session.write(Command.ENQUIRE_LINK_RESP, pdu.sequence)
                self.enquire_links_answered += 1
            elif pdu.command_id == Command.DELIVER_SM:
                self._take_deliver_sm(session, pdu)
            elif pdu.command_id == Command.UNBIND:
                session.write(Command.UNBIND_RESP, pdu.sequence)
                return "unbind from SMSC"
            else:
                session.write(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDID)

    def _take_deliver_sm(self, session: _Session, pdu: Pdu) -> None:
        """Queue it for the inbox loop (in order, so a slow sink never stalls responses).
        A full queue answers "temporary error" at once, so an SMSC that delivers faster than
        the sink takes them redelivers later instead of growing our memory; it keeps doing
        so until the queue is half empty, so a reply is not taken between two it refused."""
        limit = self._channel.settings.inbound_queue
        waiting = session.inbox.qsize()
        session.deferring = waiting >= limit or (session.deferring and waiting > limit // 2)
        if session.deferring:
            session.write(Command.DELIVER_SM_RESP, pdu.sequence, Status.RX_T_APPN, b"\0")
            self._channel.deliver_sm_deferred += 1
        else:
            session.inbox.put_nowait(pdu)

    async def _keepalive(self, session: _Session) -> str:
        interval = self._channel.settings.enquire_link_interval
        while True:
            await asyncio.sleep(interval)
            try:
                # A link that cannot answer within one interval is dead, even if TCP says not.
                async with asyncio.timeout(interval):  # not wait_for: see long_link
                    await session.request(Command.ENQUIRE_LINK)
            except TimeoutError:
                return f"no enquire_link_resp within {interval}s"
            self.enquire_link_acks += 1

    async def _inbox_loop(self, session: _Session) -> None:
        s = self._channel.settings
        idle = min(s.enquire_link_interval, s.mo_reassembly_timeout)
        while True:
            try:
                async with asyncio.timeout(idle):  # not wait_for: see long_link
                    pdu = await session.inbox.get()
            except TimeoutError:
                # A quiet line must not strand half a reply: hand it over incomplete.
                await self._channel.hand_over_expired_logged()
                continue
            status = await self._channel.on_deliver_sm(pdu)
            session.write(Command.DELIVER_SM_RESP, pdu.sequence, status, b"\0")

    # -- sending ---------------------------------------------------------------------

    async def submit(self, submit: SubmitSm) -> str | SendResult:
        """The message id of one accepted segment, or why it was not accepted.

        A throttled answer pauses the bind; the caller decides whether to try again."""
        async with self.window:
            self.in_flight += 1
            try:
                await self.throttle.wait()
                generation = self.throttle.generation
                outcome = await self._request_submit(submit)
            finally:
                self.in_flight -= 1
        if isinstance(outcome, str):
            self.throttle.accepted(generation)
        elif outcome.throttled:
            self.throttle.hit(generation)
        return outcome

    async def _request_submit(self, submit: SubmitSm) -> str | SendResult:
        session = self.session  # again: the link may have dropped while we queued
        if session is None:
            return SendResult.failed(FailureKind.RETRYABLE, "not bound to the SMSC")
        try:
            response = session.request(Command.SUBMIT_SM, submit.encode())
        except NotWritten:
            return SendResult.failed(FailureKind.RETRYABLE, "connection closing before write")
        try:
            async with asyncio.timeout(self._channel.settings.submit_timeout):
                pdu = await response
        except NotWritten as exc:
            return SendResult.failed(FailureKind.RETRYABLE, str(exc))
        # From here the SMSC may have the message: no answer means UNKNOWN, never a resend.
        except TimeoutError:
            wait = self._channel.settings.submit_timeout
            return SendResult.failed(FailureKind.UNKNOWN, f"no submit_sm_resp within {wait}s")
        except (ConnectionLost, OSError) as exc:
            return SendResult.failed(FailureKind.UNKNOWN, f"connection lost awaiting resp: {exc}")
        return submit_outcome(pdu)


def submit_outcome(pdu: Pdu) -> str | SendResult:
    """A submit_sm_resp (or the generic_nack that stands for it) read as an outcome."""
    if pdu.command_id == Command.SUBMIT_SM_RESP and pdu.status == Status.ROK:
        return c_string_at_start(pdu.body)
    status = pdu.status
    kind = "generic_nack" if pdu.command_id == Command.GENERIC_NACK else "submit_sm_resp"
    if status in RETRYABLE_STATUS:
        detail = f"{kind} 0x{status:02X} {RETRYABLE_STATUS[status]}"
        return SendResult.failed(FailureKind.RETRYABLE, detail, throttled=status in THROTTLE_STATUS)
    # A PDU the SMSC refused or could not read: it certainly has not got the message.
    return SendResult.failed(FailureKind.PERMANENT, f"{kind} status 0x{status:02X}")


def _end_reason(task: asyncio.Task[Any]) -> str:
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed by SMSC"
    if exc is not None:
        return repr(exc)
    return str(task.result())


class SmppChannel:
    """The "sms" channel over `binds` SMPP transceiver binds, each reconnecting on its own."""

    name = "sms"

    def __init__(
        self, settings: SmppSettings, sink: InboundSink, now: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._sink = sink
        self._binds = [_Bind(self, n) for n in range(1, settings.binds + 1)]
        self._ids = MessageIds(settings.submit_id_base, settings.receipt_id_base)
        self._mo_keys = MoKeys(settings.mo_dedup_seconds, now)
        self._reassembly = Reassembly(settings.mo_reassembly_timeout)
        self._hand_over = asyncio.Lock()  # two binds must not hand over one partial twice
        self._last_error: str | None = None
        self._stopping = False
        self.deliver_sm_deferred = 0  # answered "try later": the inbound queue was full

    @property
    def concurrency(self) -> int:
        """How many send() calls may usefully be in flight: every bind's window full."""
        return self.settings.window * self.settings.binds

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Begin binding in the background; sends fail RETRYABLE until a bind is up."""
        self._stopping = False
        for bind in self._binds:
            bind.start()

    async def wait_bound(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self._bound():
                    await asyncio.sleep(0.01)
        return bool(self._bound())

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.gather(*(bind.stop() for bind in self._binds))

    def _bound(self) -> list[_Bind]:
        return [bind for bind in self._binds if bind.session is not None]

    def note_error(self, error: str) -> None:
        if not self._stopping:
            self._last_error = error
            log.warning("smpp: %s", error)

    def health(self) -> dict[str, Any]:
        binds = self._binds
        return {
            "channel": self.name,
            "smsc": f"{self.settings.host}:{self.settings.port}",
            "bound": bool(self._bound()),
            "binds": len(binds),
            "binds_up": len(self._bound()),
            "outstanding": sum(b.in_flight for b in binds),
            "window": self.settings.window,
            "concurrency": self.concurrency,
            "reconnects": sum(max(0, b.sessions - 1) for b in binds),
            "throttled": sum(b.throttle.count for b in binds),
            "paused": any(b.throttle.remaining() > 0 for b in binds),
            "crashes": sum(b.crashes for b in binds),
            "enquire_link_acks": sum(b.enquire_link_acks for b in binds),
            "enquire_links_answered": sum(b.enquire_links_answered for b in binds),
            "mo_partials": len(self._reassembly),
            "deliver_sm_deferred": self.deliver_sm_deferred,
            "last_error": self._last_error,
        }

    # -- sending ---------------------------------------------------------------------

    async def send(self, message: Outgoing) -> SendResult:
        try:
            submits = self._submits(message)
        except ValueError as exc:
            return SendResult.failed(FailureKind.PERMANENT, str(exc))
        # Segments accepted in an earlier attempt keep their ids and are not sent again.
        accepted = self._ids.group(message.sent_parts)[: len(submits)]
        give_up_at = time.monotonic() + self.settings.throttle_give_up
        for index in range(len(accepted), len(submits)):
            outcome = await self._submit(submits[index], give_up_at)
            if isinstance(outcome, SendResult):
                detail = f"segment {index + 1}/{len(submits)}: {outcome.detail}"
                # The accepted parts' ids go back too: their receipts must still match.
                return replace(outcome, provider_ids=_flat(accepted), detail=detail)
            accepted.append(self._ids.spellings(outcome))
        return SendResult.sent(*_flat(accepted))

    async def _submit(self, submit: SubmitSm, give_up_at: float) -> str | SendResult:
        """Submit one segment on the least busy bind, again after each throttle pause."""
        while True:
            bind = min(self._bound(), key=_load, default=None)
            if bind is None:
                return SendResult.failed(FailureKind.RETRYABLE, "not bound to the SMSC")
            outcome = await bind.submit(submit)
            if not (isinstance(outcome, SendResult) and outcome.throttled):
                return outcome
            pause = bind.throttle.remaining()
            if time.monotonic() + pause > give_up_at:
                return replace(outcome, retry_after=max(pause, self.settings.throttled_retry_after))

    def _submits(self, message: Outgoing) -> list[SubmitSm]:
        destination = to_e164(message.to).removeprefix("+")
        text = sign(message.text, self.settings.signature)
        enc = encoding(text)
        parts = segments(text)
        if len(parts) == 1:
            return [self._submit_sm(destination, encode(text, enc), enc, esm_class=0)]
        if len(parts) > MAX_SEGMENTS:
            raise ValueError(f"message needs {len(parts)} segments, over {MAX_SEGMENTS}")
        # The reference follows from the message id, so a resumed message keeps it and
        # consecutive messages to one handset never share one.
        ref = message.message_id & 0xFF
        return [
            self._submit_sm(
                destination, concat_udh(ref, len(parts), seq) + encode(part, enc), enc, UDHI
            )
            for seq, part in enumerate(parts, start=1)
        ]

    def _submit_sm(self, destination: str, data: bytes, enc: Encoding, esm_class: int) -> SubmitSm:
        s = self.settings
        return SubmitSm(
            source_addr=s.source_addr,
            source_addr_ton=s.source_addr_ton,
            source_addr_npi=s.source_addr_npi,
            destination_addr=destination,
            dest_addr_ton=s.dest_addr_ton,
            dest_addr_npi=s.dest_addr_npi,
            short_message=data,
            data_coding=DATA_CODING[enc],
            esm_class=esm_class,
            registered_delivery=1,  # ask for a receipt for every segment
        )

    # -- inbound ---------------------------------------------------------------------

    async def on_deliver_sm(self, pdu: Pdu) -> int:
        """Hand a deliver_sm to the sink; the status tells the SMSC whether to redeliver."""
        try:
            deliver = DeliverSm.decode(pdu.body)
            if is_receipt(deliver):
                await self._on_receipt(deliver)
            else:
                await self._on_mo(deliver, pdu.sequence)
        except PduError as exc:
            log.warning("smpp: malformed deliver_sm %d: %s", pdu.sequence, exc)
            return Status.RX_P_APPN
        except Exception:
            log.exception("smpp: sink failed on deliver_sm %d; SMSC will redeliver", pdu.sequence)
            return Status.RX_T_APPN
        return Status.ROK

    async def _on_receipt(self, deliver: DeliverSm) -> None:
        receipt = parse_receipt(deliver, self._ids)
        if receipt is None:
            log.info("smpp: non-final or unreadable receipt")
            return
        await self._sink.receipt(receipt)

    async def _hand_over_expired(self) -> None:
        async with self._hand_over:
            for key, message in self._reassembly.expired(time.monotonic()):
                await self._sink.inbound(self._inbound(message, incomplete=True))
                self._reassembly.discard(key)  # kept until the sink has it, like whole replies

    async def hand_over_expired_logged(self) -> None:
        try:
            await self._hand_over_expired()
        except Exception:
            log.exception("smpp: sink failed on an incomplete reply; retrying later")

    async def _on_mo(self, deliver: DeliverSm, sequence: int) -> None:
        await self._hand_over_expired()
        concat, payload = None, deliver.payload
        if deliver.esm_class & UDHI:
            concat, payload = split_udh(payload)
        concat = concat or sar_concat(deliver)
        if concat is None or concat.total <= 1:
            await self._sink.inbound(self._inbound(MoMessage(deliver, {1: payload}, [sequence])))
            return
        key, message = self._reassembly.add(deliver, concat, payload, sequence, time.monotonic())
        if message is not None:
            await self._sink.inbound(self._inbound(message))
            # Only forget the parts once the sink has them: a failure NAKs, and the
            # SMSC's redelivery of the last part completes the message again.
            self._reassembly.discard(key)

    def _inbound(self, message: MoMessage, incomplete: bool = False) -> InboundText:
        return message.inbound(self._mo_keys.key(message.content_digest()), incomplete)


def _load(bind: _Bind) -> tuple[float, int]:
    return bind.throttle.remaining(), bind.in_flight


def _flat(groups: list[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(spelling for group in groups for spelling in group)
