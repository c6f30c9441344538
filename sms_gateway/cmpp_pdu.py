"""A small CMPP codec (China Mobile Peer to Peer, versions 3.0 and 2.0): the messages an SP
client needs, read from asyncio streams.

Fixed-width octet strings are padded with NUL. 2.0 differs from 3.0 in a few sizes: phone
numbers take 21 octets instead of 32 (and carry no *_terminal_type), results are one octet
instead of four, SUBMIT ends with 8 reserved octets instead of a 20-octet LinkID.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct(">III")  # Total_Length, Command_Id, Sequence_Id
MAX_PDU_LENGTH = 4096  # the longest CMPP message is well under this
RESPONSE_BIT = 0x80000000
V3, V2 = 0x30, 0x20
UCS2 = 8  # Msg_Fmt
MAX_CONTENT = 140  # octets of Msg_Content, UDH included


class Command(IntEnum):
    CONNECT = 0x00000001
    CONNECT_RESP = 0x80000001
    TERMINATE = 0x00000002
    TERMINATE_RESP = 0x80000002
    SUBMIT = 0x00000004
    SUBMIT_RESP = 0x80000004
    DELIVER = 0x00000005
    DELIVER_RESP = 0x80000005
    ACTIVE_TEST = 0x00000008
    ACTIVE_TEST_RESP = 0x80000008


class PduError(ValueError):
    """Bytes that are not a well-formed CMPP message."""


@dataclass(frozen=True, slots=True)
class Pdu:
    command_id: int
    sequence: int
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def encode(self) -> bytes:
        return HEADER.pack(HEADER.size + len(self.body), self.command_id, self.sequence) + self.body


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """Read one whole message; IncompleteReadError at EOF, PduError on bad framing."""
    length, command_id, sequence = HEADER.unpack(await reader.readexactly(HEADER.size))
    if not HEADER.size <= length <= MAX_PDU_LENGTH:
        raise PduError(f"Total_Length {length} out of range")
    return Pdu(command_id, sequence, await reader.readexactly(length - HEADER.size))


def octets(value: str, size: int) -> bytes:
    """A fixed-width Octet String: ASCII, NUL-padded; too long is an error, not a cut."""
    data = value.encode("ascii")
    if len(data) > size:
        raise PduError(f"{value!r} is longer than {size} octets")
    return data.ljust(size, b"\0")


def phone_size(version: int) -> int:
    return 32 if version == V3 else 21


def result_size(version: int) -> int:
    return 4 if version == V3 else 1


# -- CONNECT ----------------------------------------------------------------------------


def authenticator(source_addr: str, secret: str, timestamp: str) -> bytes:
    """AuthenticatorSource = MD5(Source_Addr + 9 zero octets + shared secret + MMDDHHMMSS)."""
    data = source_addr.encode("ascii") + b"\0" * 9 + secret.encode("ascii") + timestamp.encode()
    return hashlib.md5(data).digest()  # noqa: S324 - the protocol prescribes MD5


def connect(source_addr: str, secret: str, timestamp: str, version: int) -> bytes:
    return (
        octets(source_addr, 6)
        + authenticator(source_addr, secret, timestamp)
        + bytes((version,))
        + struct.pack(">I", int(timestamp))
    )


@dataclass(frozen=True, slots=True)
class ConnectResp:
    status: int
    authenticator_ismg: bytes
    version: int

    @classmethod
    def decode(cls, body: bytes) -> ConnectResp:
        # 3.0 answers with a 4-octet Status (21 octets), 2.0 with one octet (18).
        if len(body) == 21:
            status, auth, version = struct.unpack(">I16sB", body)
        elif len(body) == 18:
            status, auth, version = struct.unpack(">B16sB", body)
        else:
            raise PduError(f"CMPP_CONNECT_RESP body of {len(body)} octets")
        return cls(status, auth, version)


# -- SUBMIT -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submit:
    msg_src: str  # the SP's enterprise code (6)
    src_id: str  # our number: SP access code + extension (21)
    dest: str  # the handset
    content: bytes  # UDH included when udhi
    service_id: str = ""
    pk_total: int = 1
    pk_number: int = 1
    udhi: int = 0
    msg_fmt: int = UCS2
    registered_delivery: int = 1
    fee_type: str = "01"  # free of charge to the recipient
    fee_code: str = "000000"

    def encode(self, version: int) -> bytes:
        if len(self.content) > MAX_CONTENT:
            raise PduError(f"Msg_Content of {len(self.content)} octets, over {MAX_CONTENT}")
        phone = phone_size(version)
        v3 = version == V3
        return b"".join((
            b"\0" * 8,  # Msg_Id: the ISMG fills it in
            bytes((self.pk_total, self.pk_number, self.registered_delivery, 0)),  # Msg_level
            octets(self.service_id, 10),
            bytes((0,)),  # Fee_UserType 0: the recipient (who pays nothing, FeeType 01)
            b"\0" * phone,  # Fee_terminal_Id
            bytes((0,)) if v3 else b"",  # Fee_terminal_type
            bytes((0, self.udhi, self.msg_fmt)),  # TP_pId, TP_udhi, Msg_Fmt
            octets(self.msg_src, 6),
            octets(self.fee_type, 2),
            octets(self.fee_code, 6),
            b"\0" * 17,  # ValId_Time: the ISMG's default
            b"\0" * 17,  # At_Time: now
            octets(self.src_id, 21),
            bytes((1,)),  # DestUsr_tl: one recipient per submit
            octets(self.dest, phone),
            bytes((0,)) if v3 else b"",  # Dest_terminal_type 0: a real number
            bytes((len(self.content),)),
            self.content,
            b"\0" * (20 if v3 else 8),  # LinkID (3.0) / Reserve (2.0)
        ))  # fmt: skip


def msg_id_text(raw: bytes) -> str:
    """Msg_Id as the provider id we store: 16 hex digits."""
    return raw.hex()


@dataclass(frozen=True, slots=True)
class Result:
    """SUBMIT_RESP / DELIVER_RESP."""

    msg_id: str
    result: int

    @classmethod
    def decode(cls, body: bytes, version: int) -> Result:
        size = result_size(version)
        if len(body) != 8 + size:
            raise PduError(f"response body of {len(body)} octets, expected {8 + size}")
        return cls(msg_id_text(body[:8]), int.from_bytes(body[8:], "big"))


def deliver_resp(msg_id: bytes, result: int, version: int) -> bytes:
    return msg_id + result.to_bytes(result_size(version), "big")


# -- DELIVER ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deliver:
    msg_id: bytes
    dest_id: str  # our number + the extension the handset replied to
    service_id: str
    udhi: int
    msg_fmt: int
    src_terminal_id: str
    registered_delivery: int  # 1: Msg_Content is a status report
    content: bytes

    @classmethod
    def decode(cls, body: bytes, version: int) -> Deliver:
        r = _Reader(body)
        msg_id, dest_id, service_id = r.take(8), r.text(21), r.text(10)
        r.take(1)  # TP_pid
        udhi, msg_fmt = r.byte(), r.byte()
        src = r.text(phone_size(version))
        if version == V3:
            r.take(1)  # Src_terminal_type
        registered, length = r.byte(), r.byte()
        content = r.take(length)
        return cls(msg_id, dest_id, service_id, udhi, msg_fmt, src, registered, content)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The Msg_Content of a DELIVER with Registered_Delivery 1."""

    msg_id: str
    stat: str

    @classmethod
    def decode(cls, content: bytes) -> StatusReport:
        if len(content) < 15:
            raise PduError(f"status report of {len(content)} octets")
        return cls(msg_id_text(content[:8]), content[8:15].rstrip(b"\0").decode("latin-1"))


class _Reader:
    def __init__(self, body: bytes) -> None:
        self._body = body
        self._at = 0

    def take(self, n: int) -> bytes:
        end = self._at + n
        if end > len(self._body):
            raise PduError("body ends inside a field")
        chunk, self._at = self._body[self._at : end], end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def text(self, n: int) -> str:
        return self.take(n).split(b"\0", 1)[0].decode("latin-1")
