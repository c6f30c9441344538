"""Unit tests for replies.normalize and replies.parser (the corpus covers breadth)."""

import dataclasses
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from replies.normalize import normalize
from replies.parser import (
    ERROR_CODES,
    MAX_CHARS,
    Intent,
    IntentKind,
    Parsed,
    ParseError,
    Question,
    parse_reply,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a Monday


def parse(text: str, now: datetime = NOW) -> Parsed:
    return parse_reply(text, now=now)


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ｄ１７　收到", "D17 收到"),  # full-width letters, digits, ideographic space
        ("Ｄ１７：进展，已完成；", "D17:进展,已完成"),  # full-width punctuation
        ("收\u200b到\u2060", "收到"),  # zero-width characters
        ("\ufeffD17 收到", "D17 收到"),  # byte-order mark from some gateways
        ("D17   进展\n\n已完成\t排查", "D17 进展 已完成 排查"),  # whitespace collapsed
        ("“收到”", "收到"),  # quotes unified, then stripped at the edges
        ("进展 按「一户一策」推进", '进展 按"一户一策"推进'),
        ("【D17】收到", "[D17]收到"),  # brackets unified; a leading code bracket stays
        ("〔D17〕收到", "[D17]收到"),
        ("延期 2026−12−31 理由", "延期 2026-12-31 理由"),  # minus sign folded to hyphen
        ("收到～～", "收到"),
        ("  ！！收到。。。  ", "收到"),
        ("收到👍😀", "收到"),
        ("1️⃣", "1"),  # keycap emoji
        ("Ok收到", "Ok收到"),  # case is kept; the grammar ignores it
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "signature",
    [
        "——水务局李一",
        "--李一",
        "—李一",
        "【水务局】",
        "（李一）",
        "(李一)",
        " —— 水务局 李一",
        "——区水务局办公室王小明",
        "（欧阳娜娜）",
        "--小李",
        "【区住建局办公室】",
        "——住建局",
        "【无锡市水务局】",  # a name with a negation character is still a name
    ],
)
def test_normalize_strips_trailing_signature(signature):
    assert normalize("D17 收到" + signature) == "D17 收到"


def test_normalize_strips_stacked_signatures_and_punctuation():
    assert normalize("收到。——水务局李一。（李一）") == "收到"


def test_normalize_strips_leading_lenticular_signature():
    assert normalize("【水务局】D17 收到") == "D17 收到"


@pytest.mark.parametrize(
    "text",
    [
        "进展 已完成排查(详见附件)",  # not a name: kept
        "进展 第一阶段(已完成)",
        "进展 土方已完成——约八成",  # a dash clause, not a signature
        "进展 完成进度85%",  # "%" survives the edge stripping
        "进展 详见[D17]",  # bracketed content without Chinese is no signature
        "进展 A-B段已完工",  # a single hyphen is no signature mark
        "进展 第一阶段[未完成]",  # a bracketed negation says something
    ],
)
def test_normalize_keeps_body_endings_that_are_not_signatures(text):
    assert normalize(text) == text


@pytest.mark.parametrize("text", ["D17申请办结D17【不完成】", "D17 办结 整改到位【未完成】",
                                  "【没办完】D17 办结 已整改", "D17 已办结【还没有】",
                                  "D17 已办结，还没有"])
def test_r27_a_bracketed_negation_or_a_bare_denial_is_no_completion(text):
    """Found by the negation property test: the bracket was dropped as an SMS signature,
    or the denial taken for the summary, and the completion it denies was filed."""
    assert not (isinstance(result := parse_reply(text, now=NOW), Intent)
                and result.kind is IntentKind.COMPLETION), result


@pytest.mark.parametrize("text", ["?", "？", "？？？", "?!", " ? ", "？（李一）"])
def test_normalize_keeps_a_lone_question_mark(text):
    assert normalize(text) == "?"


@pytest.mark.parametrize("text", ["", " ", "。。。", "😀", "\u200b", "【水务局】", "——李一"])
def test_normalize_to_empty(text):
    assert normalize(text) == ""


def test_normalize_is_idempotent_on_examples():
    for text in ["Ｄ１７　收到（李一）", "收到。——李一", "e\u200b\u0301", "¨收到", "？"]:
        once = normalize(text)
        assert normalize(once) == once


# --- API ----------------------------------------------------------------------------------


def test_error_codes_are_documented_one_line_each():
    assert set(ERROR_CODES) == {
        "empty", "unknown", "missing_text", "missing_date", "bad_date", "past_date",
        "missing_code", "bad_grade", "code_with_bulk", "multiple_codes", "ambiguous_date",
        "lunar_date", "completion_unclear", "taken_back",
    }  # fmt: skip
    for description in ERROR_CODES.values():
        assert description and "\n" not in description


def test_intent_kind_values_are_stable():
    assert [k.value for k in IntentKind] == [
        "acknowledge", "acknowledge_all", "progress", "extension", "completion", "consent",
        "list", "help", "approve", "return", "grade", "confirm", "view",
    ]  # fmt: skip
    assert IntentKind.ACKNOWLEDGE == "acknowledge"  # StrEnum: usable as plain text


def test_results_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse("收到").kind = IntentKind.HELP  # type: ignore[misc, union-attr]


def test_naive_now_is_a_caller_bug():
    with pytest.raises(ValueError):
        parse_reply("收到", now=datetime(2026, 11, 23, 10, 0))


def test_relative_dates_are_read_in_the_given_timezone():
    # 2026-11-30 20:00 UTC is already 1 December in Shanghai.
    now = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert parse_reply("延期 月底 资金未到位", now=now).new_deadline == date(2026, 12, 31)
    utc = parse_reply("延期 月底 资金未到位", now=now, tz=ZoneInfo("UTC"))
    assert utc.new_deadline == date(2026, 11, 30)


def test_only_the_first_max_chars_are_considered():
    body = "甲" * (MAX_CHARS - len("进展 "))
    assert parse("进展 " + body + "乙" * 5000) == Intent(IntentKind.PROGRESS, text=body)
    assert parse(" " * MAX_CHARS + "收到") == ParseError("empty")


def test_very_long_reply_is_fast_enough():
    # Catches catastrophic regex backtracking; CPU time, so a busy machine does not matter.
    start = time.process_time()
    for text in ["（李一）" * 600, "收到" * 2000, "延期 " + "1." * 2000, "——李一" * 500]:
        assert isinstance(parse(text), Intent | ParseError)
    assert time.process_time() - start < 2


# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["D17 收到", "d17收到", "Ｄ１７　收到", "【D17】收到", "D17：收到"]
)
def test_code_is_normalised_to_upper_case(text):
    assert parse(text) == Intent(IntentKind.ACKNOWLEDGE, matter_code="D17")


def test_bare_one_is_an_ack_without_short_number():
    assert parse("1") == Intent(IntentKind.ACKNOWLEDGE)


@pytest.mark.parametrize("text", ["2", "0", "11", "3号", "1 2", "1 你好"])
def test_bare_numbers_other_than_one_are_unknown(text):
    assert parse(text) == ParseError("unknown", normalize(text))


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1 收到", 1),
        ("2、收到", 2),
        ("3号 收到", 3),
        ("3号收到", 3),
        ("12收到", 12),
        ("(4) 收到", 4),
    ],
)
def test_short_number_before_a_command(text, number):
    assert parse(text) == Intent(IntentKind.ACKNOWLEDGE, short_number=number)


def test_no_address_leaves_the_choice_to_the_caller():
    got = parse("进展 已到现场")
    assert (got.matter_code, got.short_number) == (None, None)


def test_unit_code_after_command_needs_a_separator():
    assert parse("进展 D17 已完成").matter_code == "D17"
    # "A3段" is the start of the report, not a code.
    assert parse("进展 A3段已完工") == Intent(IntentKind.PROGRESS, text="A3段已完工")


# --- acknowledge (R3, R5, R37) ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "收到",
        "已收到",
        "好的",
        "知道了",
        "明白",
        "OK",
        "ok",
        "Ok",
        "1",
        "收到了",
        "已收到！",
        "好的收到",
        "ok收到",
        "收到。谢谢",
        "好的谢谢",
        "收悉",
        "已阅",
    ],
)
def test_acknowledge_words(text):
    assert parse(text) == Intent(IntentKind.ACKNOWLEDGE)


@pytest.mark.parametrize("text", ["好久不见", "明白人都懂", "了解情况后再报", "okk", "1 2"])
def test_weak_ack_words_need_a_boundary(text):
    assert isinstance(parse(text), ParseError)


def test_r5_acknowledge_sentence_keeps_the_arrangement():
    got = parse("D17 收到此项任务，经处室负责人批示，已安排张三处理解决。")
    assert got == Intent(
        IntentKind.ACKNOWLEDGE, matter_code="D17", text="经处室负责人批示,已安排张三处理解决"
    )


def test_acknowledge_keeps_informative_text_and_drops_pleasantries():
    assert parse("收到，马上安排").text == "马上安排"
    assert parse("收到，谢谢，辛苦了！").text == ""


def test_bulk_acknowledge_never_with_a_code():
    assert parse("全部收到") == Intent(IntentKind.ACKNOWLEDGE_ALL)
    assert parse("D17 全部收到") == ParseError("code_with_bulk", "D17")
    assert parse("2 全部收到") == ParseError("code_with_bulk", "2")
    assert parse("全部收到 D17") == ParseError("code_with_bulk", "D17")


# --- progress (R7, R15) -------------------------------------------------------------------


@pytest.mark.parametrize("word", ["进展", "进度", "反馈", "汇报", "进展情况", "本周进展"])
def test_r7_progress_words(word):
    assert parse(f"D17 {word}：已约谈业主") == Intent(
        IntentKind.PROGRESS, matter_code="D17", text="已约谈业主"
    )


def test_r7_progress_requires_text():
    assert parse("D17 进展") == ParseError("missing_text", "进展")
    assert parse("D17 进展：谢谢") == ParseError("missing_text", "进展")


def test_r15_body_is_trimmed_and_signature_stripped():
    got = parse("D17 进展：  已完成排查，下一步组织施工。——水务局李一")
    assert got.text == "已完成排查,下一步组织施工"


# --- extension (R17) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "deadline"),
    [
        ("2026-12-31", date(2026, 12, 31)),
        ("2026/12/31", date(2026, 12, 31)),
        ("2026.12.31", date(2026, 12, 31)),
        ("2026年12月31日", date(2026, 12, 31)),
        ("12月31日", date(2026, 12, 31)),
        ("12月31号", date(2026, 12, 31)),
        ("12-31", date(2026, 12, 31)),
        ("12.31", date(2026, 12, 31)),
        ("12/31", date(2026, 12, 31)),
        ("月底", date(2026, 11, 30)),
        ("下月底", date(2026, 12, 31)),
        ("本周五", date(2026, 11, 27)),
        ("周五", date(2026, 11, 27)),
        ("下周五", date(2026, 12, 4)),
        ("下星期五", date(2026, 12, 4)),
        ("下礼拜五", date(2026, 12, 4)),
        ("10天后", date(2026, 12, 3)),
        ("2个月后", date(2027, 1, 23)),
    ],
)
def test_r17_extension_date_forms(fragment, deadline):
    assert parse(f"D17 延期 {fragment} 设备未到货") == Intent(
        IntentKind.EXTENSION, matter_code="D17", text="设备未到货", new_deadline=deadline
    )


@pytest.mark.parametrize(
    "position", ["{d} 理由:设备未到货", "理由:设备未到货 {d}", "理由:{d}设备未到货"]
)
def test_r17_date_anywhere_in_the_body(position):
    got = parse("D17 延期 " + position.format(d="12月31日"))
    assert got.new_deadline == date(2026, 12, 31)
    assert "12月31日" not in got.text and "设备未到货" in got.text


def test_r17_extension_requires_a_date():
    assert parse("D17 延期 设备未到货") == ParseError("missing_date", "延期")


def test_r17_extension_requires_a_reason():
    assert parse("D17 延期 12月31日") == ParseError("missing_text", "延期")


def test_r17_extension_refuses_impossible_dates():
    assert parse("D17 延期 2月30日 设备未到货") == ParseError("bad_date", "2月30日")


def test_r17_extension_refuses_past_dates():
    assert parse("D17 延期 2026-11-22 设备未到货") == ParseError("past_date", "2026-11-22")
    assert parse("D17 延期 2026-11-23 设备未到货").new_deadline == date(2026, 11, 23)


def test_r17_yearless_date_a_quarter_behind_today_means_next_year():
    assert parse("D17 延期 1月20日 设备未到货").new_deadline == date(2027, 1, 20)


def test_r17_yearless_date_just_behind_today_is_asked_back():
    assert parse("D17 延期 11月20日 设备未到货") == ParseError("ambiguous_date", "11月20日")


# --- completion (R8, R27) -----------------------------------------------------------------


@pytest.mark.parametrize("word", ["办结", "申请办结", "已完成", "完成"])
def test_r27_completion_words(word):
    got = parse(f"D17 {word}：整改到位，群众满意")
    assert got == Intent(IntentKind.COMPLETION, matter_code="D17", text="整改到位,群众满意")


@pytest.mark.parametrize("text", ["D17 办结", "D17 申请办结", "D17 已完成", "D17 完成了", "办结。"])
def test_r27_completion_requires_summary(text):
    assert parse(text).code == "missing_text"


def test_r27_completion_verb_stays_in_a_sentence():
    assert parse("D17 已完成整改").text == "已完成整改"


def test_r27_command_word_at_the_start_decides():
    assert parse("D17 进展 已完成排查").kind is IntentKind.PROGRESS
    assert parse("D17 已完成排查").kind is IntentKind.COMPLETION


# --- list / help --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["列表", "查询", "/list", "/list@dubanbot", "LIST"])
def test_list(text):
    assert parse(text) == Intent(IntentKind.LIST)


@pytest.mark.parametrize("text", ["帮助", "?", "？", "/help", "/help@dubanbot", "HELP"])
def test_help(text):
    assert parse(text) == Intent(IntentKind.HELP)


def test_help_word_must_stand_alone():
    assert parse("帮助我们协调资金") == ParseError("unknown", "帮助我们协调资金")


# --- supervisor commands (R16, R29) -------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["/approve D17", "/approve@dubanbot D17", "同意 D17", "同意D17", "批准 d17", "D17 同意"]
)
def test_approve(text):
    assert parse(text) == Intent(IntentKind.APPROVE, matter_code="D17")


@pytest.mark.parametrize("text", ["/approve", "同意", "批准", "2 同意", "/return 材料不全"])
def test_supervisor_commands_need_a_code(text):
    assert parse(text).code == "missing_code"


@pytest.mark.parametrize("text", ["同意 D17 D18", "D17 同意 D18", "退回 D17,D18 材料不全"])
def test_supervisor_commands_act_on_one_matter(text):
    assert parse(text) == ParseError("multiple_codes", "D18")


def test_r16_return_requires_code_and_reason():
    assert parse("/return D17 材料不全") == Intent(IntentKind.RETURN, "D17", text="材料不全")
    assert parse("退回 D17 理由：缺少照片") == Intent(
        IntentKind.RETURN, "D17", text="理由:缺少照片"
    )
    assert parse("退回 D17") == ParseError("missing_text", "退回")
    assert parse("退回") == ParseError("missing_code", "退回")


@pytest.mark.parametrize(
    ("word", "grade"),
    [
        ("优秀", "优秀"),
        ("良好", "良好"),
        ("合格", "合格"),
        ("不合格", "不合格"),
        ("excellent", "优秀"),
        ("Good", "良好"),
        ("PASS", "合格"),
        ("fail", "不合格"),
    ],
)
def test_r29_grades(word, grade):
    assert parse(f"/grade D17 {word}") == Intent(IntentKind.GRADE, "D17", grade=grade)
    assert parse(f"评定 D17 {word}") == Intent(IntentKind.GRADE, "D17", grade=grade)


@pytest.mark.parametrize(
    ("text", "detail"),
    [("/grade D17 优", "优"), ("评定 D17 良", "良"), ("/grade D17", ""), ("/grade D17 ok", "ok")],
)
def test_r29_anything_else_is_a_bad_grade(text, detail):
    assert parse(text) == ParseError("bad_grade", detail)


# --- refusals (R36) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["你好", "在吗", "谢谢", "嗯", "D17", "D--17 收到", "asdf", "延", "2026-12-31 延期"]
)
def test_r36_unparseable_gets_error_code(text):
    got = parse(text)
    assert isinstance(got, ParseError) and got.code == "unknown"
    assert got.detail == normalize(text)[:20]


def test_r36_unknown_detail_is_capped_at_20_chars():
    assert parse("这" * 50) == ParseError("unknown", "这" * 20)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "😀😀", "。。", "\u200b", "（李一）"])
def test_r36_empty(text):
    assert parse(text) == ParseError("empty")


# --- issue 9 part 1: never a wrong action ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["D17 办不完", "D17 暂时无法办结", "D17 没能完成", "D17 完成了大半", "D17 完成进度七成",
     "D17 完成情况如下:一是已排查", "D17 还没办结", "D17 未完成", "D17 不能按期完成"],
)  # fmt: skip
def test_r27_not_done_in_completion_words_is_a_progress_report(text):
    got = parse(text)
    assert got == Intent(IntentKind.PROGRESS, matter_code="D17", text=text[4:],
                         reading="not_completion")  # fmt: skip


def test_r17_not_done_with_an_extension_request_is_the_extension():
    got = parse("D17 不能按期完成,申请延期至12月31日,原因:资金未到位")
    assert got.kind is IntentKind.EXTENSION and got.new_deadline == date(2026, 12, 31)


@pytest.mark.parametrize("text", ["D17 办结 还有两户未签字", "D17 办结了吗", "D17 申请办结 未完成"])
def test_r27_explicit_completion_that_says_otherwise_is_asked_back(text):
    assert parse(text).code == "completion_unclear"


def test_r15_receipt_with_a_report_returns_both():
    assert parse("收到。进展：已走访三户") == Intent(IntentKind.ACKNOWLEDGE, report="已走访三户")


def test_r15_receipt_without_a_report_word_keeps_its_text():
    assert parse("收到,已走访三户") == Intent(IntentKind.ACKNOWLEDGE, text="已走访三户")


@pytest.mark.parametrize(
    ("fragment", "code"),
    [("下月", "ambiguous_date"), ("12月中旬", "ambiguous_date"), ("31号", "ambiguous_date"),
     ("11月20日", "ambiguous_date"), ("腊月二十", "lunar_date"), ("正月十五", "lunar_date")],
)  # fmt: skip
def test_r17_an_ambiguous_date_is_asked_back(fragment, code):
    assert parse(f"D17 延期 {fragment} 资金未到位") == ParseError(code, fragment)


@pytest.mark.parametrize(
    ("fragment", "deadline"),
    [("十一月底", date(2026, 11, 30)), ("元月十号", date(2027, 1, 10)),
     ("下个月20号", date(2026, 12, 20)), ("15号", date(2026, 12, 15)),
     ("春节前", date(2027, 2, 5)), ("1.15", date(2027, 1, 15))],
)  # fmt: skip
def test_r17_chinese_numerals_and_days_of_the_month(fragment, deadline):
    assert parse(f"D17 延期 {fragment} 资金未到位").new_deadline == deadline


@pytest.mark.parametrize("text", ["D 2 收到", "D-2 收到", "d2收到", "Ｄ２收到", "王主任好，D2收到",
                                  "哦哦 D2 收到", "好嘞 D2收到", "D2 收悉", "D2 已阅"])  # fmt: skip
def test_r36_forms_people_type(text):
    assert parse(text) == Intent(IntentKind.ACKNOWLEDGE, matter_code="D2")


@pytest.mark.parametrize("text", ["2号事项收到", "第2项 收到", "第二项收到", "二号 收到"])
def test_r36_short_number_forms(text):
    assert parse(text) == Intent(IntentKind.ACKNOWLEDGE, short_number=2)


def test_r36_traditional_characters_are_read():
    got = parse("D17 延長 12月31日 設備未到貨")
    assert got.kind is IntentKind.EXTENSION and got.text == "设备未到货"


def test_r36_an_input_slip_is_asked_with_what_it_would_apply():
    assert parse("D2 手到") == Question(
        "did_you_mean", Intent(IntentKind.ACKNOWLEDGE, matter_code="D2"), "D2 收到"
    )


@pytest.mark.parametrize("text", ["是", "是的", "对", "确认"])
def test_r36_yes_is_a_confirmation_of_nothing_in_particular(text):
    assert parse(text) == Intent(IntentKind.CONFIRM)


@pytest.mark.parametrize("text", ["D17 同意不了", "同意D17吗", "D17 同意?暂缓", "不同意 D17"])
def test_r30_a_negated_or_asked_approval_is_no_approval(text):
    assert not isinstance(parse(text), Intent)


@pytest.mark.parametrize("text", ["D17 服务对象同意（不同意）", "D17 服务对象同意 已签字（否）"])
def test_r28_a_consent_that_denies_agreement_is_taken_back(text):
    result = parse_reply(text, now=NOW)
    assert isinstance(result, ParseError) and result.code == "taken_back", result
