"""Properties of the reply parser that must hold for any text (hypothesis)."""

import dataclasses
import re
import string
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replies.normalize import _SIMPLIFIED, _TRADITIONAL, normalize
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


# --- issue 9 part 1: the parser never takes a wrong action ------------------------------------
# For any reply a person might type, the result is the intended command, or a question or
# refusal: never another command.

PREFIXES = ["好的，", "好嘞", "哦哦 ", "嗯嗯，", "嗯 ", "王主任好，", "您好！", "李科长，", "领导好 ",
            "各位领导好，", "张局长您好，", "ok "]  # fmt: skip
NEGATIONS = ["不", "没", "没有", "未", "无法", "难以", "不能", "还没", "尚未", "暂未", "别", "未能",
             "没能", "暂时无法", "还没有", "不能按期", "无法按时"]  # fmt: skip
COMPLETION_WORDS = ["完成", "办结", "完结", "办完", "已完成", "已办结"]
ACK_WORDS = ["收到", "已收到", "收悉", "已阅", "好的收到", "收到了", "收到!"]
REPORT_WORDS = ["进展", "进度", "进展情况", "目前进展", "反馈", "汇报", "本周进展"]
REPORTS = ["已走访三户", "已完成排查", "管网已铺设200米", "还没办结,正在协调", "已约谈业主 下周复查",
           "完成一半", "已到现场核实,剩余两处"]  # fmt: skip
ADDRESSES = ["", "D17 ", "d17", "【D17】", "2 ", "D 17 ", "D-17 "]
AMBIGUOUS_DATES = ["下月", "下个月", "月中", "月初", "下旬", "12月中旬", "12月份", "下周", "年前",
                   "腊月二十", "正月十五", "农历十月初八", "冬月", "初八"]  # fmt: skip
SLIPPED = {"收到": ["手到", "受到", "首到", "收道", "shoudao"], "进展": ["近展", "进站", "jinzhan"],
           "延期": ["沿期", "延其", "yanqi"], "办结": ["办接", "半结", "banjie"]}  # fmt: skip


def _kinds_of(result) -> set:
    """The kinds a result would apply now: none for a question or a refusal."""
    return {result.kind} if isinstance(result, Intent) else set()


@settings(RELAXED, max_examples=400)
@given(case=st.sampled_from([c for c in VALID if normalize(c.text) != "?"]),
       prefix=st.sampled_from(PREFIXES))  # fmt: skip
def test_a_greeting_or_filler_before_a_reply_does_not_change_it(case, prefix):
    assert parse_reply(prefix + case.text, now=case.now) == case.expected


@settings(RELAXED, max_examples=400)
@given(
    case=st.sampled_from([c for c in VALID if c.expected.kind is IntentKind.COMPLETION]),
    negation=st.sampled_from(NEGATIONS),
    data=st.data(),
)
def test_r27_a_negation_before_a_completion_word_never_applies_for_completion(
    case, negation, data
):
    text = normalize(case.text)
    spots = [m.start() for w in COMPLETION_WORDS for m in re.finditer(w, text)]
    spot = data.draw(st.sampled_from(spots))
    negated = text[:spot] + negation + text[spot:]
    assert IntentKind.COMPLETION not in _kinds_of(parse_reply(negated, now=case.now)), negated


@settings(RELAXED, max_examples=800)
@given(
    before=token_soup,
    negation=st.sampled_from(NEGATIONS),
    word=st.sampled_from(COMPLETION_WORDS),
    after=token_soup,
)
def test_r27_any_text_with_a_negated_completion_word_is_no_completion(
    before, negation, word, after
):
    text = before + negation + word + after
    assert IntentKind.COMPLETION not in _kinds_of(parse_reply(text, now=NOW)), text


@settings(RELAXED, max_examples=600)
@given(
    approval=st.sampled_from(["同意D17", "D17 同意", "批准 D17", "同意【D17】"]),
    before=token_soup,
    denial=st.sampled_from(["不同意", "没同意", "没有同意", "未批准", "不予通过", "暂不同意"]),
    brackets=st.sampled_from([("", ""), ("【", "】"), ("（", "）"), ("--", "")]),
    after=token_soup,
)
def test_r27_an_approval_that_denies_agreement_anywhere_is_no_approval(
    approval, before, denial, brackets, after
):
    text = approval + before + brackets[0] + denial + brackets[1] + after
    assert IntentKind.APPROVE not in _kinds_of(parse_reply(text, now=NOW)), text


@settings(RELAXED, max_examples=400)
@given(
    address=st.sampled_from(ADDRESSES),
    ack=st.sampled_from(ACK_WORDS),
    sep=st.sampled_from(["。", ",", "，", " ", "！", "\n"]),
    word=st.sampled_from(REPORT_WORDS),
    colon=st.sampled_from(["：", ":", " ", ""]),
    report=st.sampled_from(REPORTS),
)
def test_r15_a_receipt_with_a_report_keeps_both(address, ack, sep, word, colon, report):
    got = parse_reply(f"{address}{ack}{sep}{word}{colon}{report}", now=NOW)
    assert isinstance(got, Intent) and got.kind is IntentKind.ACKNOWLEDGE
    assert got.report == report


@settings(RELAXED, max_examples=300)
@given(fragment=st.sampled_from(AMBIGUOUS_DATES), now=receive_times)
def test_r17_an_ambiguous_date_is_asked_never_guessed(fragment, now):
    got = parse_reply(f"D17 延期 {fragment} 资金未到位", now=now)
    assert isinstance(got, ParseError), got
    assert got.code in ("ambiguous_date", "lunar_date", "bad_date")


@settings(RELAXED, max_examples=300)
@given(now=receive_times, behind=st.integers(min_value=1, max_value=90),
       style=st.sampled_from(["{m}月{d}日", "{m}月{d}号", "{m}.{d}", "{m}-{d}"]))  # fmt: skip
def test_r17_a_yearless_date_just_past_is_asked_never_a_past_deadline(now, behind, style):
    local = now.astimezone(NOW.tzinfo).date()
    day = local - timedelta(days=behind)
    if day.year != local.year:
        return  # last year's date in the current year's spelling: a different case
    got = parse_reply(f"D17 延期 {style.format(m=day.month, d=day.day)} 资金未到位", now=now)
    assert got == ParseError("ambiguous_date", style.format(m=day.month, d=day.day))


@settings(RELAXED, max_examples=400)
@given(
    address=st.sampled_from(ADDRESSES),
    word=st.sampled_from(sorted(SLIPPED)),
    data=st.data(),
    body=st.sampled_from(["", " 已到现场", " 12月31日 资金未到位", " 已全部整改到位"]),
)
def test_r36_an_input_slip_is_asked_never_applied(address, word, data, body):
    slip = data.draw(st.sampled_from(SLIPPED[word]))
    got = parse_reply(f"{address}{slip}{body}", now=NOW)
    assert not isinstance(got, Intent), got
    if isinstance(got, Question):
        assert got.proposal == parse_reply(f"{address}{word}{body}", now=NOW)


TRADITIONAL_OF = {simple: trad for trad, simple in zip(_TRADITIONAL, _SIMPLIFIED, strict=True)}


@settings(RELAXED, max_examples=400)
@given(case=st.sampled_from(CORPUS), data=st.data())
def test_r36_traditional_characters_parse_the_same(case, data):
    """A phone set to traditional characters sends 進度/辦結/延長: any mix reads the same."""
    flips = data.draw(st.lists(st.booleans(), min_size=len(case.text), max_size=len(case.text)))
    mixed = "".join(TRADITIONAL_OF.get(ch, ch) if f else ch
                    for ch, f in zip(case.text, flips, strict=True))  # fmt: skip
    assert parse_reply(mixed, now=case.now) == parse_reply(case.text, now=case.now)
