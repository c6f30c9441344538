"""The SMS channel over SMPP 3.4: one bind_transceiver session to the carrier's SMSC.

Outbound: each message is signed, split into segments and sent as submit_sm PDUs
within a window of outstanding requests; the answer says which provider ids the
segments got or how the send failed. Inbound: deliver_sm carries delivery receipts
(matched by those ids) and people's replies, which go to the sink before we ack them,
so an SMSC whose ack got lost redelivers rather than drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dispatch.channel import FailureKind, InboundSink, InboundText, Outgoing, Receipt, SendResult
from sms_gateway.smpp_pdu import (
    UDHI,
    Command,
    Concat,
    DeliverSm,
    Pdu,
    PduError,
    Status,
    SubmitSm,
    Tag,
    bind_transceiver,
    c_string_at_start,
    concat_udh,
    read_pdu,
    split_udh,
)
from sms_gateway.text import (
    DEFAULT_SIGNATURE,
    Encoding,
    decode_gsm7,
    encode,
    encoding,
    segments,
    sign,
    to_e164,
)

log = logging.getLogger(__name__)

DATA_CODING = {Encoding.GSM7: 0x00, Encoding.UCS2: 0x08}
MAX_SEGMENTS = 255  # the UDH counts parts in one octet


class SmppSettings(BaseModel):
    """Where the SMSC is, who we are to it, and how hard we push."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int = 2775
    system_id: str
    password: SecretStr
    system_type: str = ""
    source_addr: str  # the carrier-assigned sender number (e.g. 1069...)
    source_addr_ton: int = 0
    source_addr_npi: int = 1
    # We submit E.164 digits without "+": international TON, ISDN NPI.
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    window: int = Field(10, ge=1)  # submit_sm awaiting their resp at once
    enquire_link_interval: float = Field(30.0, gt=0)
    reconnect_backoff_min: float = Field(1.0, gt=0)
    reconnect_backoff_max: float = Field(60.0, gt=0)
    connect_timeout: float = Field(10.0, gt=0)  # TCP connect plus bind_transceiver_resp
    submit_timeout: float = Field(30.0, gt=0)
    throttled_retry_after: float = 1.0  # SMPP gives no hint; our guess for 0x58 / 0x14
    signature: str = DEFAULT_SIGNATURE
    mo_reassembly_timeout: float = 600.0  # hand over an incomplete multi-part reply after this


class BindRejected(Exception):
    """The SMSC answered bind_transceiver with an error."""


class ConnectionLost(Exception):
    """The session ended while a request awaited its response."""


class NotWritten(Exception):
    """The session was already closing, so the request never left this process."""


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
        self._last_sequence = 0
        self._outbox: list[bytes] = []

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
        self._outbox.append(Pdu(command_id, status, sequence, body).encode())
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        data = b"".join(self._outbox)
        self._outbox.clear()
        if data and self.writable:
            self.writer.write(data)

    def request(self, command_id: int, body: bytes = b"") -> asyncio.Future[Pdu]:
        """Write a request now; the future resolves with its response PDU."""
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
        for future in list(self.pending.values()):
            if not future.done():
                future.set_exception(ConnectionLost(reason))
        self._flush()  # e.g. the unbind_resp or a last deliver_sm_resp
        self.writer.close()


class SmppChannel:
    """The "sms" channel over one SMPP transceiver bind, reconnecting on its own."""

    name = "sms"

    def __init__(self, settings: SmppSettings, sink: InboundSink) -> None:
        self._settings = settings
        self._sink = sink
        self._window = asyncio.Semaphore(settings.window)
        self._session: _Session | None = None
        self._bound = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._refs = itertools.count(random.randrange(256))
        self._reassembly = Reassembly(settings.mo_reassembly_timeout)
        self._in_flight = 0
        self._binds = 0
        self._enquire_link_acks = 0
        self._enquire_links_answered = 0
        self._last_error: str | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting in the background; sends fail RETRYABLE until bound."""
        if self._supervisor is None:
            self._stopping = False
            self._supervisor = asyncio.create_task(self._supervise(), name="smpp-supervisor")

    async def wait_bound(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._bound.wait(), timeout)
        return self._bound.is_set()

    async def stop(self) -> None:
        self._stopping = True
        session = self._session
        if session is not None:
            # A polite unbind lets the SMSC stop routing replies to this bind at once.
            with contextlib.suppress(NotWritten, ConnectionLost, TimeoutError, OSError):
                await asyncio.wait_for(session.request(Command.UNBIND), 1.0)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None

    def health(self) -> dict[str, Any]:
        return {
            "channel": self.name,
            "smsc": f"{self._settings.host}:{self._settings.port}",
            "bound": self._bound.is_set(),
            "outstanding": self._in_flight,
            "window": self._settings.window,
            "binds": self._binds,
            "reconnects": max(0, self._binds - 1),
            "enquire_link_acks": self._enquire_link_acks,
            "enquire_links_answered": self._enquire_links_answered,
            "mo_partials": len(self._reassembly),
            "last_error": self._last_error,
        }

    # -- sending ---------------------------------------------------------------------

    async def send(self, message: Outgoing) -> SendResult:
        try:
            submits = self._submits(message)
        except ValueError as exc:
            return SendResult.failed(FailureKind.PERMANENT, str(exc))
        ids: list[str] = []
        for index, submit in enumerate(submits, start=1):
            outcome = await self._submit(submit)
            if isinstance(outcome, SendResult):
                # Accepted parts keep their ids so their receipts still match.
                detail = f"segment {index}/{len(submits)}: {outcome.detail}"
                return SendResult(tuple(ids), outcome.failure, detail, outcome.retry_after)
            ids.append(outcome)
        return SendResult.sent(*ids)

    def _submits(self, message: Outgoing) -> list[SubmitSm]:
        destination = to_e164(message.to).removeprefix("+")
        text = sign(message.text, self._settings.signature)
        enc = encoding(text)
        parts = segments(text)
        if len(parts) == 1:
            return [self._submit_sm(destination, encode(text, enc), enc, esm_class=0)]
        if len(parts) > MAX_SEGMENTS:
            raise ValueError(f"message needs {len(parts)} segments, over {MAX_SEGMENTS}")
        ref = next(self._refs) & 0xFF
        return [
            self._submit_sm(
                destination, concat_udh(ref, len(parts), seq) + encode(part, enc), enc, UDHI
            )
            for seq, part in enumerate(parts, start=1)
        ]

    def _submit_sm(self, destination: str, data: bytes, enc: Encoding, esm_class: int) -> SubmitSm:
        s = self._settings
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

    async def _submit(self, submit: SubmitSm) -> str | SendResult:
        """The provider id of one accepted segment, or why it was not accepted."""
        if self._session is None:
            return SendResult.failed(FailureKind.RETRYABLE, "not bound to the SMSC")
        async with self._window:
            self._in_flight += 1
            try:
                return await self._request_submit(submit)
            finally:
                self._in_flight -= 1

    async def _request_submit(self, submit: SubmitSm) -> str | SendResult:
        session = self._session  # again: the link may have dropped while we queued
        if session is None:
            return SendResult.failed(FailureKind.RETRYABLE, "not bound to the SMSC")
        try:
            response = session.request(Command.SUBMIT_SM, submit.encode())
        except NotWritten:
            return SendResult.failed(FailureKind.RETRYABLE, "connection closing before write")
        # From here the SMSC may have the message: no answer means UNKNOWN, never a resend.
        try:
            async with asyncio.timeout(self._settings.submit_timeout):
                await session.writer.drain()
                pdu = await response
        except TimeoutError:
            wait = self._settings.submit_timeout
            return SendResult.failed(FailureKind.UNKNOWN, f"no submit_sm_resp within {wait}s")
        except (ConnectionLost, OSError) as exc:
            return SendResult.failed(FailureKind.UNKNOWN, f"connection lost awaiting resp: {exc}")
        return self._submit_outcome(pdu)

    def _submit_outcome(self, pdu: Pdu) -> str | SendResult:
        if pdu.command_id == Command.SUBMIT_SM_RESP and pdu.status == Status.ROK:
            return c_string_at_start(pdu.body)
        status = pdu.status
        if status in RETRYABLE_STATUS:
            retry_after = (
                self._settings.throttled_retry_after if status in THROTTLE_STATUS else None
            )
            detail = f"0x{status:02X} {RETRYABLE_STATUS[status]}"
            return SendResult.failed(FailureKind.RETRYABLE, detail, retry_after)
        kind = "generic_nack" if pdu.command_id == Command.GENERIC_NACK else "submit_sm_resp"
        return SendResult.failed(FailureKind.PERMANENT, f"{kind} status 0x{status:02X}")

    # -- the connection --------------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while True:
            try:
                session = await asyncio.wait_for(self._bind(), self._settings.connect_timeout)
            except _BIND_ERRORS as exc:
                self._note_error(f"bind failed: {exc!r}")
                failures += 1
            else:
                failures = 0
                await self._serve(session)
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        s = self._settings
        delay = min(s.reconnect_backoff_max, s.reconnect_backoff_min * 2 ** min(failures, 30))
        # Jitter keeps a fleet of gateways from re-binding in lockstep after an outage.
        return delay * random.uniform(0.5, 1.0)

    async def _bind(self) -> _Session:
        s = self._settings
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
        self._session = session
        self._binds += 1
        self._bound.set()
        log.info("smpp: bound to %s:%s", self._settings.host, self._settings.port)
        tasks = [
            asyncio.create_task(self._read_loop(session)),
            asyncio.create_task(self._keepalive(session)),
            asyncio.create_task(self._inbox_loop(session)),
        ]
        reason = "stopped"
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = _end_reason(done.pop())
            if not self._stopping:
                self._note_error(f"session ended: {reason}")
        finally:
            self._session = None
            self._bound.clear()
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
                self._enquire_links_answered += 1
            elif pdu.command_id == Command.DELIVER_SM:
                # Handled in order by the inbox loop, so a slow sink never stalls responses.
                session.inbox.put_nowait(pdu)
            elif pdu.command_id == Command.UNBIND:
                session.write(Command.UNBIND_RESP, pdu.sequence)
                return "unbind from SMSC"
            else:
                session.write(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDID)

    async def _keepalive(self, session: _Session) -> str:
        interval = self._settings.enquire_link_interval
        while True:
            await asyncio.sleep(interval)
            try:
                # A link that cannot answer within one interval is dead, even if TCP says not.
                await asyncio.wait_for(session.request(Command.ENQUIRE_LINK), interval)
            except TimeoutError:
                return f"no enquire_link_resp within {interval}s"
            self._enquire_link_acks += 1

    def _note_error(self, error: str) -> None:
        self._last_error = error
        log.warning("smpp: %s", error)

    # -- inbound ---------------------------------------------------------------------

    async def _inbox_loop(self, session: _Session) -> None:
        idle = min(self._settings.enquire_link_interval, self._settings.mo_reassembly_timeout)
        while True:
            try:
                pdu = await asyncio.wait_for(session.inbox.get(), idle)
            except TimeoutError:
                # A quiet line must not strand half a reply: hand it over incomplete.
                await self._hand_over_expired_logged()
                continue
            status = await self._on_deliver_sm(pdu)
            session.write(Command.DELIVER_SM_RESP, pdu.sequence, status, b"\0")

    async def _on_deliver_sm(self, pdu: Pdu) -> int:
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
        receipt = parse_receipt(deliver)
        if receipt is None:
            log.info("smpp: non-final or unreadable receipt from %s", deliver.source_addr)
            return
        await self._sink.receipt(receipt)

    async def _hand_over_expired(self) -> None:
        for key, message in self._reassembly.expired(time.monotonic()):
            await self._sink.inbound(message.inbound(incomplete=True))
            self._reassembly.discard(key)  # kept until the sink has it, like whole replies

    async def _hand_over_expired_logged(self) -> None:
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
            await self._sink.inbound(MoMessage(deliver, {1: payload}, [sequence]).inbound())
            return
        key, message = self._reassembly.add(deliver, concat, payload, sequence, time.monotonic())
        if message is not None:
            await self._sink.inbound(message.inbound())
            # Only forget the parts once the sink has them: a failure NAKs, and the
            # SMSC's redelivery of the last part completes the message again.
            self._reassembly.discard(key)


def _end_reason(task: asyncio.Task[Any]) -> str:
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed by SMSC"
    if exc is not None:
        return repr(exc)
    return str(task.result())


# -- receipts and replies ---------------------------------------------------------------

RECEIPT_TYPES = {0x04, 0x20}  # esm_class message type: SMSC receipt, intermediate notice
_RECEIPT_FIELD = re.compile(r"\b(id|stat|err):(\S*)", re.IGNORECASE)
_STAT = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "DELETED": "failed",
}
# message_state TLV values (SMPP 3.4 section 5.2.28) for SMSCs that send no text.
_MESSAGE_STATE = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 8: "REJECTD"}


def is_receipt(deliver: DeliverSm) -> bool:
    return (deliver.esm_class & 0x3C) in RECEIPT_TYPES


def parse_receipt(deliver: DeliverSm) -> Receipt | None:
    """A final delivery report, or None for ENROUTE/ACCEPTD/unreadable ones."""
    fields = {k.lower(): v for k, v in _RECEIPT_FIELD.findall(decode_text(deliver))}
    tlv_id = deliver.tlvs.get(Tag.RECEIPTED_MESSAGE_ID, b"").rstrip(b"\0").decode("latin-1")
    message_id = tlv_id or fields.get("id", "")
    stat = fields.get("stat", "").upper()
    if not stat and Tag.MESSAGE_STATE in deliver.tlvs:
        stat = _MESSAGE_STATE.get(deliver.tlvs[Tag.MESSAGE_STATE][0], "")
    status = _STAT.get(stat)
    if not message_id or status is None:
        return None
    detail = f"stat:{stat}" + (f" err:{fields['err']}" if "err" in fields else "")
    return Receipt(channel="sms", provider_message_id=message_id, status=status, detail=detail)


_CODECS = {1: "ascii", 3: "latin-1", 8: "utf-16-be", 0x0F: "gbk"}  # 0x0F: GB2312/GBK in CN


def decode_text(deliver: DeliverSm, payload: bytes | None = None) -> str:
    data = deliver.payload if payload is None else payload
    if deliver.data_coding == 0:
        return decode_gsm7(data)
    # GSM 03.38 general data coding group with the UCS-2 alphabet bits (e.g. 0x18).
    ucs2 = (deliver.data_coding & 0xE0) == 0 and (deliver.data_coding & 0x0C) == 0x08
    codec = "utf-16-be" if ucs2 else _CODECS.get(deliver.data_coding, "latin-1")
    return data.decode(codec, errors="replace")


def sar_concat(deliver: DeliverSm) -> Concat | None:
    """Concatenation signalled by sar_* TLVs instead of a UDH."""
    t = deliver.tlvs
    if Tag.SAR_MSG_REF_NUM not in t or Tag.SAR_TOTAL_SEGMENTS not in t:
        return None
    return Concat(
        int.from_bytes(t[Tag.SAR_MSG_REF_NUM], "big"),
        t[Tag.SAR_TOTAL_SEGMENTS][0],
        t.get(Tag.SAR_SEGMENT_SEQNUM, b"\x01")[0],
    )


@dataclass
class MoMessage:
    """A reply, whole or in parts, as it reached us."""

    first: DeliverSm
    parts: dict[int, bytes]  # segment number -> payload without UDH
    sequences: list[int]
    total: int = 1
    ref: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.total

    def inbound(self, incomplete: bool = False) -> InboundText:
        # Decode the joined bytes, not each part: a UTF-16 pair may straddle two parts.
        data = b"".join(self.parts[n] for n in sorted(self.parts))
        raw: dict[str, Any] = {
            "source_addr": self.first.source_addr,
            "source_addr_ton": self.first.source_addr_ton,
            "destination_addr": self.first.destination_addr,
            "data_coding": self.first.data_coding,
            "esm_class": self.first.esm_class,
            "sequence_numbers": list(self.sequences),
            "payload_hex": data.hex(),
        }
        if self.total > 1:
            raw.update(concat_ref=self.ref, segments=self.total, received=sorted(self.parts))
        if incomplete:
            raw["incomplete"] = True
        return InboundText(
            channel="sms",
            sender=self.first.source_addr,
            text=decode_text(self.first, data),
            # SMPP 3.4 gives a reply no message id; the raw fields let the service dedup.
            provider_message_id=None,
            raw=raw,
        )


class Reassembly:
    """Collects the parts of multi-part replies until all have arrived or time runs out."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._partials: dict[tuple[str, str, int, int], MoMessage] = {}

    def __len__(self) -> int:
        return len(self._partials)

    def add(
        self, deliver: DeliverSm, concat: Concat, payload: bytes, sequence: int, now: float
    ) -> tuple[tuple[str, str, int, int], MoMessage | None]:
        key = (deliver.source_addr, deliver.destination_addr, concat.ref, concat.total)
        message = self._partials.get(key)
        if message is None:
            message = MoMessage(deliver, {}, [], concat.total, concat.ref, now)
            self._partials[key] = message
        message.parts[concat.seq] = payload
        message.sequences.append(sequence)
        return key, (message if message.complete else None)

    def discard(self, key: tuple[str, str, int, int]) -> None:
        self._partials.pop(key, None)

    def expired(self, now: float) -> list[tuple[tuple[str, str, int, int], MoMessage]]:
        """Partials waited on too long; the caller discards each once handed over."""
        return [(k, m) for k, m in self._partials.items() if now - m.started > self._timeout]
