"""Properties of the reply parser that must hold for any text (hypothesis)."""

import dataclasses
import re
import string
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replies.normalize import normalize
from replies.parser import (
    ERROR_CODES,
    QUESTION_CODES,
    Intent,
    IntentKind,
    ParseError,
    Question,
    parse_reply,
)
from tests.replies.test_corpus import CORPUS

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
# No per-example deadline or speed health check: CI machines are shared and busy; the
# work bound is asserted on CPU time in test_parser.py instead.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRADES = {"优秀", "良好", "合格", "不合格"}
SEPARATORS = " :;,.、。!?~|/\\-—_\"'"

# Every code point, surrogates and unassigned ones included: "never raises on any str".
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char)

# Fragments of the grammar glued together reach far deeper than random text does.
TOKENS = [
    "D17", "d17", "【D17】", "1", "2", "号", "、", "：", " ", "收到", "好的", "ok", "全部收到",
    "进展", "延期", "申请办结", "已完成", "完成", "列表", "帮助", "?", "/approve", "@bot",
    "同意", "退回", "/grade", "评定", "优秀", "fail", "12月31日", "2026-12-31", "2月30日",
    "12.31", "月底", "下月底", "下周五", "周五", "3天后", "两周后", "至", "前", "——", "--",
    "水务局", "李一", "（", "）", "【", "】", "。", "！", "\u200b", "\ufe0f", "\u0301", "😀",
]  # fmt: skip
token_soup = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(any_char, max_size=3)), max_size=15
).map("".join)

receive_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31),
    timezones=st.sampled_from([ZoneInfo("Asia/Shanghai"), ZoneInfo("UTC"),
                               timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))]),
)  # fmt: skip

VALID = [case for case in CORPUS if isinstance(case.expected, Intent)]
SIGNATURES = ["——水务局李一", "--李一", "【水务局】", "（李一）", "(张三)", " —— 区住建局 王小明",
              "—小李", "【区水务局办公室】", "（欧阳娜娜）", "--城管局"]  # fmt: skip
TRAILERS = ["", "。", "！", "!!", "～", "😀", "👍", "…", " "]


def assert_well_formed(result: Intent | Question | ParseError, now: datetime) -> None:
    """Invariants every result satisfies, whatever the input."""
    if isinstance(result, Question):  # asked back; what a "是" would apply is well-formed
        assert result.code in QUESTION_CODES and result.detail
        assert result.proposal.kind is not IntentKind.CONFIRM
        return assert_well_formed(result.proposal, now)
    if isinstance(result, ParseError):
        assert result.code in ERROR_CODES
        if result.code == "unknown":
            assert 0 < len(result.detail) <= 20
        return
    assert isinstance(result, Intent) and isinstance(result.kind, IntentKind)
    code = result.matter_code
    assert code is None or re.fullmatch(r"[A-Z]{1,3}[0-9]{1,6}", code)
    assert result.short_number is None or 1 <= result.short_number <= 999
    assert result.text == result.text.strip(SEPARATORS)
    assert (result.new_deadline is not None) == (result.kind is IntentKind.EXTENSION)
    if result.new_deadline is not None:
        assert result.new_deadline >= now.astimezone(NOW.tzinfo).date()  # R17: not past
        assert result.text
    assert (result.grade in GRADES) == (result.kind is IntentKind.GRADE)
    if result.kind in (IntentKind.PROGRESS, IntentKind.COMPLETION, IntentKind.RETURN):
        assert result.text
    if result.kind in (IntentKind.APPROVE, IntentKind.RETURN, IntentKind.GRADE):
        assert code is not None
    if result.kind is IntentKind.ACKNOWLEDGE_ALL:
        assert code is None and result.short_number is None


@settings(RELAXED, max_examples=1500)
@given(text=st.one_of(any_text, token_soup), now=receive_times)
def test_any_text_never_raises_and_gives_a_well_formed_result(text, now):
    assert_well_formed(parse_reply(text, now=now), now)


@settings(RELAXED, max_examples=30)
@given(
    st.one_of(
        st.text(any_char, min_size=1900, max_size=3000),
        st.lists(st.sampled_from(TOKENS), min_size=500, max_size=1500).map("".join),
    )
)
def test_long_text_never_raises(text):
    assert_well_formed(parse_reply(text, now=NOW), NOW)


@settings(RELAXED, max_examples=1000)
@given(st.one_of(any_text, token_soup))
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@settings(RELAXED, max_examples=500)
@given(st.one_of(any_text, token_soup))
def test_normalized_text_has_no_edge_or_double_whitespace(text):
    once = normalize(text)
    assert once == once.strip()
    assert "  " not in once and "\u200b" not in once


@settings(RELAXED, max_examples=400)
@given(
    case=st.sampled_from(VALID),
    signature=st.sampled_from(SIGNATURES),
    trailer=st.sampled_from(TRAILERS),
)
def test_trailing_signature_does_not_change_the_intent(case, signature, trailer):
    assert parse_reply(case.text + signature + trailer, now=case.now) == case.expected


@settings(RELAXED, max_examples=400)
@given(case=st.sampled_from(CORPUS), data=st.data())
def test_full_width_variants_parse_the_same(case, data):
    """Phones send Ｄ１７ and ：；a random mix of half- and full-width ASCII is all one."""
    widen = data.draw(st.lists(st.booleans(), min_size=len(case.text), max_size=len(case.text)))
    mixed = "".join(_full_width(ch) if w else ch for ch, w in zip(case.text, widen, strict=True))
    assert parse_reply(mixed, now=case.now) == parse_reply(case.text, now=case.now)


@settings(RELAXED, max_examples=400)
@given(case=st.sampled_from(VALID), data=st.data())
def test_letter_case_does_not_change_the_intent(case, data):
    flips = data.draw(st.lists(st.booleans(), min_size=len(case.text), max_size=len(case.text)))
    mixed = "".join(ch.swapcase() if f and ch in string.ascii_letters else ch
                    for ch, f in zip(case.text, flips, strict=True))  # fmt: skip
    got = parse_reply(mixed, now=case.now)
    # The body keeps the case it was written in; everything else must match.
    assert isinstance(got, Intent)
    assert got.text.lower() == case.expected.text.lower()
    assert got == dataclasses.replace(case.expected, text=got.text)


def _full_width(ch: str) -> str:
    if ch == " ":
        return "\u3000"
    if "!" <= ch <= "~":
        return chr(ord(ch) + 0xFEE0)
    return ch
