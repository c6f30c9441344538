"""Numbers, signature, encoding and segmentation shared by every SMS provider."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms_gateway.text import (
    DEFAULT_SIGNATURE,
    GSM7_BASIC,
    Encoding,
    count_segments,
    decode_gsm7,
    encode,
    encoding,
    segments,
    sign,
    to_e164,
)

# -- E.164 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["13800138000", "138-0013-8000", "+86 138 0013 8000", "008613800138000", "8613800138000"],
)
def test_chinese_mobile_numbers_as_people_write_them_normalise_to_e164(written: str) -> None:
    assert to_e164(written) == "+8613800138000"


def test_landline_with_area_code_normalises_to_e164() -> None:
    assert to_e164("0357-1234567") == "+863571234567"


def test_foreign_number_keeps_its_own_country_code() -> None:
    assert to_e164("+1 650 253 0000") == "+16502530000"


@pytest.mark.parametrize("bad", ["12345", "not a number", ""])
def test_invalid_numbers_raise_value_error_naming_the_input(bad: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        to_e164(bad)


# -- signature -----------------------------------------------------------------------


def test_signature_is_prefixed() -> None:
    assert sign("D17 请于24小时内回复") == "【尧都区督办】D17 请于24小时内回复"


def test_signature_is_added_exactly_once_when_already_there() -> None:
    signed = sign("D17 请回复")
    assert sign(signed) == signed
    assert sign("D17 请回复【尧都区督办】") == "D17 请回复【尧都区督办】"


def test_text_already_signed_with_another_bracket_signature_gets_no_second_one() -> None:
    # The renderer may sign with its own setting; carriers read any 【…】 edge block as one.
    assert sign("【督办】D17 请回复") == "【督办】D17 请回复"
    assert sign("D17 请回复【督办】") == "D17 请回复【督办】"
    assert sign("D17【紧急】请回复") == "【尧都区督办】D17【紧急】请回复"  # mid-text is content


def test_signature_is_configurable_and_may_be_empty() -> None:
    assert sign("D17", "【尧都区】") == "【尧都区】D17"
    assert sign("D17", "") == "D17"


# -- encoding ------------------------------------------------------------------------


def test_plain_latin_text_is_gsm7() -> None:
    assert encoding("Reply 1 to confirm D17 {ok} €5") is Encoding.GSM7


def test_any_chinese_character_makes_the_text_ucs2() -> None:
    assert encoding("Reply 1 to confirm D17，") is Encoding.UCS2
    assert encoding(DEFAULT_SIGNATURE) is Encoding.UCS2


def test_gsm7_bytes_round_trip_including_extension_characters() -> None:
    text = "Hi [D17] ~ {ok} | €\\^"
    data = encode(text, Encoding.GSM7)
    assert data.count(0x1B) == 9  # nine extension characters, each escaped
    assert decode_gsm7(data) == text


def test_gsm7_decode_of_an_unknown_escape_falls_back_to_the_basic_character() -> None:
    assert decode_gsm7(bytes((0x1B, 0x41))) == "A"


def test_ucs2_bytes_are_big_endian_utf16() -> None:
    assert encode("督办", Encoding.UCS2) == "督办".encode("utf-16-be")


# -- segmentation --------------------------------------------------------------------


def test_ucs2_fits_70_characters_in_one_sms() -> None:
    assert segments("办" * 70) == ["办" * 70]


def test_ucs2_long_message_splits_67_per_segment() -> None:
    parts = segments("办" * 71)
    assert [len(p) for p in parts] == [67, 4]
    assert count_segments("办" * 134) == 2
    assert count_segments("办" * 135) == 3


def test_gsm7_fits_160_in_one_and_153_per_segment() -> None:
    assert count_segments("a" * 160) == 1
    assert [len(p) for p in segments("a" * 161)] == [153, 8]


def test_gsm7_extension_characters_count_twice() -> None:
    assert count_segments("€" * 80) == 1
    assert count_segments("€" * 81) == 2
    # 76 euros fill 152 septets; a 77th would straddle, so it opens the next segment.
    assert [len(p) for p in segments("€" * 77 + "a" * 100)][0] == 76


def test_an_emoji_never_straddles_two_segments() -> None:
    text = "办" * 66 + "😀" + "办" * 10  # the emoji needs units 67 and 68
    parts = segments(text)
    assert parts[0] == "办" * 66
    assert parts[1].startswith("😀")
    assert "".join(parts) == text


@given(st.text(alphabet=st.sampled_from("办督D17 😀€a[" + GSM7_BASIC[:40]), max_size=400))
def test_segments_rejoin_to_the_text_and_each_fits_its_limit(text: str) -> None:
    parts = segments(text)
    assert "".join(parts) == text
    enc = encoding(text)
    per_part_bytes = 134 if enc is Encoding.UCS2 else 153
    single_bytes = 140 if enc is Encoding.UCS2 else 160
    limit = single_bytes if len(parts) == 1 else per_part_bytes
    for part in parts:
        assert len(encode(part, enc)) <= limit  # bytes = septets for unpacked GSM-7
        assert part.encode("utf-16-be").decode("utf-16-be") == part  # no lone surrogate
