"""The reply parser shared by every channel (回复解析).

``parse_reply`` turns a hurried SMS or chat reply into an :class:`Intent`, or into a
:class:`ParseError` precise enough for the answer template (R36: every inbound reply is
answered, also when it cannot be understood). It is pure: no database, no I/O, and it
never raises on any text.

Grammar, on the normalised text (:func:`replies.normalize.normalize`)::

    reply    := [address sep*] command [code] body
    address  := code | short-number
    code     := letters{1,3} digits{1,6}, optionally in brackets    "D17", "【d17】"
    short-number := digits{1,3} ["号"]                                "2、", "3号"

The command word at the start decides the kind ("进展 已完成排查" is progress, not
completion). Unit commands may also name the code right after the command word when a
separator follows it ("收到 D17"); supervisor commands must name it ("同意D17").

The parser never takes a wrong action: every result is the command the person meant, a
:class:`Question` (asked back, applied only after "是") or a :class:`ParseError`:

- greetings and fillers in front are skipped ("王主任好，D2收到", "哦哦 收到");
- completion words with a negation, a part, a plan or a question are no completion
  (R8): "完成了大半" is a progress report, "不能按期完成，申请延期至…" an extension,
  "办结 还有两户未签字" and "办结了吗" are asked back (``completion_unclear``);
- a receipt carrying a report ("收到。进展：已走访三户") returns both (``Intent.report``);
- a date naming no single day (下月, 腊月二十, 31号 in November) is asked back;
- a common input-method slip ("D2 手到") becomes a Question proposing "D2 收到".
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum, StrEnum
from zoneinfo import ZoneInfo

from replies.dates import DateMatch, find_dates
from replies.dates import cn_int as _cn_int
from replies.normalize import normalize
from replies.not_done import (
    AGREEMENT_DENIED,
    ASKING,
    EXTENSION_DENIED,
    EXTENSION_WORD,
    HEADING_WORD,
    NOT_AGREED,
    NOT_DONE,
    NOT_DONE_AFTER_NUMBER,
    NOT_DONE_OR_HEADING,
    NOT_DONE_START,
    RECEIPT_DENIED,
)

__all__ = [
    "ERROR_CODES",
    "MAX_CHARS",
    "QUESTION_CODES",
    "Intent",
    "IntentKind",
    "ParseError",
    "Parsed",
    "Question",
    "parse_reply",
]

MAX_CHARS = 2000
"""Only this many leading characters of a reply are considered (bounds the work)."""

_SHANGHAI = ZoneInfo("Asia/Shanghai")


class IntentKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ACKNOWLEDGE_ALL = "acknowledge_all"
    PROGRESS = "progress"
    EXTENSION = "extension"
    COMPLETION = "completion"
    CONSENT = "consent"  # 服务对象同意 / 不同意 (R28)
    LIST = "list"
    HELP = "help"
    APPROVE = "approve"
    RETURN = "return"
    GRADE = "grade"
    CONFIRM = "confirm"  # "是": apply the interpretation the last answer asked about
    VIEW = "view"  # 查看 D17 / "/matter D17": the matter's state, nodes and latest records


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    matter_code: str | None = None  # normalised: upper-case letters + digits, e.g. "D17"
    short_number: int | None = None  # "2 收到" -> 2 (the person's short number for a matter)
    text: str = ""  # body: report / summary / reason, signature stripped, trimmed
    new_deadline: date | None = None  # extension only
    grade: str | None = None  # "优秀" | "良好" | "合格" | "不合格"
    agreed: bool | None = None  # consent only: did the service object agree (R28)
    report: str = ""  # acknowledge only: a progress report sent with the receipt (R15)
    reading: str = ""  # "not_completion": completion words read as a progress report


@dataclass(frozen=True)
class Question:
    """A reply that probably means ``proposal`` but is asked back, never applied: the
    person confirms with "是" (IntentKind.CONFIRM) or sends the reply again."""

    code: str  # a key of QUESTION_CODES
    proposal: Intent
    detail: str  # the reply as it would read corrected, for the answer: "D2 收到"


@dataclass(frozen=True)
class ParseError:
    code: str  # a key of ERROR_CODES
    detail: str = ""  # the offending fragment, for the answer template


Parsed = Intent | Question | ParseError

QUESTION_CODES: dict[str, str] = {
    "did_you_mean": "A common input-method slip (手到 for 收到); detail is the corrected reply.",
}

ERROR_CODES: dict[str, str] = {
    "empty": "The reply is empty or only whitespace, punctuation, emoji or a signature.",
    "unknown": "No command word was recognised; detail is the first 20 characters.",
    "missing_text": "The command needs a body (report, summary, reason) but none was given.",
    "missing_date": "An extension request (R17) names no new deadline.",
    "bad_date": "The extension date names no calendar day (e.g. 2月30日); detail is the date.",
    "past_date": "The extension date is before the day the reply was received.",
    "missing_code": "A supervisor command (approve, return, grade) names no matter code.",
    "bad_grade": "The grade is not 优秀/良好/合格/不合格 (excellent/good/pass/fail).",
    "code_with_bulk": "全部收到 (acknowledge all) was sent with a matter code or short number.",
    "multiple_codes": "A supervisor command names more than one matter; detail is the second.",
    "ambiguous_date": "The date names no single day (下月, 12月中旬, 31号 in November, a day just past); detail is the date.",
    "lunar_date": "The date is a lunar one (腊月二十, 正月十五), asked back as a Gregorian day; detail is the date.",
    "completion_unclear": "Completion words with a negation, a part or a question (办结 … 未完成, 能办结吗); detail is the phrase.",
    "taken_back": "A receipt, approval, consent or extension request that denies itself later on (收到？没收到啊, 同意D17延期【不同意】, 申请延期…不需要延期了); detail is the denial.",
}


def parse_reply(text: str, *, now: datetime, tz: ZoneInfo = _SHANGHAI) -> Parsed:
    """Parse one reply received at ``now``; relative dates are read in ``tz``.

    Raises ValueError only for a naive ``now`` (a caller bug, not a bad reply).
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    s = normalize(text[:MAX_CHARS])
    if not s:
        return ParseError("empty")
    if s == "?":
        return Intent(IntentKind.HELP)
    return _parse(s, now.astimezone(tz).date())


# --- lexical pieces -------------------------------------------------------------------

# Characters that separate an address, a command word and a body.
_SEP_CHARS = " :;,.、。!?~|/\\-—_\"'"
_SEP = f"[{re.escape(_SEP_CHARS)}]"

# A code may be typed split by a space or a dash ("D 2", "D-2"); "ok 2" stays no code.
_CODE = r"[\[(]?(?!(?i:ok)[ -])(?P<code>[A-Za-z]{1,3}(?:[ -](?=[0-9]))?[0-9]{1,6})(?![0-9])[\])]?"
_CODE_ADDRESS = re.compile(rf"{_CODE}{_SEP}*")
_CODE_TOKEN = re.compile(_CODE)
_CN_SMALL = r"(?:[二三四五六七八九]?十[一二三四五六七八九]?|[一二三四五六七八九])"
# Short numbers: "2", "2号", "(2)", "第2项", "第二项", "2号事项", "二号". A bare "2项" is
# no address ("3项已完成" counts items), nor a Chinese numeral without 号 or 第.
_NUMBER_ADDRESS = re.compile(
    rf"(?:第 ?(?P<nth>[0-9]{{1,3}}|{_CN_SMALL}) ?(?:号|项|件)?"
    rf"|[\[(]?(?P<number>[0-9]{{1,3}})(?![0-9])[\])]? ?号?"
    rf"|(?P<cn>{_CN_SMALL})号)"
    rf"(?: ?(?:事项|任务))?{_SEP}*"
)

# What people put before the command: interjections ("哦哦 收到"), a weak ack ("好嘞收到")
# and a greeting or the addressee ("王主任好，D2收到", "您好！").
_TITLES = (
    "主任|科长|局长|处长|领导|老师|同志|书记|部长|经理|股长|站长|所长|主席|组长|队长|秘书"
    "|县长|区长|镇长|市长"
)
# A greeting ends with 好 or a separator: "王局长同意D17" reports someone else's decision
# and is no greeting before "同意D17".
_LEAD_ITEM = re.compile(
    rf"(?:[哦噢喔嗯额呃啊哈唉哎诶喂恩]+|好的|好滴|好嘞|好哒|好|ok(?:ay)?|是的|对的){_SEP}*"
    rf"|(?:[\u4e00-\u9fff]{{1,4}}(?:{_TITLES})|各位领导|领导|各位|大家|您|你)们?"
    rf"(?:[您你]?好{_SEP}*|{_SEP}+)",
    re.IGNORECASE,
)

# Words that only acknowledge or thank; a body made of these carries no information.
_ACK_WORDS = r"已?收到|收悉|知悉|已阅|好的|好|ok(?:ay)?|明白|知道|了解"
_PARTICLES = r"[了啦的哈呢吧啊呀哦噢喔嗯滴嘞哒]"
_THANKS = r"谢谢|多谢|感谢|谢了|辛苦|thanks|thankyou|thx"
_FILLER = re.compile(rf"(?:{_ACK_WORDS}|{_THANKS}|一下|{_PARTICLES})*", re.IGNORECASE)
# What may follow a weak ack word: "好的收到", "好的谢谢", "好啊" — but not "好久不见".
_WEAK_FOLLOWER = re.compile(rf"{_ACK_WORDS}|{_THANKS}|{_PARTICLES}", re.IGNORECASE)

_NO_SUMMARY = re.compile(r"无|没有|暂无|略|同上|空")
# A clause that only denies ("已办结，还没有", "办结 [未]"): the reply takes itself back (R27).
_BARE_DENIAL = re.compile(r"(?:还|仍|尚|都|也)?(?:没有?|未|不是?|否)(?:呢|啊|哦|的)?")
_CLAUSES = re.compile(f"[{re.escape(_SEP_CHARS)}()\\[\\]]")  # a bracket ends a clause too
# "进展稍后报" promises a report; it is none (no node may be satisfied by it).
_DEFERRED = re.compile(r"(?:稍后|随后|晚些|晚点|另行|改天|择期|过后)(?:再)?")
# A receipt that carries a report: "收到。进展：已走访三户" records both (R15).
_REPORT_IN_ACK = re.compile(
    rf"(?:^|(?<=[{re.escape(_SEP_CHARS)}]))(?:目前|当前|本周|今日|今天)?(?:工作)?"
    rf"(?:(?:进展|进度)(?:情况)?(?:汇报|反馈)?|(?:情况)?汇报|反馈)(?:如下)?{_SEP}*"
)

# Common input-method slips and untranslated pinyin, asked back, never applied (R36).
_SLIPS = {
    **dict.fromkeys(("手到", "受到", "首到", "收道", "收倒", "熟到", "售到", "守到"), "收到"),
    **dict.fromkeys(("shoudao", "shou dao"), "收到"),
    **dict.fromkeys(("近展", "进站", "尽展", "jinzhan", "jin zhan"), "进展"),
    **dict.fromkeys(("沿期", "延其", "严期", "眼期", "yanqi", "yan qi"), "延期"),
    **dict.fromkeys(("办接", "半结", "班结", "伴结", "banjie", "ban jie"), "办结"),
}
_SLIP = re.compile("|".join(sorted(_SLIPS, key=len, reverse=True)), re.IGNORECASE)

_GRADE = re.compile(
    r"(?:评为|为)? ?(?P<grade>不合格|合格|优秀|良好|excellent|good|pass|fail)(?![A-Za-z])",
    re.IGNORECASE,
)
_ENGLISH_GRADES = {"excellent": "优秀", "good": "良好", "pass": "合格", "fail": "不合格"}


class _Follow(Enum):
    """What may follow a command word for the word to count."""

    ANY = "any"  # 收到, 进展, 延期 …: anything
    WEAK = "weak"  # 好, ok, 明白: only a separator, ack word, thanks or particle
    ALONE = "alone"  # "1": only filler ("好久不见" is no ack, "1 2" no ack either)
    VERB = "verb"  # 已完成: anything; without a separator the verb stays in the text


@dataclass(frozen=True)
class _Word:
    pattern: re.Pattern[str]
    kind: IntentKind
    follow: _Follow = _Follow.ANY


def _word(pattern: str, kind: IntentKind, follow: _Follow = _Follow.ANY) -> _Word:
    return _Word(re.compile(pattern, re.IGNORECASE), kind, follow)


def _slash(name: str) -> str:
    """An English command, as typed with or without "/" (normalize strips the slash),
    optionally with a Telegram bot suffix: /approve@dubanbot."""
    return rf"{name}(?:@[A-Za-z0-9_]+)?(?![A-Za-z0-9_])"


_K = IntentKind
# Tried in order; the first word that matches at the start of the rest wins, so longer
# words come before their prefixes (全部收到 before 收到, 已完成 before 完成).
_WORDS = (
    _word(r"已?(?:全部|全都|都|均)已?收到", _K.ACKNOWLEDGE_ALL),
    # The R5/Q8 sentence "收到此项任务，经处室负责人批示，已安排XXX处理解决": the
    # arrangement after the opening words is kept as text.
    _word(r"已?收到(?:此项|此|该项|该)任务", _K.ACKNOWLEDGE),
    _word(
        r"确认收到|已?收到|已?收悉|已?知悉|已?知晓|已?收阅|阅悉|已阅|知道了|明白了", _K.ACKNOWLEDGE
    ),
    _word(rf"好的|好滴|好嘞|好哒|好|明白|了解|{_slash('ok(?:ay)?')}", _K.ACKNOWLEDGE, _Follow.WEAK),
    _word(r"1", _K.ACKNOWLEDGE, _Follow.ALONE),
    _word(
        r"(?:本周|本月)?(?:工作)?(?:进展|进度)(?:情况)?(?:汇报|反馈)?|(?:情况)?(?:汇报|说明)|反馈|周报|月报",
        _K.PROGRESS,
    ),
    _word(r"(?:申请)?(?:延期|延长(?:期限|时限)?)(?:申请|办结|办理)?", _K.EXTENSION),
    _word(r"服务对象(?:已|均)?(?:不同意|未同意|拒绝|同意|认可)", _K.CONSENT),
    _word(r"(?:申请)?(?:办结|完结)(?:申请)?|已办结", _K.COMPLETION),
    _word(r"(?:已经|已全部|已)?完成", _K.COMPLETION, _Follow.VERB),
    _word(rf"(?:任务|事项)?列表|查询|{_slash('list')}", _K.LIST),
    _word(rf"帮助|{_slash('help')}", _K.HELP),
    # What supervisors' messages tell them to reply ("回复“/matter D17”查看全过程").
    _word(rf"查看|{_slash('matter')}", _K.VIEW),
    _word(rf"同意|批准|{_slash('approve')}", _K.APPROVE),
    _word(rf"退回|驳回|{_slash('return')}", _K.RETURN),
    _word(rf"评定|评级|{_slash('grade')}", _K.GRADE),
    _word(r"是的?|是滴|对的?|确认|确定|没错", _K.CONFIRM, _Follow.ALONE),
)


_EXTENSION = next(word for word in _WORDS if word.kind is _K.EXTENSION)

# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    """A reply split into address, command word and body."""

    source: str  # the whole normalised reply
    code: str | None
    number: int | None
    word: _Word
    word_text: str  # the command word as written
    body: str


def _parse(s: str, today: date) -> Parsed:
    result = _read(s, today)
    if _is_unknown(result):
        return _slip(s, today) or result
    return result


def _read(s: str, today: date) -> Intent | ParseError:
    """Parse after the greetings or fillers in front: the most of them stripped that
    still leaves a command ("好的好的，D17 延期 …" is the extension, not "好的")."""
    starts = [0]
    while (lead := _LEAD_ITEM.match(s, starts[-1])) and starts[-1] < lead.end() < len(s):
        starts.append(lead.end())
    for start in reversed(starts[1:]):
        result = _read_command(normalize(s[start:]), today)  # "好的，【水务局】D17 收到"
        if not _is_unknown(result):
            return result
    return _read_command(s, today)


def _read_command(s: str, today: date) -> Intent | ParseError:
    reply = _split(s)
    if reply is None:
        return _not_done_report(s, today) or _unknown(s)
    return _HANDLERS[reply.word.kind](reply, today)


def _is_unknown(result: Parsed) -> bool:
    return isinstance(result, ParseError) and result.code == "unknown"


def _split(s: str) -> _Reply | None:
    """Find the address and the command word; None when no command word is found."""
    m = _CODE_ADDRESS.match(s)
    if m:
        return _command(s, s[m.end() :], code=_code_of(m))
    m = _NUMBER_ADDRESS.match(s)
    number = _number_of(m) if m else 0
    if m and number > 0:
        # A leading number is a short number only when a command follows it;
        # otherwise the number is part of the reply itself (a bare "1" is an ack).
        reply = _command(s, s[m.end() :], number=number)
        if reply:
            return reply
    return _command(s, s)


def _code_of(m: re.Match[str]) -> str:
    return m["code"].upper().replace(" ", "").replace("-", "")


def _number_of(m: re.Match[str]) -> int:
    if m["number"]:
        return int(m["number"])
    written = m["nth"] or m["cn"]
    return int(written) if written.isdigit() else _cn_int(written)


def _command(
    source: str, rest: str, *, code: str | None = None, number: int | None = None
) -> _Reply | None:
    for word in _WORDS:
        m = word.pattern.match(rest)
        if m and _follows(word.follow, rest[m.end() :]):
            return _Reply(source, code, number, word, m.group(), rest[m.end() :])
    return None


def _follows(follow: _Follow, body: str) -> bool:
    if follow is _Follow.WEAK:
        return not body or body[0] in _SEP_CHARS or bool(_WEAK_FOLLOWER.match(body))
    if follow is _Follow.ALONE:
        return _is_filler(body)
    return True


def _is_filler(body: str) -> bool:
    """True when the body only acknowledges, thanks or decorates (emoji, punctuation)."""
    core = "".join(ch for ch in body if unicodedata.category(ch)[0] not in "PSZ")
    return _FILLER.fullmatch(core) is not None


def _clean(text: str) -> str:
    return text.strip(_SEP_CHARS)


def _body_text(body: str) -> str:
    """The body as Intent.text: trimmed, and empty when it is only filler."""
    return "" if _is_filler(body) else _clean(body)


def _matter_code(reply: _Reply, *, strict: bool) -> tuple[str | None, str]:
    """The matter code and the body after it.

    Without an address, the code may come right after the command word. For unit
    commands (strict) it must then end at a separator or bracket, so that a body such
    as "A3段已完工" is not mistaken for a code; supervisor commands accept "同意D17".
    """
    if reply.code:
        return reply.code, reply.body
    found = _code_at_start(reply.body, strict=strict)
    return found if found else (None, reply.body)


def _code_at_start(body: str, *, strict: bool) -> tuple[str, str] | None:
    """A code token at the start of ``body`` (after separators) and the text after it."""
    body = body.lstrip(_SEP_CHARS)
    m = _CODE_TOKEN.match(body)
    if m is None:
        return None
    after = body[m.end() :]
    delimited = not after or after[0] in _SEP_CHARS or m.group().endswith(("]", ")"))
    if strict and not delimited:
        return None
    return _code_of(m), after


def _supervised_matter(reply: _Reply) -> tuple[str, str] | ParseError:
    """The one matter a supervisor command acts on, and the body after its code.

    "同意 D17 D18" is refused rather than approving D17 with "D18" as a comment.
    """
    code, body = _matter_code(reply, strict=False)
    if code is None:
        return ParseError("missing_code", reply.word_text)
    second = _code_at_start(body, strict=True)
    if second:
        return ParseError("multiple_codes", second[0])
    return code, body


# --- one handler per kind --------------------------------------------------------------


def _unknown(s: str) -> ParseError:
    return ParseError("unknown", s[:20])


def _acknowledge(reply: _Reply, today: date) -> Parsed:
    """A receipt; a progress report inside it ("收到。进展：…") is kept as ``report``."""
    code, body = _matter_code(reply, strict=True)
    if denial := _denial(body, RECEIPT_DENIED):  # the 4-hour resend still goes (R37)
        return ParseError("taken_back", denial)
    m = _REPORT_IN_ACK.search(body)
    if m and not _is_filler(body[m.end() :]) and not _DEFERRED.match(body[m.end() :]):
        report = _clean(body[m.end() :])
        return Intent(_K.ACKNOWLEDGE, code, reply.number, _body_text(body[: m.start()]),
                      report=report)  # fmt: skip
    return Intent(_K.ACKNOWLEDGE, code, reply.number, _body_text(body))


def _acknowledge_all(reply: _Reply, today: date) -> Parsed:
    """全部收到 acknowledges every open matter; a code or number contradicts that."""
    code, body = _matter_code(reply, strict=True)
    if code or reply.number is not None:
        return ParseError("code_with_bulk", code or str(reply.number))
    if denial := _denial(body, RECEIPT_DENIED):
        return ParseError("taken_back", denial)
    return Intent(_K.ACKNOWLEDGE_ALL, text=_body_text(body))


def _progress(reply: _Reply, today: date) -> Parsed:
    code, body = _matter_code(reply, strict=True)
    text = _body_text(body)
    if not text or _DEFERRED.match(text):  # "进展 稍后报送" is no report yet
        return ParseError("missing_text", reply.word_text)
    return Intent(_K.PROGRESS, code, reply.number, text)


def _extension(reply: _Reply, today: date) -> Parsed:
    """R17: a new deadline (today or later) and a reason/plan are both required; a date
    that names no single day is asked back, never guessed."""
    code, body = _matter_code(reply, strict=True)
    found = _deadline(body, today)
    if found is None:
        return ParseError("missing_date", reply.word_text)
    if found.ambiguous:
        return ParseError(f"{found.ambiguous}_date".replace("vague", "ambiguous"), found.fragment)
    if found.value is None:
        return ParseError("bad_date", found.fragment)
    if found.value < today:
        return ParseError("past_date", found.fragment)
    text = _body_text(_cut(body, found.start, found.end))
    if not text:
        return ParseError("missing_text", reply.word_text)
    if denial := _denial(text, EXTENSION_DENIED):  # "延期至12月31日，不需要延期了"
        return ParseError("taken_back", denial)
    return Intent(_K.EXTENSION, code, reply.number, text, new_deadline=found.value)


def _deadline(body: str, today: date) -> DateMatch | None:
    """The new deadline among the dates of an extension request. Several different days
    ("资金预计15号到位，月底前完成") are asked back unless one of them is introduced as
    the deadline ("延期至…", "到…") or opens the body."""
    found = find_dates(body, today)
    precise = [d for d in found if d.ambiguous != "vague"]
    if len({(d.value, d.ambiguous) for d in precise}) <= 1:
        return (precise or found or [None])[0]
    chosen = [d for d in precise if d.marked or not _clean(body[: d.start])]
    if len(chosen) == 1:
        return chosen[0]
    fragments = "/".join(d.fragment for d in precise)[:20]
    return DateMatch(precise[0].start, precise[0].end, fragments, None, "vague")


def _denial(body: str, denied: re.Pattern[str]) -> str | None:
    """What in a command's body takes the command back: a denial of it anywhere
    ("同意D17延期【不同意】"), or a clause that only denies ("…，否")."""
    found = denied.search(body)
    return found.group() if found else _bare_denial(body)


def _bare_denial(body: str) -> str | None:
    """A clause of the body that only denies ("…，否", "已整改(未)"), if any."""
    return next((c for c in _CLAUSES.split(body) if _BARE_DENIAL.fullmatch(c)), None)


def _cut(text: str, start: int, end: int) -> str:
    """Remove text[start:end] and the separators around it."""
    before, after = _clean(text[:start]), _clean(text[end:])
    return f"{before} {after}" if before and after else before or after


def _completion(reply: _Reply, today: date) -> Parsed:
    """R27: the completion application needs a summary, and nothing in the reply may say
    the work is not done (R8: an application stops all chasing)."""
    code, body = _matter_code(reply, strict=True)
    verb = reply.word.follow is _Follow.VERB
    heading = HEADING_WORD.match(reply.body)  # "办结情况：…", "办结时间…"
    doubt = ASKING.search(reply.source) or (
        NOT_DONE_OR_HEADING if verb or heading else NOT_DONE
    ).search(reply.source)
    if doubt and (not verb or ASKING.search(reply.source)):
        return ParseError("completion_unclear", doubt.group()[:20])
    if doubt:  # "完成了大半", "已完成排查，剩余两处": a report in completion words
        return _not_done(reply.source, code, reply.number, reply.word_text + body, today)
    text = _body_text(body)
    if not text or _NO_SUMMARY.fullmatch(text):  # "办结 无" names no work done
        return ParseError("missing_text", reply.word_text)
    if _bare_denial(text):
        return ParseError("completion_unclear", text[:20])
    if reply.word.follow is _Follow.VERB and reply.body[:1] not in _SEP_CHARS:
        # "已完成整改" is a sentence; keep it whole rather than a bare "整改".
        text = reply.word_text + text
    return Intent(_K.COMPLETION, code, reply.number, text)


def _not_done_report(s: str, today: date) -> Parsed | None:
    """A reply without a command word that starts by saying the work is not done; None
    when it does not."""
    code, number, rest = _address(s)
    return _not_done(s, code, number, rest, today) if rest else None


def _not_done(source: str, code: str | None, number: int | None, rest: str, today: date) -> Parsed:
    """Work reported as not done: an extension request when it asks for one, a question
    back when it asks, else a progress report."""
    if ASKING.search(rest):
        return ParseError("completion_unclear", _clean(rest)[:20])
    if EXTENSION_WORD.search(rest):
        return _extension(_Reply(source, code, number, _EXTENSION, "延期", rest), today)
    return Intent(_K.PROGRESS, code, number, _clean(rest), reading="not_completion")


def _address(s: str) -> tuple[str | None, int | None, str]:
    """The address of a not-done report and the report; rest "" when it is none."""
    m = _CODE_ADDRESS.match(s)
    if m:
        rest = s[m.end() :]
        return _code_of(m), None, rest if NOT_DONE_START.match(rest) else ""
    m = _NUMBER_ADDRESS.match(s)
    if m and _number_of(m) > 0 and NOT_DONE_AFTER_NUMBER.match(s[m.end() :]):
        return None, _number_of(m), s[m.end() :]
    return None, None, s if NOT_DONE_START.match(s) else ""


def _slip(s: str, today: date) -> Question | None:
    """An unknown reply that reads as a command once a common slip is corrected."""
    corrected = _SLIP.sub(lambda m: _SLIPS[m.group().lower()], s, count=1)
    if corrected == s:
        return None
    proposal = _read(corrected, today)
    if not isinstance(proposal, Intent) or proposal.kind is _K.CONFIRM:
        return None
    return Question("did_you_mean", proposal, corrected[:40])


def _consent(reply: _Reply, today: date) -> Parsed:
    """R28: whether the service object agreed to close the matter, with optional notes."""
    code, body = _matter_code(reply, strict=True)
    agreed = not any(no in reply.word_text for no in ("不", "未", "拒"))
    if NOT_AGREED.match(_clean(body)):  # "服务对象同意吗"
        return _unknown(reply.source)
    if agreed and (denial := _denial(body, AGREEMENT_DENIED)):  # "服务对象同意（不同意）"
        return ParseError("taken_back", denial)
    return Intent(_K.CONSENT, code, reply.number, _body_text(body), agreed=agreed)


def _plain(reply: _Reply, today: date) -> Parsed:
    """列表 / 帮助 / 查看: optionally a code, nothing else ("帮助我们协调…" is no help request)."""
    code, body = _matter_code(reply, strict=True)
    if not _is_filler(body):
        return _unknown(reply.source)
    return Intent(reply.word.kind, code, reply.number)


def _confirm(reply: _Reply, today: date) -> Parsed:
    """ "是": confirms the question just asked; it names no matter of its own."""
    if reply.code or reply.number is not None:
        return _unknown(reply.source)
    return Intent(_K.CONFIRM)


def _approve(reply: _Reply, today: date) -> Parsed:
    """同意 D17; "同意不了", "同意吗", "D17 同意？暂缓" are no approval."""
    matter = _supervised_matter(reply)
    if isinstance(matter, ParseError):
        return matter
    code, body = matter
    if NOT_AGREED.match(reply.body.lstrip(_SEP_CHARS)) or NOT_AGREED.match(_clean(body)):
        return _unknown(reply.source)
    if denial := _denial(body, AGREEMENT_DENIED):
        return ParseError("taken_back", denial)
    return Intent(_K.APPROVE, code, reply.number, _body_text(body))


def _return(reply: _Reply, today: date) -> Parsed:
    """R16: a return needs the reason the unit is told."""
    matter = _supervised_matter(reply)
    if isinstance(matter, ParseError):
        return matter
    code, body = matter
    text = _body_text(body)
    if not text:
        return ParseError("missing_text", reply.word_text)
    return Intent(_K.RETURN, code, reply.number, text)


def _grade(reply: _Reply, today: date) -> Parsed:
    """R29: one of the four grades; English names map to the Chinese ones."""
    matter = _supervised_matter(reply)
    if isinstance(matter, ParseError):
        return matter
    code, body = matter
    body = body.lstrip(_SEP_CHARS)
    m = _GRADE.match(body)
    if m is None:
        return ParseError("bad_grade", body.split(" ", 1)[0][:20])
    grade = _ENGLISH_GRADES.get(m["grade"].lower(), m["grade"])
    return Intent(_K.GRADE, code, reply.number, _body_text(body[m.end() :]), grade=grade)


_HANDLERS: dict[IntentKind, Callable[[_Reply, date], Parsed]] = {
    _K.ACKNOWLEDGE: _acknowledge,
    _K.ACKNOWLEDGE_ALL: _acknowledge_all,
    _K.PROGRESS: _progress,
    _K.EXTENSION: _extension,
    _K.COMPLETION: _completion,
    _K.CONSENT: _consent,
    _K.LIST: _plain,
    _K.HELP: _plain,
    _K.VIEW: _plain,
    _K.APPROVE: _approve,
    _K.RETURN: _return,
    _K.GRADE: _grade,
    _K.CONFIRM: _confirm,
}
