"""What an SMSC sends us over SMPP, read into the channel contract: delivery receipts and
people's replies, plus the ids both are matched or deduplicated by.

SMPP leaves two gaps this module closes. A submit_sm_resp id may be hex while the receipt
spells the same number in decimal (`MessageIds`). A reply has no message id at all, so a
redelivered deliver_sm looks new unless it gets a key from its content (`MoKeys`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from dispatch.channel import InboundText, Receipt
from sms_gateway.smpp_pdu import Concat, DeliverSm, Tag
from sms_gateway.text import decode_gsm7

IdBase = Literal["auto", "decimal", "hex"]

# -- message ids: one number, two spellings ---------------------------------------------

_DECIMAL = re.compile(r"[0-9]{1,40}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,40}")
_HEX_WITH_LETTER = re.compile(r"(?=.*[A-Fa-f])[0-9A-Fa-f]{1,40}")


class MessageIds:
    """Matches receipts to submits when the SMSC spells one id two ways.

    An id read as a number gets a second spelling, "#" + its decimal value; a receipt's id
    is reported in that spelling whenever it reads as a number. So `1A2B3C0B` (hex, from
    submit_sm_resp) and `0439041035` (decimal, in the receipt text) both become `#439041035`.
    "auto" reads an id with a letter A-F as hex and one of digits as decimal: an SMSC whose
    hex ids may lack letters must be configured as "hex", or 2% of its receipts miss.
    The "#" keeps these spellings apart from any id an SMSC issues itself.
    """

    def __init__(self, submit_base: IdBase, receipt_base: IdBase) -> None:
        self._submit_base = submit_base
        self._receipt_base = receipt_base

    def spellings(self, submitted: str) -> tuple[str, ...]:
        """The provider ids of one accepted segment: as the SMSC gave it, then as a number."""
        number = _number(submitted, self._submit_base)
        return (submitted,) if number is None else (submitted, f"#{number}")

    def receipt_id(self, reported: str) -> str:
        number = _number(reported, self._receipt_base)
        return reported if number is None else f"#{number}"

    def group(self, provider_ids: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Split the flat ids of earlier accepted segments back into one tuple per segment."""
        groups: list[tuple[str, ...]] = []
        at = 0
        while at < len(provider_ids):
            spelled = self.spellings(provider_ids[at])
            if provider_ids[at : at + len(spelled)] != spelled:
                spelled = provider_ids[at : at + 1]  # stored before a settings change
            groups.append(spelled)
            at += len(spelled)
        return groups


def _number(value: str, base: IdBase) -> int | None:
    if base == "hex" or (base == "auto" and _HEX_WITH_LETTER.fullmatch(value)):
        return int(value, 16) if _HEX.fullmatch(value) else None
    return int(value) if _DECIMAL.fullmatch(value) else None


# -- receipts ---------------------------------------------------------------------------

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


def parse_receipt(deliver: DeliverSm, ids: MessageIds) -> Receipt | None:
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
    return Receipt(
        channel="sms", provider_message_id=ids.receipt_id(message_id), status=status,
        detail=detail,
    )  # fmt: skip


_CODECS = {1: "ascii", 3: "latin-1", 8: "utf-16-be", 0x0F: "gbk"}  # 0x0F: GB2312/GBK in CN


def decode_text(deliver: DeliverSm, payload: bytes | None = None) -> str:
    data = deliver.payload if payload is None else payload
    if deliver.data_coding == 0:
        return decode_gsm7(data)
    # GSM 03.38 general data coding group with the UCS-2 alphabet bits (e.g. 0x18).
    ucs2 = (deliver.data_coding & 0xE0) == 0 and (deliver.data_coding & 0x0C) == 0x08
    codec = "utf-16-be" if ucs2 else _CODECS.get(deliver.data_coding, "latin-1")
    return data.decode(codec, errors="replace")


# -- replies (mobile originated) --------------------------------------------------------


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


_PER_SEGMENT_TAGS = {Tag.SAR_SEGMENT_SEQNUM}


@dataclass
class MoMessage:
    """A reply, whole or in parts, as it reached us."""

    first: DeliverSm  # the lowest-numbered part received: its fields stand for the reply
    parts: dict[int, bytes]  # segment number -> payload without UDH
    sequences: list[int]
    total: int = 1
    ref: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.total

    @property
    def data(self) -> bytes:
        # Decode the joined bytes, not each part: a UTF-16 pair may straddle two parts.
        return b"".join(self.parts[n] for n in sorted(self.parts))

    def content_digest(self) -> str:
        """What stays the same when the SMSC delivers this reply again: both addresses, the
        bytes, the coding, the concatenation reference a handset picks anew for each long
        message, and every TLV (an SMSC's own timestamp or id TLVs included)."""
        d = self.first
        tlvs = sorted((t, v.hex()) for t, v in d.tlvs.items() if t not in _PER_SEGMENT_TAGS)
        fields = (
            d.source_addr, d.source_addr_ton, d.source_addr_npi, d.destination_addr,
            d.service_type, d.protocol_id, d.data_coding, d.esm_class, self.data.hex(),
            self.ref, self.total, sorted(self.parts), tlvs,
        )  # fmt: skip
        return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]

    def inbound(self, key: str, incomplete: bool = False) -> InboundText:
        raw: dict[str, Any] = {
            "source_addr": self.first.source_addr,
            "source_addr_ton": self.first.source_addr_ton,
            "destination_addr": self.first.destination_addr,
            "data_coding": self.first.data_coding,
            "esm_class": self.first.esm_class,
            "sequence_numbers": list(self.sequences),
            "payload_hex": self.data.hex(),
        }
        if self.total > 1:
            raw.update(concat_ref=self.ref, segments=self.total, received=sorted(self.parts))
        if incomplete:
            raw["incomplete"] = True
        return InboundText(
            channel="sms",
            sender=self.first.source_addr,
            text=decode_text(self.first, self.data),
            provider_message_id=key,  # SMPP gives a reply no id: see MoKeys
            raw=raw,
        )


class MoKeys:
    """Content keys for replies, so the inbox's dedup by provider id drops a redelivery.

    A redelivered deliver_sm repeats the original byte for byte, but so does a person who
    sends "收到" twice, and SMPP 3.4 carries no send time to tell them apart. So the key is
    the content digest plus the time it was first seen, in steps of `window` seconds: the
    same content again within `window` of its last sighting is a redelivery; later it is a
    new message. The step (not the exact time) lets a redelivery after our restart still
    meet the stored key within the same step. The cost, documented in the README: a person
    who sends the identical text twice within the window is answered once.
    """

    _PRUNE_AT = 10_000

    def __init__(self, window: float, now: Callable[[], float] = time.time) -> None:
        self._window = window
        self._now = now
        self._seen: dict[str, tuple[int, float]] = {}  # digest -> (step, last seen)

    def key(self, digest: str) -> str:
        now = self._now()
        step, last = self._seen.get(digest, (0, float("-inf")))
        if now - last > self._window:
            step = int(now // self._window)
        self._seen[digest] = (step, now)
        if len(self._seen) > self._PRUNE_AT:
            self._seen = {d: v for d, v in self._seen.items() if now - v[1] <= self._window}
        return f"smpp:{digest}:{step}"


PartialKey = tuple[str, str, int, int]


class Reassembly:
    """Collects the parts of multi-part replies until all have arrived or time runs out."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._partials: dict[PartialKey, MoMessage] = {}

    def __len__(self) -> int:
        return len(self._partials)

    def add(
        self, deliver: DeliverSm, concat: Concat, payload: bytes, sequence: int, now: float
    ) -> tuple[PartialKey, MoMessage | None]:
        key = (deliver.source_addr, deliver.destination_addr, concat.ref, concat.total)
        message = self._partials.get(key)
        if message is None:
            message = MoMessage(deliver, {}, [], concat.total, concat.ref, now)
            self._partials[key] = message
        if all(concat.seq < n for n in message.parts):
            message.first = deliver  # whatever order the parts arrive in, part 1 speaks
        message.parts[concat.seq] = payload
        message.sequences.append(sequence)
        return key, (message if message.complete else None)

    def discard(self, key: PartialKey) -> None:
        self._partials.pop(key, None)

    def expired(self, now: float) -> list[tuple[PartialKey, MoMessage]]:
        """Partials waited on too long; the caller discards each once handed over."""
        return [(k, m) for k, m in self._partials.items() if now - m.started > self._timeout]
