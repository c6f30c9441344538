"""What every SMS provider needs before the wire: numbers, signature, encoding, segments.

Providers bill and deliver per segment, so the split here must match what the handset
reassembles: GSM-7 fits 160 septets in one SMS and 153 per part of a long one (the UDH
takes the rest); UCS-2 fits 70 UTF-16 units, 67 per part.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum

import phonenumbers

DEFAULT_SIGNATURE = "【尧都区督办】"

# GSM 03.38 default alphabet, indexed by septet value; 0x1B is the escape to the extension.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_ESCAPE = 0x1B
# Extension characters cost two septets: the escape plus this code.
GSM7_EXTENSION = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
_GSM7_CODE = {ch: code for code, ch in enumerate(GSM7_BASIC) if code != GSM7_ESCAPE}
_GSM7_EXTENSION_CHAR = {code: ch for ch, code in GSM7_EXTENSION.items()}


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


_BRACKET_SIGNATURE = re.compile(r"^【[^【】]{1,20}】|【[^【】]{1,20}】$")

# (units in a single SMS, units per part of a concatenated one)
_LIMITS = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


@functools.lru_cache(maxsize=4096)  # the same unit contacts recur in every round of messages
def to_e164(phone: str, region: str = "CN") -> str:
    """Normalise a phone number as people write it to E.164 (`+8613800138000`)."""
    try:
        number = _written_e164(phone) or phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {phone!r} ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number for region {region}: {phone!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_E164 = re.compile(r"\+([1-9]\d{6,14})")


def _written_e164(phone: str) -> phonenumbers.PhoneNumber | None:
    """A number written in E.164 already (every stored address is), read without the general
    parser, which costs more than the rest of sending an SMS; None for any other spelling."""
    match = _E164.fullmatch(phone)
    if match is None:
        return None
    digits = match.group(1)
    for size in (1, 2, 3):  # country codes are prefix-free: at most one of these is one
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if national.startswith("0"):  # a leading zero kept (Italy): the parser knows how
                return None
            return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return None


def sign(text: str, signature: str = DEFAULT_SIGNATURE) -> str:
    """Prefix the registered signature unless the text already carries one.

    Carriers reject messages with no signature and take any 【…】 block at either end
    as one, so a text already signed there (by us, or by a renderer configured with
    another signature) is left alone rather than shown with two.
    """
    if not signature or text.startswith(signature) or text.endswith(signature):
        return text
    if _BRACKET_SIGNATURE.search(text):
        return text
    return signature + text


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM default alphabet or its extension."""
    if all(ch in _GSM7_CODE or ch in GSM7_EXTENSION for ch in text):
        return Encoding.GSM7
    return Encoding.UCS2


def segments(text: str, enc: Encoding | None = None) -> list[str]:
    """Split text into the parts that go out as separate SMS, never inside a character.

    `enc` forces an alphabet (CMPP sends everything as UCS-2); by default the text picks it."""
    enc = enc or encoding(text)
    single, per_part = _LIMITS[enc]
    units = _units(text, enc)
    if units <= single:
        return [text]
    if units == len(text):  # every character one unit (the usual case): plain slices
        return [text[i:i + per_part] for i in range(0, len(text), per_part)]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _char_units(ch, enc)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    parts.append("".join(current))
    return parts


def count_segments(text: str) -> int:
    return len(segments(text))


def encode(text: str, enc: Encoding) -> bytes:
    """Wire bytes: UTF-16BE for UCS-2 (emoji as surrogate pairs), unpacked septets for GSM-7."""
    if enc is Encoding.UCS2:
        return text.encode("utf-16-be")
    out = bytearray()
    for ch in text:
        if ch in GSM7_EXTENSION:
            out += bytes((GSM7_ESCAPE, GSM7_EXTENSION[ch]))
        else:
            out.append(_GSM7_CODE[ch])
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Unpacked GSM-7 septets (one per byte, as SMSCs hand them over) to text."""
    out: list[str] = []
    escaped = False
    for byte in data:
        code = byte & 0x7F
        if escaped:
            # 03.38: an unknown escape sequence shows the basic-table character.
            out.append(_GSM7_EXTENSION_CHAR.get(code, GSM7_BASIC[code]))
            escaped = False
        elif code == GSM7_ESCAPE:
            escaped = True
        else:
            out.append(GSM7_BASIC[code])
    return "".join(out)


def _char_units(ch: str, enc: Encoding) -> int:
    if enc is Encoding.GSM7:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def _units(text: str, enc: Encoding) -> int:
    if enc is Encoding.UCS2:
        return len(text.encode("utf-16-le")) // 2
    return len(text) + sum(ch in GSM7_EXTENSION for ch in text)
