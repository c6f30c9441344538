"""A small SMPP 3.4 codec: the PDUs an ESME transceiver needs, read from asyncio streams.

Only what the SMS channel uses is here: bind_transceiver, submit_sm, deliver_sm,
enquire_link, unbind, generic_nack and their responses, plus the concatenation UDH.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from enum import IntEnum

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence
MAX_PDU_LENGTH = 64 * 1024  # a corrupt length field must not make us buffer gigabytes
RESPONSE_BIT = 0x80000000
INTERFACE_VERSION = 0x34


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class Status(IntEnum):
    """The command_status values the channel acts on (SMPP 3.4 section 5.1.3)."""

    ROK = 0x00
    RINVCMDID = 0x03
    RINVBNDSTS = 0x04
    RSYSERR = 0x08
    RMSGQFUL = 0x14
    RTHROTTLED = 0x58
    RX_T_APPN = 0x64
    RX_P_APPN = 0x65


class Tag(IntEnum):
    """Optional parameter tags read from deliver_sm."""

    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    RECEIPTED_MESSAGE_ID = 0x001E
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class PduError(ValueError):
    """Bytes that are not a well-formed PDU."""


@dataclass(frozen=True, slots=True)
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def encode(self) -> bytes:
        header = HEADER.pack(
            HEADER.size + len(self.body), self.command_id, self.status, self.sequence
        )
        return header + self.body


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """Read one whole PDU; raises IncompleteReadError at EOF and PduError on bad framing."""
    length, command_id, status, sequence = HEADER.unpack(await reader.readexactly(HEADER.size))
    if not HEADER.size <= length <= MAX_PDU_LENGTH:
        raise PduError(f"command_length {length} out of range")
    body = await reader.readexactly(length - HEADER.size)
    return Pdu(command_id, status, sequence, body)


def c_string(value: str) -> bytes:
    return value.encode("ascii") + b"\0"


def bind_transceiver(
    system_id: str, password: str, system_type: str, addr_ton: int, addr_npi: int
) -> bytes:
    """The bind_transceiver body; address_range stays empty (route every MO to us)."""
    return (
        c_string(system_id)
        + c_string(password)
        + c_string(system_type)
        + bytes((INTERFACE_VERSION, addr_ton, addr_npi))
        + c_string("")
    )


@dataclass(frozen=True, slots=True)
class SubmitSm:
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    short_message: bytes
    data_coding: int
    esm_class: int = 0
    registered_delivery: int = 1

    def encode(self) -> bytes:
        if len(self.short_message) > 254:
            raise PduError("short_message longer than 254 octets")
        return (
            c_string("")  # service_type: SMSC default
            + bytes((self.source_addr_ton, self.source_addr_npi))
            + c_string(self.source_addr)
            + bytes((self.dest_addr_ton, self.dest_addr_npi))
            + c_string(self.destination_addr)
            + bytes((self.esm_class, 0, 0))  # protocol_id, priority_flag
            + c_string("")  # schedule_delivery_time: now
            + c_string("")  # validity_period: SMSC default
            + bytes((self.registered_delivery, 0, self.data_coding, 0, len(self.short_message)))
            + self.short_message
        )


@dataclass(frozen=True, slots=True)
class DeliverSm:
    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    protocol_id: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def decode(cls, body: bytes) -> DeliverSm:
        r = _BodyReader(body)
        service_type = r.c_string()
        src_ton, src_npi, src = r.byte(), r.byte(), r.c_string()
        dst_ton, dst_npi, dst = r.byte(), r.byte(), r.c_string()
        esm_class, protocol_id = r.byte(), r.byte()
        r.byte()  # priority_flag
        r.c_string()  # schedule_delivery_time
        r.c_string()  # validity_period
        r.byte()  # registered_delivery
        r.byte()  # replace_if_present_flag
        data_coding = r.byte()
        r.byte()  # sm_default_msg_id
        short_message = r.take(r.byte())
        return cls(
            service_type, src_ton, src_npi, src, dst_ton, dst_npi, dst,
            esm_class, protocol_id, data_coding, short_message, r.tlvs(),
        )  # fmt: skip

    @property
    def payload(self) -> bytes:
        """The message bytes, from message_payload when short_message is left empty."""
        return self.short_message or self.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")


def c_string_at_start(body: bytes) -> str:
    """The leading C-octet string of a body, e.g. message_id in submit_sm_resp."""
    return _BodyReader(body).c_string() if body else ""


class _BodyReader:
    def __init__(self, body: bytes) -> None:
        self._body = body
        self._at = 0

    def byte(self) -> int:
        return self.take(1)[0]

    def take(self, n: int) -> bytes:
        end = self._at + n
        if end > len(self._body):
            raise PduError("body ends inside a field")
        chunk = self._body[self._at : end]
        self._at = end
        return chunk

    def c_string(self) -> str:
        end = self._body.find(b"\0", self._at)
        if end < 0:
            raise PduError("unterminated C-octet string")
        value = self._body[self._at : end].decode("latin-1")
        self._at = end + 1
        return value

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self._at < len(self._body):
            tag, length = struct.unpack(">HH", self.take(4))
            found[tag] = self.take(length)
        return found


# -- concatenation (3GPP TS 23.040 9.2.3.24.1) ----------------------------------------


@dataclass(frozen=True, slots=True)
class Concat:
    """Which part of which long message a segment is."""

    ref: int
    total: int
    seq: int


UDHI = 0x40  # esm_class bit: short_message starts with a user data header


def concat_udh(ref: int, total: int, seq: int) -> bytes:
    """A UDH with the 8-bit-reference concatenation element (IE 0x00)."""
    return bytes((0x05, 0x00, 0x03, ref & 0xFF, total, seq))


def split_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """Strip a UDH; return its concatenation element (8- or 16-bit ref), if any."""
    if not short_message:
        raise PduError("UDHI set on an empty message")
    end = 1 + short_message[0]
    if end > len(short_message):
        raise PduError("UDH longer than the message")
    return _concat_element(short_message[1:end]), short_message[end:]


def _concat_element(udh: bytes) -> Concat | None:
    at = 0
    while at + 2 <= len(udh):
        iei, length = udh[at], udh[at + 1]
        data = udh[at + 2 : at + 2 + length]
        if iei == 0x00 and length == 3:
            return Concat(data[0], data[1], data[2])
        if iei == 0x08 and length == 4:
            return Concat(int.from_bytes(data[:2], "big"), data[2], data[3])
        at += 2 + length
    return None
