"""The SMS channel over CMPP 3.0 (or 2.0): one long connection to a carrier's ISMG.

Outbound: each message is signed, split into UCS-2 parts (a UDH numbers the parts of a
long one) and sent as CMPP_SUBMITs within a window of outstanding requests; every part's
Msg_Id from SUBMIT_RESP is a provider id, matched later by its status report. Inbound:
CMPP_DELIVER carries those status reports and people's replies; both reach the sink before
we answer DELIVER_RESP, so an ISMG whose answer got lost redelivers rather than drops (the
reply's Msg_Id lets the service drop the repeat).

Per-extension replies: with `extensions` on, a notice about a matter goes out from our
number plus the recipient's short number for that matter (replies/short_numbers.py), so a
reply to 10690000123 + 2 means "2 …" even when the text names no matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dispatch.channel import FailureKind, InboundSink, InboundText, Outgoing, Receipt, SendResult
from scheduler.clock import SHANGHAI
from sms_gateway import cmpp_pdu as wire
from sms_gateway.cmpp_pdu import Command, ConnectResp, Deliver, Pdu, PduError, Result, Submit
from sms_gateway.long_link import end_reason, keep_connected
from sms_gateway.smpp_pdu import concat_udh, split_udh
from sms_gateway.text import Encoding, segments, sign, to_e164

log = logging.getLogger(__name__)

# CMPP_CONNECT_RESP Status (CMPP 3.0 section 7.4.1.2).
CONNECT_STATUS = {
    1: "message structure error",
    2: "illegal source address (check cmpp.source_addr, the SP_Id)",
    3: "authentication failed (check cmpp.shared_secret and this host's clock)",
    4: "version too high (set cmpp.version = 0x20 for a CMPP 2.0 gateway)",
}
# SUBMIT_RESP Result: only flow control is worth retrying; the rest is a refusal.
THROTTLED = 8  # 流量控制错
SUBMIT_RESULT = {
    1: "message structure error", 2: "command error", 3: "duplicate sequence",
    4: "message length error", 5: "fee code error", 6: "message too long",
    7: "service id error", 8: "flow control", 9: "number not served by this gateway",
    10: "Src_Id error", 11: "Msg_src error", 12: "Fee_terminal_Id error",
    13: "Dest_terminal_Id error",
}  # fmt: skip
# Stat of a status report; anything else (e.g. MA:0001, MK:0005) failed at the carrier.
STAT = {"DELIVRD": "delivered", "EXPIRED": "expired"}
DELIVER_OK, DELIVER_MALFORMED, DELIVER_RETRY = 0, 1, 9
MSG_FMT_CODEC = {0: "ascii", 8: "utf-16-be", 15: "gbk"}
MAX_PARTS = 255
SRC_ID_OCTETS = 21


class CmppSettings(BaseModel):
    """Where the ISMG is, who we are to it, and how hard we push."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(7890, ge=1, le=65535)
    source_addr: str  # SP_Id, 6 characters: Source_Addr of CONNECT and Msg_src of SUBMIT
    shared_secret: SecretStr
    sp_code: str  # the SP access number (e.g. 10690000123): Src_Id without extension
    service_id: str = ""
    version: int = wire.V3
    extensions: bool = False  # send from sp_code + short number, read it back from Dest_Id
    window: int = Field(16, ge=1, le=64)  # SUBMITs awaiting their SUBMIT_RESP at once
    active_test_interval: float = Field(60.0, gt=0)
    reconnect_backoff_min: float = Field(1.0, gt=0)
    reconnect_backoff_max: float = Field(60.0, gt=0)
    connect_timeout: float = Field(10.0, gt=0)
    submit_timeout: float = Field(30.0, gt=0)
    throttled_retry_after: float = Field(1.0, gt=0)
    verify_ismg: bool = True  # check AuthenticatorISMG: the peer knows our secret too
    mo_reassembly_timeout: float = Field(600.0, gt=0)
    signature: str = ""

    @field_validator("source_addr")
    @classmethod
    def six_characters(cls, value: str) -> str:
        if len(value) != 6 or not value.isascii() or not value.isalnum():
            raise ValueError("must be the 6-character SP_Id")
        return value

    @field_validator("sp_code")
    @classmethod
    def access_number(cls, value: str) -> str:
        if not value.isdigit() or not 1 <= len(value) <= 20:
            raise ValueError("must be 1-20 digits (the SP access number)")
        return value

    @field_validator("shared_secret")
    @classmethod
    def usable_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret or not secret.isascii():
            raise ValueError("must be a non-empty ASCII string")
        return value

    @field_validator("version")
    @classmethod
    def known_version(cls, value: int) -> int:
        if value not in (wire.V3, wire.V2):
            raise ValueError("must be 0x30 (CMPP 3.0) or 0x20 (CMPP 2.0)")
        return value

    @model_validator(mode="after")
    def backoff_order(self) -> CmppSettings:
        if self.reconnect_backoff_min > self.reconnect_backoff_max:
            raise ValueError("reconnect_backoff_min is above reconnect_backoff_max")
        return self


class ConnectRefused(Exception):
    """The ISMG answered CMPP_CONNECT with an error status."""


class ConnectionLost(Exception):
    """The connection ended while a request awaited its response."""


ExtensionFor = Callable[[Outgoing], Awaitable[str]]
_CONNECT_ERRORS = (OSError, TimeoutError, PduError, ConnectRefused, asyncio.IncompleteReadError)


class _Link:
    """One TCP connection after CMPP_CONNECT: sequence ids and awaited responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, asyncio.Future[Pdu]] = {}
        self._sequences = itertools.count(1)

    def send(self, command: int, body: bytes = b"", sequence: int | None = None) -> int:
        sequence = next(self._sequences) & 0xFFFFFFFF if sequence is None else sequence
        if self.writer.is_closing():
            raise ConnectionLost("connection closing")
        self.writer.write(Pdu(command, sequence, body).encode())
        return sequence

    def request(self, command: int, body: bytes = b"") -> asyncio.Future[Pdu]:
        sequence = self.send(command, body)
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.pending[sequence] = future
        future.add_done_callback(lambda _: self.pending.pop(sequence, None))
        return future

    def resolve(self, pdu: Pdu) -> None:
        future = self.pending.get(pdu.sequence)
        if future is not None and not future.done():
            future.set_result(pdu)

    def close(self, reason: str) -> None:
        for future in list(self.pending.values()):
            if not future.done():
                future.set_exception(ConnectionLost(reason))
        self.writer.close()


class CmppChannel:
    """The "sms" channel over one CMPP connection, reconnecting on its own."""

    name = "sms"

    def __init__(self, settings: CmppSettings, sink: InboundSink, *,
                 extension_for: ExtensionFor | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(SHANGHAI)) -> None:
        self._settings = settings
        self._sink = sink
        self._extension_for = extension_for if settings.extensions else None
        self._now = now  # the CONNECT timestamp is Beijing wall time
        self._window = asyncio.Semaphore(settings.window)
        self._link: _Link | None = None
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._refs = itertools.count(random.randrange(256))
        self._partials: dict[tuple[str, str, int, int], _Partial] = {}
        self._stats = {"connects": 0, "active_tests_sent": 0, "active_tests_answered": 0,
                       "throttled": 0}
        self._in_flight = 0
        self._last_error: str | None = None

    @property
    def concurrency(self) -> int:
        """The dispatcher may keep a window's worth of sends in flight."""
        return self._settings.window

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._supervisor is None:
            s = self._settings
            supervise = keep_connected(
                self._connect, self._serve, timeout=s.connect_timeout, errors=_CONNECT_ERRORS,
                on_error=self._note_error, low=s.reconnect_backoff_min,
                high=s.reconnect_backoff_max)
            self._supervisor = asyncio.create_task(supervise, name="cmpp-supervisor")

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self._connected.is_set()

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        link = self._link
        if link is not None:
            # CMPP_TERMINATE tells the ISMG to stop routing replies to this connection now.
            with contextlib.suppress(ConnectionLost, TimeoutError, OSError):
                await asyncio.wait_for(link.request(Command.TERMINATE), 1.0)
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor

    def health(self) -> dict[str, Any]:
        s = self._settings
        return {
            "channel": self.name, "provider": "cmpp", "version": f"0x{s.version:02X}",
            "ismg": f"{s.host}:{s.port}", "connected": self._connected.is_set(),
            "outstanding": self._in_flight, "window": s.window,
            "reconnects": max(0, self._stats["connects"] - 1), **self._stats,
            "mo_partials": len(self._partials), "last_error": self._last_error,
        }  # fmt: skip

    # -- sending ---------------------------------------------------------------------

    async def send(self, message: Outgoing) -> SendResult:
        try:
            submits = await self._submits(message)
        except ValueError as exc:  # PduError too: e.g. an address too long for its field
            return SendResult.failed(FailureKind.PERMANENT, str(exc))
        ids: list[str] = []
        for index, submit in enumerate(submits, start=1):
            outcome = await self._submit(submit)
            if isinstance(outcome, SendResult):
                detail = f"part {index}/{len(submits)}: {outcome.detail}"
                # Accepted parts keep their ids so their status reports still match.
                return SendResult(tuple(ids), outcome.failure, detail, outcome.retry_after,
                                  outcome.throttled)
            ids.append(outcome)
        return SendResult.sent(*ids)

    async def _submits(self, message: Outgoing) -> list[bytes]:
        s = self._settings
        dest = to_e164(message.to).removeprefix("+86")  # China Mobile wants the 11 digits
        src_id = s.sp_code + (await self._extension_for(message) if self._extension_for else "")
        if len(src_id) > SRC_ID_OCTETS:  # a number too long to extend: replies need the code
            src_id = s.sp_code
        parts = [p.encode("utf-16-be") for p in segments(sign(message.text, s.signature),
                                                          Encoding.UCS2)]
        if len(parts) > MAX_PARTS:
            raise ValueError(f"message needs {len(parts)} parts, over {MAX_PARTS}")
        one = Submit(s.source_addr, src_id, dest, parts[0], s.service_id)
        if len(parts) == 1:
            return [one.encode(s.version)]
        ref = next(self._refs) & 0xFF
        return [
            Submit(s.source_addr, src_id, dest, concat_udh(ref, len(parts), n) + part,
                   s.service_id, pk_total=len(parts), pk_number=n, udhi=1).encode(s.version)
            for n, part in enumerate(parts, start=1)
        ]

    async def _submit(self, body: bytes) -> str | SendResult:
        """The Msg_Id of one accepted part, or why it was not accepted."""
        async with self._window:
            link = self._link  # read inside the window: the link may have dropped meanwhile
            if link is None:
                return SendResult.failed(FailureKind.RETRYABLE, "not connected to the ISMG")
            try:
                response = link.request(Command.SUBMIT, body)
            except ConnectionLost:
                return SendResult.failed(FailureKind.RETRYABLE, "connection closing before write")
            self._in_flight += 1
            # From here the ISMG may have the message: no answer is UNKNOWN, never a resend.
            try:
                async with asyncio.timeout(self._settings.submit_timeout):
                    pdu = await response
            except TimeoutError:
                return SendResult.failed(FailureKind.UNKNOWN, "no CMPP_SUBMIT_RESP in time")
            except (ConnectionLost, OSError) as exc:
                return SendResult.failed(FailureKind.UNKNOWN, f"connection lost: {exc}")
            finally:
                self._in_flight -= 1
        return self._submit_outcome(pdu)

    def _submit_outcome(self, pdu: Pdu) -> str | SendResult:
        try:
            resp = Result.decode(pdu.body, self._settings.version)
        except PduError as exc:
            return SendResult.failed(FailureKind.UNKNOWN, f"unreadable SUBMIT_RESP: {exc}")
        if resp.result == 0:
            return resp.msg_id
        detail = f"Result {resp.result} {SUBMIT_RESULT.get(resp.result, 'other error')}"
        if resp.result == THROTTLED:
            self._stats["throttled"] += 1
            return SendResult.failed(FailureKind.RETRYABLE, detail,
                                     self._settings.throttled_retry_after, throttled=True)
        return SendResult.failed(FailureKind.PERMANENT, detail)

    # -- the connection --------------------------------------------------------------

    async def _connect(self) -> _Link:
        s = self._settings
        reader, writer = await asyncio.open_connection(s.host, s.port)
        link = _Link(reader, writer)
        try:
            timestamp = self._now().astimezone(SHANGHAI).strftime("%m%d%H%M%S")
            secret = s.shared_secret.get_secret_value()
            link.send(Command.CONNECT, wire.connect(s.source_addr, secret, timestamp, s.version))
            pdu = await wire.read_pdu(reader)  # answered before the read loop runs
            if pdu.command_id != Command.CONNECT_RESP:
                raise PduError(f"expected CMPP_CONNECT_RESP, got 0x{pdu.command_id:08X}")
            self._check_connect(ConnectResp.decode(pdu.body), pdu.body, timestamp)
        except BaseException:
            link.close("connect failed")
            raise
        return link

    def _check_connect(self, resp: ConnectResp, body: bytes, timestamp: str) -> None:
        s = self._settings
        if resp.status:
            reason = CONNECT_STATUS.get(resp.status, "other error")
            raise ConnectRefused(f"CMPP_CONNECT status {resp.status}: {reason}")
        if s.verify_ismg:
            secret = s.shared_secret.get_secret_value()
            source = wire.authenticator(s.source_addr, secret, timestamp)
            status = body[: len(body) - 17]  # the Status field as it came: 4 or 1 octets
            expected = hashlib.md5(status + source + secret.encode()).digest()  # noqa: S324
            if expected != resp.authenticator_ismg:
                raise ConnectRefused("AuthenticatorISMG does not match: not our ISMG?")

    async def _serve(self, link: _Link) -> None:
        self._link = link
        self._stats["connects"] += 1
        self._connected.set()
        log.info("cmpp: connected to %s:%s", self._settings.host, self._settings.port)
        inbox: asyncio.Queue[Pdu] = asyncio.Queue()
        tasks = [asyncio.create_task(self._read_loop(link, inbox)),
                 asyncio.create_task(self._active_test(link)),
                 asyncio.create_task(self._inbox_loop(link, inbox))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = end_reason(done.pop(), "the ISMG")
            if self._supervisor is not None:  # not stopping: say why the link ended
                self._note_error(f"connection ended: {reason}")
        finally:
            self._link = None
            self._connected.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            link.close("connection ended")

    async def _read_loop(self, link: _Link, inbox: asyncio.Queue[Pdu]) -> str:
        while True:
            pdu = await wire.read_pdu(link.reader)
            if pdu.is_response:
                link.resolve(pdu)
            elif pdu.command_id == Command.ACTIVE_TEST:
                link.send(Command.ACTIVE_TEST_RESP, b"\0", pdu.sequence)
                self._stats["active_tests_answered"] += 1
            elif pdu.command_id == Command.DELIVER:
                inbox.put_nowait(pdu)  # in order, and a slow sink never stalls responses
            elif pdu.command_id == Command.TERMINATE:
                link.send(Command.TERMINATE_RESP, b"", pdu.sequence)
                return "CMPP_TERMINATE from the ISMG"
            else:
                log.info("cmpp: ignored command 0x%08X", pdu.command_id)

    async def _active_test(self, link: _Link) -> str:
        interval = self._settings.active_test_interval
        while True:
            await asyncio.sleep(interval)
            try:
                # A link that cannot answer within one interval is dead, whatever TCP says.
                async with asyncio.timeout(interval):  # not wait_for: see long_link
                    await link.request(Command.ACTIVE_TEST)
            except TimeoutError:
                return f"no CMPP_ACTIVE_TEST_RESP within {interval}s"
            self._stats["active_tests_sent"] += 1

    def _note_error(self, error: str) -> None:
        self._last_error = error
        log.warning("cmpp: %s", error)

    # -- inbound ---------------------------------------------------------------------

    async def _inbox_loop(self, link: _Link, inbox: asyncio.Queue[Pdu]) -> None:
        idle = min(self._settings.active_test_interval, self._settings.mo_reassembly_timeout)
        while True:
            try:
                async with asyncio.timeout(idle):  # not wait_for: see long_link
                    pdu = await inbox.get()
            except TimeoutError:
                await self._hand_over_expired()  # a quiet line must not strand half a reply
                continue
            msg_id, result = await self._on_deliver(pdu)
            link.send(Command.DELIVER_RESP,
                      wire.deliver_resp(msg_id, result, self._settings.version), pdu.sequence)

    async def _on_deliver(self, pdu: Pdu) -> tuple[bytes, int]:
        """Hand a DELIVER to the sink; the Result tells the ISMG whether to redeliver."""
        msg_id = pdu.body[:8].ljust(8, b"\0")
        try:
            deliver = Deliver.decode(pdu.body, self._settings.version)
            if deliver.registered_delivery:
                await self._on_report(deliver)
            else:
                await self._on_mo(deliver)
        except PduError as exc:
            log.warning("cmpp: malformed CMPP_DELIVER %d: %s", pdu.sequence, exc)
            return msg_id, DELIVER_MALFORMED
        except Exception:
            log.exception("cmpp: sink failed on CMPP_DELIVER %d; ISMG will redeliver",
                          pdu.sequence)
            return msg_id, DELIVER_RETRY
        return msg_id, DELIVER_OK

    async def _on_report(self, deliver: Deliver) -> None:
        report = wire.StatusReport.decode(deliver.content)
        status = STAT.get(report.stat, "failed")
        await self._sink.receipt(Receipt(channel="sms", provider_message_id=report.msg_id,
                                         status=status, detail=f"stat:{report.stat}"))

    async def _on_mo(self, deliver: Deliver) -> None:
        await self._hand_over_expired()
        concat, content = None, deliver.content
        if deliver.udhi:
            concat, content = split_udh(content)
        if concat is None or concat.total <= 1:
            await self._sink.inbound(_Partial(deliver, 1).add(1, deliver, content).inbound(self))
            return
        key = (deliver.src_terminal_id, deliver.dest_id, concat.ref, concat.total)
        partial = self._partials.setdefault(key, _Partial(deliver, concat.total))
        partial.add(concat.seq, deliver, content)
        if partial.complete:
            await self._sink.inbound(partial.inbound(self))
            self._partials.pop(key, None)  # only once the sink has it: a failure redelivers

    async def _hand_over_expired(self) -> None:
        now = time.monotonic()
        timeout = self._settings.mo_reassembly_timeout
        for key, partial in list(self._partials.items()):
            if now - partial.started > timeout:
                await self._sink.inbound(partial.inbound(self, incomplete=True))
                self._partials.pop(key, None)

    def extension_of(self, dest_id: str) -> str:
        """What follows our access number in the Dest_Id a handset replied to."""
        code = self._settings.sp_code
        return dest_id[len(code):] if dest_id.startswith(code) else ""


@dataclass
class _Partial:
    """A reply, whole or in parts, as it reached us."""

    first: Deliver
    total: int
    parts: dict[int, tuple[Deliver, bytes]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.total

    def add(self, number: int, deliver: Deliver, content: bytes) -> _Partial:
        self.parts[number] = (deliver, content)
        return self

    def inbound(self, channel: CmppChannel, incomplete: bool = False) -> InboundText:
        ordered = [self.parts[n] for n in sorted(self.parts)]
        # Decode the joined bytes, not each part: a UTF-16 pair may straddle two parts.
        data = b"".join(content for _, content in ordered)
        ids = [wire.msg_id_text(d.msg_id) for d, _ in ordered]
        raw: dict[str, Any] = {
            "src_terminal_id": self.first.src_terminal_id, "dest_id": self.first.dest_id,
            "service_id": self.first.service_id, "msg_fmt": self.first.msg_fmt,
            "msg_ids": ids, "content_hex": data.hex(),
        }  # fmt: skip
        if extension := channel.extension_of(self.first.dest_id):
            raw["extension"] = extension
        if self.total > 1:
            raw.update(parts=self.total, received=sorted(self.parts))
        if incomplete:
            raw["incomplete"] = True
        codec = MSG_FMT_CODEC.get(self.first.msg_fmt, "latin-1")
        return InboundText(
            channel="sms", sender=handset(self.first.src_terminal_id),
            text=data.decode(codec, errors="replace"),
            # The first part's Msg_Id names the reply: the ISMG's redelivery repeats it.
            provider_message_id=f"cmpp:{ids[0]}", raw=raw,
        )


def handset(src_terminal_id: str) -> str:
    """The ISMG writes the sender as 13800138000 or 8613800138000; make the latter E.164."""
    number = src_terminal_id.strip()
    return "+" + number if len(number) == 13 and number.startswith("86") else number
